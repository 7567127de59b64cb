"""What every command line tool shares: logging setup, one-line errors for user mistakes, the
shared training flags (whose --help lists the model catalogue and the presets), and a quiet
TensorFlow start unless --verbose."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from bioner_mtl.data.errors import InputError
from bioner_mtl.training import quiet_tensorflow
from bioner_mtl.training.fit.results import ResultsFile, RunRecord

VERBOSE_HELP = ("show what the libraries say: TensorFlow's start-up lines and C++ log, "
                "gensim's progress (default: only this tool's progress and errors)")


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a tool's main; a user mistake prints `error: ...` on one line and exits with 2.

    With --verbose among the arguments TensorFlow starts with its start-up lines (also in
    pool workers and Ray tasks: BIONER_VERBOSE=1 is set while main runs) and gensim logs at
    INFO; otherwise both stay quiet. Logging is at INFO either way."""
    verbose = quiet_tensorflow.verbose_requested(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("gensim").setLevel(logging.INFO if verbose else logging.WARNING)
    previous = os.environ.get(quiet_tensorflow.VERBOSE_ENV)
    if verbose:
        quiet_tensorflow.uninstall()
        os.environ[quiet_tensorflow.VERBOSE_ENV] = "1"  # what workers started from here read
    try:
        return main(argv) or 0
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if verbose and previous is None:
            os.environ.pop(quiet_tensorflow.VERBOSE_ENV, None)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with its mistakes (an unknown flag, a value of the wrong type, a
    missing argument, a choice it does not have) raised as InputError: one `error:` line that
    names the flag, like every other user mistake, instead of the usage text and a second
    line. Sub-commands (add_subparsers) get the same parser."""

    def error(self, message: str):
        raise InputError(f"{message} (see {self.prog} --help)")


def add_verbose_argument(p: argparse.ArgumentParser) -> None:
    """--verbose (read by run() and at start-up; parsed here so --help shows it)."""
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)


GRID_SEEDS = 3  # a comparison needs seed variance: grids default to three paired seeds
MARGIN_POINTS = 1.0  # --margin: a gain shown within +-1 point of F1 is `equivalent`
MAX_SEEDS = 10  # --max-seeds: rounds of 3, 6 and 10 seeds (training.stats.ladder)
MAX_SEEDS_LIMIT = 1000  # more is a typo, not a plan (training.stats.MAX_SEEDS)
# --budget: the README's main job (a baseline and three partners, two cores) ends in about
# five minutes: rounds after the first start only when their estimated time fits
BUDGET_MINUTES = 5.0


DEFAULT_MODEL = "window-cnn"
DEFAULT_PRESET = "quick"
PRESET_HELP = {  # what each of training.presets.PRESETS means, for --help
    "quick": "minutes on a CPU: smaller models, part of the main corpus, training stopped "
             "when devel F1 stalls",
    "paper": "the model's publication: its sizes, optimiser and training length (hours)",
}


def presets_help() -> str:
    """The presets, one line each, as catalogue_help lists the models."""
    from bioner_mtl.training.spec.presets import PRESETS

    columns = max(shutil.get_terminal_size().columns - 2, 40)  # as argparse wraps
    width = max(map(len, PRESETS))
    return "\n".join(textwrap.fill(PRESET_HELP.get(name, ""), columns,
                                   initial_indent=f"  {name:{width}}  ",
                                   subsequent_indent=" " * (width + 4)) for name in PRESETS)


def catalogue_epilog(model: str = DEFAULT_MODEL) -> str:
    """The --help text after the flags: every registered model and every preset."""
    from bioner_mtl.training.spec.catalogue import catalogue_help

    return (f"models (--model NAME, default {model}):\n{catalogue_help()}\n\n"
            f"presets (--preset NAME, default {DEFAULT_PRESET}):\n{presets_help()}")


def add_run_arguments(p: argparse.ArgumentParser, seeds: int = GRID_SEEDS,
                      model: str = DEFAULT_MODEL) -> None:
    """The flags every training command shares (pairwise, train, ...); the parser's --help
    ends with the model catalogue and the presets. `model`: the command's default model."""
    from bioner_mtl.training.spec.presets import PRESETS
    from bioner_mtl.training.spec.schedules import SCHEDULES

    if p.formatter_class is argparse.HelpFormatter:  # keep the lists' lines as they are
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = "\n\n".join(text for text in (p.epilog, catalogue_epilog(model)) if text)
    # no argparse `choices`: an unknown name is refused in one line with the valid names
    # (training.catalogue.get_model), like every other user mistake
    p.add_argument("--model", default=model, metavar="NAME",
                   help=f"the model to train, by its registered name (default {model}; "
                        "the list below)")
    p.add_argument("--preset", choices=PRESETS, default=DEFAULT_PRESET,
                   help="; ".join(f"{name}: {PRESET_HELP.get(name, name)}" for name in PRESETS)
                        + f" (default {DEFAULT_PRESET})")
    p.add_argument("--schedule", choices=list(SCHEDULES), help="multi-task batch schedule")
    p.add_argument("--seeds", type=int, default=seeds,
                   help=f"paired seeds per cell (default {seeds}); gains are computed per seed")
    p.add_argument("--seed", type=int, default=1, help="first seed")
    p.add_argument("--train-fraction", type=float, help="share of the main training split")
    p.add_argument("--steps", type=int, help="main-corpus batches per run (a partner's "
                   "batches come on top, so every cell of a grid sees as many)")
    p.add_argument("--epochs", type=float, help="epochs of the main corpus per run (either "
                   "flag replaces the preset's length and its floor of main-corpus batches)")
    p.add_argument("--viterbi", action=argparse.BooleanOptionalAction, default=None,
                   help="decode with transitions seen in training (default on)")
    p.add_argument("--select-on", choices=["main", "mean"],
                   help="the devel score that selects the weights and stops training: the "
                        "main corpus's F1 (default) or the mean F1 over every head")
    p.add_argument("--tag-scheme", choices=["IOB2", "IOBES"], help="scheme the heads learn")
    p.add_argument("--gpus", type=int, help="train each model data-parallel on N GPUs "
                   "(tf.distribute.MirroredStrategy; default 1)")
    p.add_argument("--vectors", help="word2vec/GloVe file (default: trained on bundled text)")
    p.add_argument("--aux-weight", type=float, default=1.0, help="loss weight of the partner")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other setting: a model option (hidden=600), a run field "
                        "(devel_limit=500) or train.NAME (train.learning_rate=1e-3)")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="write each cell's training curves for `tensorboard --logdir DIR` "
                        "(per-task loss, devel F1, learning rate, steps per second; one run "
                        "folder per cell, named by its cell; default: none)")
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
    add_verbose_argument(p)


