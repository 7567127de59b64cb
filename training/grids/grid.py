"""Run a list of cells (one run each) with resume: finished cells are never recomputed; or run
a grid in rounds (`run_rounds`): more seeds only where the verdict is still open, within a
time budget."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.fit.results import ResultsFile, RunLock, RunRecord, cell_key, data_of
from bioner_mtl.training.grids.executors import Executor, InProcess
from bioner_mtl.training.spec.config import RunConfig
from bioner_mtl.training.spec.presets import check_run

log = logging.getLogger(__name__)


def describe(run: RunConfig) -> str:
    partners = "+".join(run.aux) if run.aux else "single-task"
    return f"{run.main} [{partners}] {run.model} seed {run.seed}"


def run_cells(runs: list[RunConfig], results: ResultsFile, *, progress: bool = True,
              extra: dict | None = None, executor: Executor | None = None) -> list[RunRecord]:
    """Train every cell not yet in `results` with `executor` (default: here, one after
    another); return the records of all `runs`, in order. Each record is appended to
    `results` the moment its cell finishes, whichever executor trained it; `extra` names
    the grid's fields of the record (preset, experiment, group...)."""
    for run in runs:  # every mistake surfaces before hours of training, not in the middle
        check_run(run)
    in_the_way = next((p for p in results.path.parents if p.exists() and not p.is_dir()), None)
    if in_the_way is not None:
        raise InputError(f"{in_the_way}: a file is in the way of the run directory "
                         f"{results.path.parent}; give --out a directory")
    preset = f" ({extra['preset']} preset)" if extra and extra.get("preset") else ""
    cells = {cell_key(run): run for run in runs}  # a baseline's cell can serve many rows
    log.info("%d cells%s into %s", len(cells), preset, results.path.parent)
    check_same_data(results, runs)
    finished = results.finished()
    todo = [run for key, run in cells.items() if key not in finished]
    if len(todo) < len(cells):
        log.info("%d of %d cells already finished in %s (kept, not trained again)",
                 len(cells) - len(todo), len(cells), results.path)
    bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not progress)

    def finish(run: RunConfig, record: RunRecord) -> None:
        record = dataclasses.replace(record, **(extra or {}), cell=cell_key(run),
                                     data=data_of(run))
        results.append(record)
        end = {"patience": "stopped early", "cap": "at the cap"}.get(record.stopped, "")
        if record.improving_at_cap:
            end = "at the cap, still improving"
        devel = "-" if math.isnan(record.devel_f1) else f"{100 * record.devel_f1:.2f}"
        log.info("%s: test F1 %.2f (devel %s, best step %d/%d%s, %.0f s)", describe(run),
                 100 * record.test_f1, devel, record.best_step,
                 record.steps, f", {end}" if end else "", record.wall_seconds)
        bar.update()

    try:
        with RunLock(results.path.parent):  # a second grid on this directory stops here
            (executor or InProcess()).map_cells(todo, finish, progress)
    finally:
        bar.close()
    by_cell = {r.cell: r for r in results.records() if r.cell}
    lost = [run for run in runs if cell_key(run) not in by_cell]
    if lost:  # the file was cut or replaced while the grid ran
        raise InputError(f"{results.path}: the record of {describe(lost[0])} is not there "
                         f"after it finished ({len(lost)} cell(s) missing): was the file "
                         "changed while the grid ran? run the command again with --resume")
    return [by_cell[cell_key(run)] for run in runs]


def check_same_data(results: ResultsFile, runs: list[RunConfig]) -> None:
    """A results file holds one version of each corpus: a run added to it trains on the
    files its records were trained on, else its seeds would pool with theirs (in a
    resumed grid's table, the report, the recommender's gains). A corpus changed since (its
    fingerprint differs, training.fit.results.data_of) is refused, and so is a record of
    one of these corpora written before records held a fingerprint (whether its files
    changed since cannot be told): both are one line naming the record, with the fix."""
    now: dict[str, str] = {}
    for run in runs:
        now.update(data_of(run))
    for line, record in results.numbered():
        corpora = {record.main, *record.aux} & set(now)
        if not corpora:
            continue
        where = f"{results.path}:{line}"
        if record.data is None:
            raise InputError(f"{where}: a record of {record.main} written before records held "
                             "a fingerprint of their corpora's files, so whether they changed "
                             "since cannot be told; run the grid again into a new --out")
        changed = sorted(n for n in corpora if n in record.data and record.data[n] != now[n])
        if changed:
            name = changed[0]
            raise InputError(f"{where}: the files of {name} changed since that run "
                             f"(fingerprint {record.data[name]} then, {now[name]} now); runs "
                             "on today's files would pool with it: restore the files, or "
                             "choose another --out")


