"""The results record of a run, and the files that hold them: written and read only here.

A record is a `RunRecord` (typed, with a format version); a results file is JSON lines, one
record per finished run, appended under a lock. A grid killed at any moment leaves a readable
file (a torn last line is dropped), and a re-run with resume skips every cell whose key is
already there. Which settings make two runs the same cell is decided once, by `identity`:
resume, the grids' summaries and the report all use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import hashlib
import json
import math
import os
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bioner_mtl import __version__
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.spec.config import RunConfig

RECORD_FORMAT = 1  # bump when a field changes meaning; older records are refused, not guessed
# Where and how a run is kept, not what it computes: two runs differing only here are one cell.
NOT_IDENTITY = ("gpus", "save_bundle", "save_encoder", "length_from", "tensorboard")
# Settings added after records were first written: at these values they are left out of the
# identity, so the cells of older records keep their keys (a resume does not train them again).
LATER_DEFAULTS = {"train_on": "train", "select_on": "main"}
# What a train+devel run sets for itself, whatever the devel-selected run it takes its length
# from had: the seed, the length, evaluation, early stopping and selection.
LENGTH_SETTINGS = ("seed", "train_on", "select_on", "devel_limit", "train.epochs",
                   "train.steps", "train.patience", "train.eval_every", "train.min_main_batches")
# What the report puts in a cell's name rather than in its settings (seeds pool inside a cell).
NAMED_SEPARATELY = ("seed", "main", "aux", "model", "train_fraction", "viterbi", "loss_weights")


def versions() -> dict[str, str]:
    """The versions a run was made with: Python, bioner-mtl itself (the code that trained
    and scored it), and the libraries it used. A record keeps them for provenance only:
    they are no part of its cell (`identity`), so a resume after an upgrade keeps its cells,
    and records written before bioner-mtl named itself here read back as they are."""
    names = ("tensorflow", "keras", "keras-hub", "numpy", "gensim", "seqeval", "scikit-learn")
    found = {"python": platform.python_version(), "bioner-mtl": __version__}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _flat(mapping: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and key in ("train", "model_options"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def identity(config: RunConfig | dict) -> dict[str, Any]:
    """The settings that make a run what it is: the resolved configuration, flattened
    ('train.learning_rate'), without those of NOT_IDENTITY and those of LATER_DEFAULTS at
    their default."""
    flat = _flat(config.to_dict() if isinstance(config, RunConfig) else config)
    return {k: v for k, v in flat.items() if k not in NOT_IDENTITY
            and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}


@functools.cache
def corpus_fingerprint(name: str) -> str:
    """A hash of the files of a corpus's three splits (a derived corpus: its parent's; a
    folder of documents: every document), once per corpus per process."""
    from bioner_mtl.embeddings.word2vec import files_fingerprint

    return files_fingerprint([name], ("train", "devel", "test"))


def data_of(run: RunConfig) -> dict[str, str]:
    """The data a run trains and is scored on: corpus -> corpus_fingerprint, for its main
    corpus, partners and pretraining tasks."""
    from bioner_mtl.training.spec.catalogue import get_model

    return {name: corpus_fingerprint(name)
            for name in (*run.tasks, *get_model(run.model).pretrain_tasks)}


def cell_key(config: RunConfig | dict, data: dict[str, str] | None = None) -> str:
    """A run's cell: a hash of its identity and of the data it trains and is scored on
    (`data`; for a RunConfig, its corpora's files as they are now: data_of), so a resume
    never takes a record trained on other files for this cell. A record's config (a dict)
    without `data` keys as cells did before fingerprints."""
    if data is None and isinstance(config, RunConfig):
        data = data_of(config)
    keyed = {**identity(config), **({"data": data} if data else {})}
    text = json.dumps(keyed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_key(config: RunConfig | dict) -> tuple:
    """The identity without what names a cell (corpus, partners, model, seed, fraction,
    decoding; partner loss weights by value only): runs of one grid share it."""
    flat = identity(config)
    weights = flat.get("loss_weights") or {}
    items = [(k, json.dumps(v, sort_keys=True, default=str)) for k, v in flat.items()
             if k not in NAMED_SEPARATELY]
    if weights:
        items.append(("loss_weights", json.dumps(sorted(weights.values()))))
    return tuple(sorted(items))


def cell_kind(config: RunConfig | dict) -> dict[str, str]:
    """A run's kind of cell: its identity without the seed and the corpora (main, partners;
    whether it has partners, and their loss weights by value, stay), each value as JSON. The
    cells of one grid of one model share a few kinds (its baseline's and its partners'),
    whatever seeds and partners a resume adds."""
    flat = identity(config)
    return {**dict(settings_key(config)), "single-task": json.dumps(not flat.get("aux")),
            **{k: json.dumps(flat.get(k), default=str)
               for k in ("model", "train_fraction", "viterbi")}}


def shown_kind_value(value: str | None) -> str:
    """A cell_kind value as a refusal names it ('(unset)': the other kind lacks it)."""
    return "(unset)" if value is None else str(json.loads(value))


@dataclass
class RunRecord:
    """One finished run: what was trained, how it scored, and everything to trace it back."""

    main: str
    aux: list[str]
    model: str
    schedule: str
    seed: int
    train_fraction: float
    decoding: str  # "constrained" (Viterbi with the transitions seen in training) or not
    # the main corpus, strict mention level, under `decoding`; NaN (null in the file) for a
    # train+devel run, whose devel split is training data (its scores and heads hold no devel)
    devel_f1: float
    test_f1: float
    test_token_macro_f1: float  # WANG's metric
    scores: dict  # split -> decoding -> evaluation (strict, default, per type, token)
    heads: dict  # every head's devel / test scores (multi-head models)
    unit_counts: dict  # split -> per-sentence (or document) counts: the bootstrap's input
    train_sentences: dict
    steps: int
    best_step: int
    stopped: str  # "patience" or "cap"
    improving_at_cap: bool
    history: list
    parameters: dict
    wall_seconds: float
    versions: dict
    device: str
    config: dict  # the resolved RunConfig
    model_config: dict
    pretrain: dict | None = None  # task -> devel accuracy, steps, why it stopped (D-MTM POS)
    # TONG's auxiliary heads of the main corpus: head -> split -> accuracy (None: no such head)
    aux_heads: dict | None = None
    steps_per_epoch: int | None = None  # one schedule pass: what --epochs-from divides by
    # What the main corpus got (None in records written before they were kept): its batches
    # trained, and those as passes over its training split (what --steps and --epochs set)
    main_batches: int | None = None
    main_epochs: float | None = None
    # Set by the grid that ran it:
    cell: str | None = None
    data: dict | None = None  # corpus -> fingerprint of its files (data_of); None: older
    preset: str | None = None
    command: str | None = None  # the experiments/ script: pairwise, train, ablation...
    experiment: str | None = None  # aa, data-ablation
    group: str | None = None  # groups.py: the entity class
    leave_out: str | None = None  # entity_ablation.py: the class left out
    role: str | None = None  # entity_ablation.py: "mtl" for the shared encoder's run
    format: int = RECORD_FORMAT

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        if data["devel_f1"] != data["devel_f1"]:  # NaN: no devel score
            data["devel_f1"] = None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunRecord:
        """A record read back; one written by an older bioner-mtl, or damaged, is refused
        with the line it is on."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a results record (a JSON object)")
        if data.get("format") != RECORD_FORMAT:
            found = data.get("format")
            age = ("written by an older bioner-mtl, before records had a format"
                   if found is None else f"of format {found}")
            raise InputError(f"{where}: a results record {age}, and this bioner-mtl reads "
                             f"format {RECORD_FORMAT}; re-run that grid into a new --out")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise InputError(f"{where}: results record lacks {', '.join(missing)}; the file "
                             "was edited by hand? remove that line")
        if data["devel_f1"] is None:  # a train+devel run: no devel score
            data = {**data, "devel_f1": math.nan}
        return cls(**{k: v for k, v in data.items() if k in names})

    def identity(self) -> dict[str, Any]:
        return identity(self.config)

    def settings(self) -> tuple:
        return settings_key(self.config)