def add_verdict_arguments(p: argparse.ArgumentParser, rounds: bool = False) -> None:
    """--margin (every grid's verdicts); with `rounds` (pairwise.py) also --max-seeds and
    --budget, which make --seeds the first round's seeds."""
    p.add_argument("--margin", type=float, default=MARGIN_POINTS, metavar="POINTS",
                   help="equivalence margin in F1 points: a gain shown to lie within "
                        f"+-POINTS is 'equivalent' (TOST; default {MARGIN_POINTS:g})")
    if not rounds:
        return
    p.add_argument("--max-seeds", type=int, metavar="N",
                   help="run seeds in rounds (--seeds first, then about 1.7 times as many "
                        "each round, up to N), giving more seeds only to partners still "
                        f"undecided (default {MAX_SEEDS}, or --seeds if more; N = --seeds: "
                        "one round)")
    p.add_argument("--budget", type=float, default=BUDGET_MINUTES, metavar="MINUTES",
                   help="start a round after the first only if its estimated time fits in "
                        f"MINUTES from the start (default {BUDGET_MINUTES:g}; --resume "
                        "continues with a new budget)")


def check_verdict_arguments(args: argparse.Namespace) -> float:
    """The flags of add_verdict_arguments checked (one line each, before anything is
    built); the margin as a fraction of F1."""
    margin = args.margin
    if not math.isfinite(margin) or not 0 < margin < 100:
        raise InputError(f"--margin {margin:g}: the equivalence margin is in F1 points and "
                         "must be a number above 0 and below 100, e.g. 1")
    if getattr(args, "budget", None) is not None and not args.budget > 0:
        raise InputError(f"--budget {args.budget:g}: minutes of training; give a number "
                         "above 0, e.g. 5")
    if hasattr(args, "max_seeds") and args.max_seeds is None:  # the default
        args.max_seeds = max(MAX_SEEDS, args.seeds)
    maximum = getattr(args, "max_seeds", None)
    if maximum is not None:
        if maximum < 2:
            raise InputError(f"--max-seeds {maximum}: a verdict needs at least 2 seeds")
        if maximum > MAX_SEEDS_LIMIT:
            raise InputError(f"--max-seeds {maximum}: at most {MAX_SEEDS_LIMIT} seeds")
        if maximum < args.seeds:
            raise InputError(f"--max-seeds {maximum} is below --seeds {args.seeds} (the "
                             "first round's seeds); give --max-seeds >= --seeds")
    return margin / 100


