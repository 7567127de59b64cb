"""What every command line tool shares: logging setup and one-line errors for user mistakes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from data import corpora
from data.errors import InputError
from training.results import ResultsFile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow C++ chatter (no GPU: cuInit)


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a tool's main; a user mistake prints `error: ...` on one line and exits with 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("gensim").setLevel(logging.WARNING)
    try:
        return main(argv) or 0
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


GRID_SEEDS = 3  # a comparison needs seed variance: grids default to three paired seeds


def add_run_arguments(p: argparse.ArgumentParser, seeds: int = GRID_SEEDS) -> None:
    """The flags every training command shares (pairwise, train, ...)."""
    from training.presets import PRESETS
    from training.schedules import SCHEDULES

    p.add_argument("--model", default="window-cnn", help="registered model name")
    p.add_argument("--preset", choices=PRESETS, default="quick",
                   help="quick: minutes on a CPU; paper: the publication's settings")
    p.add_argument("--schedule", choices=list(SCHEDULES), help="multi-task batch schedule")
    p.add_argument("--seeds", type=int, default=seeds,
                   help=f"paired seeds per cell (default {seeds}); gains are computed per seed")
    p.add_argument("--seed", type=int, default=1, help="first seed")
    p.add_argument("--train-fraction", type=float, help="share of the main training split")
    p.add_argument("--steps", type=int, help="training steps per run")
    p.add_argument("--epochs", type=float, help="epochs of the main corpus per run")
    p.add_argument("--viterbi", action=argparse.BooleanOptionalAction, default=None,
                   help="decode with transitions seen in training (default on)")
    p.add_argument("--tag-scheme", choices=["IOB2", "IOBES"], help="scheme the heads learn")
    p.add_argument("--gpus", type=int, help="train each model data-parallel on N GPUs "
                   "(tf.distribute.MirroredStrategy; default 1)")
    p.add_argument("--vectors", help="word2vec/GloVe file (default: trained on bundled text)")
    p.add_argument("--aux-weight", type=float, default=1.0, help="loss weight of the partner")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other setting: a model option (hidden=600), a run field "
                        "(devel_limit=500) or train.NAME (train.learning_rate=1e-3)")
    p.add_argument("--resume", action="store_true", help="skip runs already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--executor", choices=["auto", "inprocess", "pool", "ray"], default="auto",
                   help="where cells train: auto (default: side by side in a local pool, one "
                        "worker per core up to 4, when there are several cells), here one "
                        "after another, a local process pool, or Ray "
                        "(pip install -r requirements-ray.txt)")
    p.add_argument("--workers", type=int, default=None,
                   help="cells trained side by side (auto: the cores, up to 4; pool, local "
                        "Ray instance: default 1)")
    p.add_argument("--address", help="Ray cluster to join (ray start --head prints it); "
                                     "default: a local instance")


def resolve_run(args: argparse.Namespace, main: str):
    """The RunConfig for one main corpus from the shared flags (preset, then flags)."""
    from training.presets import parse_settings, resolve

    corpora.spec_for(main)
    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds}: need at least one seed")
    if args.seed < 0 or args.seed + args.seeds > 2 ** 32:
        raise InputError(f"--seed {args.seed} --seeds {args.seeds}: the seeds run from --seed "
                         "to --seed + --seeds - 1, and must lie in 0 .. 2**32 - 1")
    run_over, train_over, options = parse_settings(args.set or [], args.model)
    for key in ("schedule", "train_fraction", "viterbi", "tag_scheme", "vectors", "gpus"):
        if getattr(args, key) is not None:
            run_over[key] = getattr(args, key)
    if args.steps is not None and args.epochs is not None:
        raise InputError(f"--steps {args.steps} and --epochs {args.epochs}: give one training "
                         "length, not both")
    if args.steps is not None:
        train_over["steps"] = args.steps
    if args.epochs is not None:
        train_over.update(epochs=args.epochs, steps=None)
    return resolve(main, args.model, args.preset, run=run_over, train=train_over,
                   model_options=options)


def aux_weights(args: argparse.Namespace, partners) -> dict[str, float]:
    """--aux-weight as the loss weight of every partner (empty at the default 1)."""
    return {p: args.aux_weight for p in partners} if args.aux_weight != 1 else {}


def seeded(run_config, args: argparse.Namespace) -> list:
    from training.config import replace

    return [replace(run_config, seed=s) for s in range(args.seed, args.seed + args.seeds)]


def executor_from(args: argparse.Namespace):
    """The executor the shared flags name (--executor, --workers, --address)."""
    from training.executors import make_executor

    return make_executor(args.executor, args.workers, args.address)


class CommandResults(ResultsFile):
    """A run directory's results file that stamps every record it appends with the command
    that wrote it (`command`: pairwise, train, ablation...), so a resume can tell."""

    def __init__(self, path: str | Path, command: str):
        super().__init__(path)
        self.command = command

    def append(self, record: dict) -> None:
        super().append({**record, "command": self.command})


def written_by(record: dict) -> str | None:
    """The command that wrote a results record: its `command` field, or for older records
    the fields only one command adds; None when the record does not tell."""
    if "command" in record:
        return record["command"]
    legacy = {"aa": "pairwise", "data-ablation": "ablation"}.get(record.get("experiment"))
    return legacy or ("groups" if "group" in record else
                      "entity_ablation" if "leave_out" in record else None)


def open_results(out: Path, resume: bool, command: str) -> CommandResults:
    """The run directory's results file; refuses to mix a new grid into an old one, and a
    resume by another command (the tool's name: pairwise, train...) than the one that wrote
    the directory."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file, not a directory; give a directory for the "
                         "results")
    results = CommandResults(out / "results.jsonl", command)
    records = results.records()
    if records and not resume:
        raise InputError(f"{out} already holds results; pass --resume to continue it or "
                         "choose another --out")
    others = sorted({written_by(r) for r in records} - {command, None})
    if others:
        raise InputError(f"{out} holds results of experiments/{others[0]}.py; "
                         f"experiments/{command}.py --resume would mix its runs into them "
                         "(one grid per directory): choose another --out")
    if any("unit_counts" not in r for r in records):
        raise InputError(f"{out} holds results of an older bioner-mtl (no per-sentence counts, "
                         "so no test-set intervals): choose a new --out; report.py still "
                         "reads the old file")
    return results