def steps_per_epoch(record: RunRecord) -> int:
    """Steps in one epoch of a record's run, as the trainer planned it: one schedule pass over
    the batches of its training sentences (main corpus and partners). Recorded since it was
    added; for an older record, planned again from its training sentences by today's
    schedule."""
    import numpy as np

    from bioner_mtl.training.spec.schedules import get_schedule

    if record.steps_per_epoch:
        return record.steps_per_epoch
    batch = record.config["train"]["batch_size"]
    batches = {n: -(-record.train_sentences[n] // batch) for n in (record.main, *record.aux)}
    return len(get_schedule(record.schedule)(record.main, batches, np.random.default_rng(0)))


def epochs_from(path: str | Path, run: RunConfig) -> tuple[float, str]:
    """The fixed length of a train+devel run, read from the devel-selected runs of the same
    settings (LENGTH_SETTINGS aside) in a results file: the mean over their seeds of best
    step / steps per epoch, in epochs of the main corpus (a merged run's epochs are longer:
    it makes as many passes over its data), rounded to 4 decimals; with a line saying where
    it came from. A file without such a run, or with runs of other settings, is refused."""
    given = Path(path)
    source = given / "results.jsonl" if given.is_dir() else given
    flag = f"--epochs-from {path}"
    if not source.is_file():
        raise InputError(f"{flag}: no such results file; give the results.jsonl (or the run "
                         "directory) of a devel-selected run of this model and corpora")
    named = f"{run.main}" + (f" with {','.join(run.aux)}" if run.aux else "") + \
        f", model {run.model}"

    def compared(config) -> dict[str, Any]:  # as read back from JSON (tuples are lists)
        return json.loads(json.dumps({k: v for k, v in identity(config).items()
                                      if k not in LENGTH_SETTINGS}, default=str))

    ours = compared(run)
    same_names, matches = [], {}
    for line, record in ResultsFile(source).numbered():
        if (record.main, tuple(record.aux), record.model) != (run.main, run.aux, run.model):
            continue
        if record.config.get("train_on", "train") != "train":
            continue  # a fixed-length run chose nothing on devel
        same_names.append((line, record))
        if compared(record.config) == ours:
            cell = tuple(sorted((k, json.dumps(v, sort_keys=True, default=str))
                                for k, v in record.identity().items() if k != "seed"))
            matches.setdefault(cell, {}).setdefault(record.seed, (line, record))
    if not same_names:
        raise InputError(f"{flag}: no devel-selected run of {named} in {source}; give the "
                         "results of experiments/train.py for these corpora and model "
                         "without --train-on")
    if not matches:
        line, record = same_names[0]
        theirs = compared(record.config)
        key = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))[0]
        raise InputError(f"--epochs-from: {source}:{line}: that run of {named} has other "
                         "settings "
                         f"({key}={theirs.get(key, '(unset)')}, this run: "
                         f"{ours.get(key, '(unset)')}); give the same settings or the "
                         "results of a run with these")
    if len(matches) > 1:
        first, second = (dict(cell) for cell in list(matches)[:2])
        key = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))[0]
        raise InputError(f"{flag}: {source} holds {len(matches)} devel-selected cells of "
                         f"{named} with these settings (they differ in {key}); keep one in "
                         "the file, or give the run directory of the one to follow")
    seeds = dict(sorted(next(iter(matches.values())).items()))
    each = {seed: r.best_step / steps_per_epoch(r) for seed, (_, r) in seeds.items()}
    epochs = round(sum(each.values()) / len(each), 4)
    parts = [f"seed {seed} (line {line}): best step {r.best_step} / {steps_per_epoch(r)} "
             f"steps per epoch = {each[seed]:.4g}"
             + (" (still improving at its cap)" if r.improving_at_cap else "")
             for seed, (line, r) in seeds.items()]
    selected = next(iter(seeds.values()))[1].config.get("select_on", "main")
    mean = f"; mean {epochs:g}" if len(seeds) > 1 else ""
    return epochs, f"{source}: {'; '.join(parts)}{mean} epochs, selected on {selected} devel F1"