def resolve_run(args: argparse.Namespace, main: str):
    """The RunConfig for one main corpus from the shared flags (preset, then flags). Corpus
    names and the run's settings are checked by training.presets.check_run: commands call
    `checked` on every run before TensorFlow is imported, run_cells (and the Trainer) again
    before anything trains."""
    from bioner_mtl.training.spec.presets import parse_settings, resolve

    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds}: need at least one seed")
    if args.seed < 0 or args.seed + args.seeds > 2 ** 32:
        raise InputError(f"--seed {args.seed} --seeds {args.seeds}: the seeds run from --seed "
                         "to --seed + --seeds - 1, and must lie in 0 .. 2**32 - 1")
    run_over, train_over, options = parse_settings(args.set or [], args.model)
    for key in ("schedule", "train_fraction", "viterbi", "tag_scheme", "vectors", "gpus",
                "select_on", "train_on"):  # train_on: experiments/train.py's --train-on
        if getattr(args, key, None) is not None:
            run_over[key] = getattr(args, key)
    if getattr(args, "tensorboard", None):  # absolute: a pool or Ray worker writes there
        run_over["tensorboard"] = str(Path(args.tensorboard).resolve())
    if run_over.get("train_on") == "train+devel":
        # a fixed length: the preset's devel evaluation, early stopping, length floor and devel
        # cut are not this run's (those given with --set are refused by check_run)
        train_over = {"patience": None, "eval_every": None, "min_main_batches": 0,
                      **train_over}
        run_over = {"devel_limit": None, **run_over}
    if args.steps is not None and args.epochs is not None:
        raise InputError(f"--steps {args.steps} and --epochs {args.epochs}: give one training "
                         "length, not both")
    if args.steps is not None:
        train_over["steps"] = args.steps
    if args.epochs is not None:
        train_over.update(epochs=args.epochs, steps=None)
    return resolve(main, args.model, args.preset, run=run_over, train=train_over,
                   model_options=options)


def checked(runs: list) -> list:
    """`runs`, each checked by training.presets.check_run (corpus names, settings, model
    options), and every corpus given as a directory read once (a damaged file, a bad tag: one
    line naming the file and line; the trainer reuses what was read): a command calls it on
    every run of its grid before it imports the trainer, the grid or anything else that loads
    TensorFlow, so a mistake stops in a fraction of a second, not after minutes of training."""
    from bioner_mtl.data import corpora
    from bioner_mtl.training.spec.presets import check_run

    for run_config in runs:
        check_run(run_config)
    for name in dict.fromkeys(task for r in runs for task in r.tasks):
        if name not in corpora.REGISTRY and corpora.spec_for(name).parent is None:
            corpora.load_corpus(name)  # a user's directory (bundled corpora are known good)
    return runs


def names(text: str) -> list[str]:
    """Corpus names given as A,B,C (blanks and empty entries dropped)."""
    return [n.strip() for n in text.split(",") if n.strip()]


def partners_for(main: str, aux: str | None, aux_group: str | None = None,
                 matrix: bool = False) -> list[str]:
    """The candidate partners of `main`: --aux A,B, the corpora of --aux-group, or every
    other bundled NER corpus (pairwise.py and recommend.py alike). With several main corpora
    (`matrix`) --aux may list a main corpus: it is simply not its own partner."""
    from bioner_mtl.data import corpora

    if aux is not None:
        chosen = names(aux)
        if not chosen:
            raise InputError(f"--aux {aux!r} names no corpus; give A,B or leave --aux out "
                             "for every other corpus")
    elif aux_group:
        chosen = corpora.corpora_with_class(aux_group)
    else:
        chosen = corpora.bundled_ner_corpora()
    if aux and main in chosen and not matrix:
        raise InputError(f"--aux lists the main corpus {main} as its own partner; drop it")
    return [c for c in chosen if c != main]


def aux_weights(args: argparse.Namespace, partners) -> dict[str, float]:
    """--aux-weight as the loss weight of every partner (empty at the default 1)."""
    return {p: args.aux_weight for p in partners} if args.aux_weight != 1 else {}


def seeded(run_config, args: argparse.Namespace) -> list:
    from bioner_mtl.training.spec.config import replace

    return [replace(run_config, seed=s) for s in range(args.seed, args.seed + args.seeds)]


def executor_from(args: argparse.Namespace):
    """The executor the shared flags name (--executor, --workers, --address)."""
    from bioner_mtl.training.grids.executors import make_executor

    return make_executor(args.executor, args.workers, args.address)


class CommandResults(ResultsFile):
    """A run directory's results file that stamps every record it appends with the command
    that wrote it (`command`: pairwise, train, ablation...), so a resume can tell."""

    def __init__(self, path: str | Path, command: str):
        super().__init__(path)
        self.command = command

    def append(self, record: RunRecord) -> None:
        super().append(dataclasses.replace(record, command=self.command))


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
    others = sorted({r.command for r in records} - {command, None})
    if others:
        raise InputError(f"{out} holds results of experiments/{others[0]}.py; "
                         f"experiments/{command}.py --resume would mix its runs into them "
                         "(one grid per directory): choose another --out")
    return results
