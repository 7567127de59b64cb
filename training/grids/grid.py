"""Run a list of cells (one run each) with resume: finished cells are never recomputed."""

from __future__ import annotations

import dataclasses
import logging
import math

from tqdm.auto import tqdm

from bioner_mtl.training.fit.results import ResultsFile, RunLock, RunRecord, cell_key
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
    preset = f" ({extra['preset']} preset)" if extra and extra.get("preset") else ""
    log.info("%d runs%s into %s", len(runs), preset, results.path.parent)
    finished = results.finished()
    todo = list({cell_key(run): run for run in runs if cell_key(run) not in finished}.values())
    if len(todo) < len(runs):
        log.info("resume: %d of %d cells already finished in %s", len(runs) - len(todo),
                 len(runs), results.path)
    bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not progress)

    def finish(run: RunConfig, record: RunRecord) -> None:
        record = dataclasses.replace(record, **(extra or {}), cell=cell_key(run))
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
    return [by_cell[cell_key(run)] for run in runs]