# ----- rounds ------------------------------------------------------------------------------
ROUND_START_SECONDS = 10.0  # a round's cost beyond its cells: pool workers starting TensorFlow

Unit = Hashable  # what gets seeds: a (main corpus, partner) pair, the A/A check
Cells = Callable[[Unit, int, int], list[RunConfig]]  # unit, from seed index, to seed index


@dataclass
class Rounds:
    """What run_rounds did: the records of every cell it gave out, the seeds each unit got,
    and why it stopped ("decided", "max-seeds" or "budget", with the minutes the round that
    did not fit would have taken)."""

    records: list[RunRecord]
    seeds: dict[Unit, int]
    rounds: int
    stopped: str
    next_minutes: float | None = None


def round_seconds(cells: int, records: Sequence[RunRecord], workers: int) -> float:
    """About how long `cells` more cells take: the records' mean wall time per cell, cells
    side by side on `workers`, plus the round's start; 0 for no cells."""
    if not cells:
        return 0.0
    seconds = [r.wall_seconds for r in records if r.wall_seconds]
    per_cell = sum(seconds) / len(seconds) if seconds else 0.0
    return math.ceil(cells / max(1, workers)) * per_cell + ROUND_START_SECONDS


def run_rounds(looks: Sequence[int], units: Sequence[Unit], cells: Cells,
               undecided: Callable[[list[RunRecord]], list[Unit]], results: ResultsFile, *,
               budget_seconds: float | None = None, started: float | None = None,
               progress: bool = True, extra: dict | None = None,
               executor: Executor | None = None) -> Rounds:
    """Train a grid in rounds that end at `looks` (seed counts, fixed in advance: a
    training.stats.Plan's). The first round gives every unit its first look's seeds, always.
    Each later round gives the next look's seeds only to the units `undecided(records)` names
    (most promising first, from the records of the cells given out so far), while the
    round's estimated time (round_seconds) fits in what is left of `budget_seconds`, counted
    from `started` (time.monotonic()); a round that does not fit whole is cut to the units
    that do, in that order. `cells(unit, a, b)` are a unit's cells for seed indices a..b-1,
    the reference's included.

    Every cell goes through run_cells, so each finished cell is in `results` at once and a
    resumed grid replays the rounds it had (their cells are finished: they cost nothing and
    the same records make the same decisions) before it trains anything new."""
    started = time.monotonic() if started is None else started
    workers = getattr(executor, "workers", 1) or 1
    by_cell: dict[str, RunRecord] = {}

    def train(runs: list[RunConfig]) -> None:
        records = run_cells(runs, results, progress=progress, extra=extra, executor=executor)
        by_cell.update((cell_key(run), record) for run, record in zip(runs, records))

    seeds = {unit: looks[0] for unit in units}
    train([run for unit in units for run in cells(unit, 0, looks[0])])
    rounds = 1
    while True:
        records = list(by_cell.values())
        pending = [unit for unit in undecided(records) if unit in seeds]
        if not pending:
            return Rounds(records, seeds, rounds, "decided")
        ahead = [(unit, next((n for n in looks if n > seeds[unit]), None)) for unit in pending]
        ahead = [(unit, n) for unit, n in ahead if n is not None]
        if not ahead:
            return Rounds(records, seeds, rounds, "max-seeds")
        finished = results.finished()
        chosen, todo, wanted = [], set(), None
        left = None if budget_seconds is None else \
            budget_seconds - (time.monotonic() - started)
        for unit, n in ahead:
            new = {cell_key(run) for run in cells(unit, seeds[unit], n)} - finished - todo
            cost = round_seconds(len(todo | new), records, workers)
            wanted = cost if wanted is None else wanted
            if left is None or cost <= left:
                chosen.append((unit, n))
                todo |= new
        if not chosen:
            return Rounds(records, seeds, rounds, "budget", wanted / 60)
        log.info("round %d: %d undecided unit(s) to %s seeds, %d new cell(s)", rounds + 1,
                 len(chosen), "/".join(sorted({str(n) for _, n in chosen})), len(todo))
        train([run for unit, n in chosen for run in cells(unit, seeds[unit], n)])
        seeds.update(chosen)
        rounds += 1


def check_plan(results: ResultsFile, tag: str | None, flags: str) -> None:
    """A resumed grid keeps the plan it was started with (its looks and margin: the records
    name it): another plan would look at seeds it already decided on. `flags`: the flags
    that set the plan, for the message."""
    found = sorted({r.experiment for r in results.records()
                    if r.experiment and "sequential" in r.experiment} - {tag})
    if found:
        raise InputError(f"{results.path.parent} was run as '{found[0]}'; this command plans "
                         f"'{tag}'; resume with the flags it was started with ({flags}), or "
                         "choose another --out")