class ResultsFile:
    """A JSON-lines file of run records (RunRecord), keyed by `cell`.

    Records are appended (O_APPEND, one write, fsync) under an exclusive lock, so processes
    appending to one file never lose each other's records; a line torn by a process killed
    mid-write is dropped (and cut off before the next append), so the file stays readable.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def records(self) -> list[RunRecord]:
        return [record for _, record in self.numbered()]

    def numbered(self) -> list[tuple[int, RunRecord]]:
        """(line number, record) for every whole line."""
        if not self.path.exists():
            return []
        if not self.path.is_file():  # a folder, or a link to /dev/null that would lose records
            raise InputError(f"{self.path}: not a regular file (a folder, or a link to a "
                             "device?); records written there would be lost: remove it or "
                             "give another --out")
        out = []
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if text and not text.endswith("\n"):
            lines = lines[:-1]  # a torn last line: its cell is simply not finished
        for number, line in enumerate(lines, 1):
            if line.strip():
                where = f"{self.path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    raise InputError(f"{where}: not a JSON record; the file was edited by "
                                     "hand? remove that line") from None
                out.append((number, RunRecord.from_json(data, where)))
        return out

    def finished(self) -> set[str]:
        return {r.cell for r in self.records() if r.cell}

    def append(self, record: RunRecord) -> None:
        """Append one record, whole and on disk (written to the end, then fsync), or stop:
        a write that fails (a full disk) is cut back off, so the records before it stay
        whole, and ends the command with one line (InputError) before another cell trains."""
        line = (record.to_json() + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as err:
            raise self._cannot(err) from None
        try:
            _lock(fd)
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":  # torn by a killed writer: cut back to its start
                    size = _last_newline(fd, size) + 1
                    os.ftruncate(fd, size)
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as err:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no torn line: the records before stay whole
                raise self._cannot(err) from None
        finally:
            os.close(fd)  # closing releases the lock

    def _cannot(self, err: OSError) -> InputError:
        return InputError(f"{self.path}: cannot write a finished run's record "
                          f"({err.strerror or err}); stopped, the records already there are "
                          "kept: make room, then run the same command with --resume")


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: appends stay single-writer
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a full disk can write part of a line)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _last_newline(fd: int, size: int) -> int:
    """Offset of the last newline before `size`, -1 when there is none."""
    position, block = size, 65536
    while position > 0:
        start = max(0, position - block)
        os.lseek(fd, start, os.SEEK_SET)
        found = os.read(fd, position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


class RunLock:
    """One grid at a time per run directory: a second grid on the same --out stops with one
    line instead of interleaving its cells into the first one's results. The lock is the
    kernel's (flock), so a killed grid never leaves it behind."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / ".grid.lock"
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError(f"{self.path.parent}: a file is in the way of this run "
                             "directory; give --out a directory") from None
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise InputError(f"{self.path.parent}: another grid is writing there now; wait for "
                             "it to finish or choose another --out") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
