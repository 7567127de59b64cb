"""What every command line tool shares: logging setup, one-line errors for user mistakes, the
shared training flags (whose --help lists the model catalogue and the presets), and a quiet
TensorFlow start unless --verbose."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import importlib
import json
import logging
import math
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bioner_mtl.data.errors import EXTRAS, InputError, install_command
from bioner_mtl.training import quiet_tensorflow
from bioner_mtl.training.fit.results import (
    ResultsFile,
    RunRecord,
    cell_key,
    cell_kind,
    identity,
    shown_kind_value,
)
from bioner_mtl.training.spec import runfile

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
    reading = READ_RUN_FILE.set(None)
    try:
        return main(argv) or 0
    except InputError as err:
        source = READ_RUN_FILE.get()  # a flag's bad value that a run file gave names it
        print(f"error: {source.blame(err) if source else err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        READ_RUN_FILE.reset(reading)
        if verbose and previous is None:
            os.environ.pop(quiet_tensorflow.VERBOSE_ENV, None)


def command_main(module: str) -> Callable[[list[str] | None], int | None]:
    """The main of the script `module` (bioner_mtl.experiments.NAME), imported when called,
    so inside run(): a mistake found while the script loads is one `error:` line like any
    other, and so is a library of an extra that is not installed (its pip command)."""
    def main(argv: list[str] | None = None) -> int | None:
        try:
            script = importlib.import_module(module)
        except ModuleNotFoundError as err:
            top = (err.name or "").partition(".")[0]
            if top not in EXTRAS:
                raise
            command = module.rpartition(".")[2].replace("_", "-")
            raise InputError(f"{command} needs {top}, which is not installed: "
                             f"{install_command(top)}") from None
        return script.main(argv)

    return main


UNSET = object()  # a flag the command line does not give
# the run file the running command read (set by ArgumentParser, read by run() for its error
# line: a value the file gave is named with the file's key, whichever check refused it)
READ_RUN_FILE: contextvars.ContextVar[RunFile | None] = contextvars.ContextVar(
    "READ_RUN_FILE", default=None)
# flags a run file may not hold: what to do with a run, not the run (and the file itself)
COMMAND_LINE_ONLY = {"config", "verbose"}
# flags that say one thing two ways: the command line's one replaces the file's other
ONE_OF = (("steps", "epochs", "epochs_from"),)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with its mistakes (an unknown flag, a value of the wrong type, a
    missing argument, a choice it does not have) raised as InputError: one `error:` line that
    names the flag, like every other user mistake, instead of the usage text and a second
    line. Sub-commands (add_subparsers) get the same parser.

    A parser with run sources (`run_sources`, dest -> loader: add_run_arguments gives
    --config) reads the run a source names, a TOML run file, and takes its flags where the
    command line gives none; `args.run_file` keeps what it gave (None without one)."""

    def error(self, message: str):
        raise InputError(f"{message} (see {self.prog} --help)")

    def parse_known_args(self, args=None, namespace=None):
        sources = getattr(self, "run_sources", None)
        if not sources or namespace is not None:
            return super().parse_known_args(args, namespace)
        argv = list(sys.argv[1:] if args is None else args)
        given = self._given(argv)
        chosen = [(dest, getattr(given, dest)) for dest in sources
                  if getattr(given, dest, UNSET) not in (UNSET, None)]
        if not chosen:
            found, rest = super().parse_known_args(argv)
            found.run_file = None
            return found, rest
        if len(chosen) > 1:
            raise InputError(f"{' and '.join(self._flag(d) for d, _ in chosen)}: give one run "
                             "to start from")
        dest, value = chosen[0]
        data, where = sources[dest](value)
        run_file = RunFile.read(self, data, where, given)
        with self._relaxed(set(run_file.flags)):
            found, rest = super().parse_known_args(argv, argparse.Namespace(
                **{d: parsed for d, (_, _, parsed, _) in run_file.flags.items()}))
        run_file.drop_overridden(found.set or [], given)
        found.run_file = run_file
        READ_RUN_FILE.set(run_file)
        return found, rest

    def _given(self, argv: list[str]) -> argparse.Namespace:
        """What the command line itself says: each flag's value, UNSET where it is not given
        (nothing required yet: a run file may give it)."""
        blank = argparse.Namespace(**{a.dest: UNSET for a in self._actions
                                      if a.dest != argparse.SUPPRESS
                                      and not isinstance(a, argparse._AppendAction)})
        with self._relaxed(None):
            return super().parse_known_args(argv, blank)[0]

    @contextlib.contextmanager
    def _relaxed(self, dests: set[str] | None):
        """Flags (and groups of them) among `dests` (None: all) not required while inside."""
        groups = self._mutually_exclusive_groups
        saved = [(a, a.required) for a in self._actions] + [(g, g.required) for g in groups]
        try:
            for action in self._actions:
                if dests is None or action.dest in dests:
                    action.required = False
            for group in groups:
                if dests is None or any(a.dest in dests for a in group._group_actions):
                    group.required = False
            yield
        finally:
            for thing, required in saved:
                thing.required = required

    def _flag(self, dest: str) -> str:
        return long_flag(next(a for a in self._actions if a.dest == dest))


def long_flag(action: argparse.Action) -> str:
    """--viterbi for --viterbi/--no-viterbi, --main for -m/--main."""
    return next((o for o in action.option_strings if o.startswith("--")),
                action.option_strings[0])


class RunFile:
    """A run file read for one command: the flags it gives that the command line does not
    (dest -> (key as written, TOML value, parsed value, option strings)), its [set] entries
    ((--set key, TOML value), in order), and where it came from, so that a mistake in it is
    one line naming the file, the key and the fix."""

    def __init__(self, where: str, flags: dict[str, tuple], settings: list[tuple[str, Any]]):
        self.where, self.flags, self.settings = where, flags, settings

    @classmethod
    def read(cls, parser: ArgumentParser, data: dict, where: str,
             given: argparse.Namespace) -> RunFile:
        """The file's keys checked against the parser's flags (unknown keys, types, choices);
        those the command line gives (or one of their alternatives) are left out."""
        excluded = COMMAND_LINE_ONLY | getattr(parser, "command_line_only", set())
        actions = {long_flag(a).lstrip("-").replace("-", "_"): a for a in parser._actions
                   if a.option_strings and a.dest != "help" and a.help != argparse.SUPPRESS
                   and a.dest not in excluded}  # keyed as the flag is spelt: class, not dest
        flags, settings = {}, []
        for key, value in data.items():
            name = key.replace("-", "_")
            if name == "set":
                settings = runfile.set_entries(value, where)
                continue
            if name not in actions:
                raise InputError(unknown_key(key, where, parser, sorted(actions)))
            action = actions[name]
            if action.dest in flags:
                raise InputError(f"{where}: {flags[action.dest][0]} and {key} are the same "
                                 "flag; keep one")
            flags[action.dest] = (key, value, flag_value(action, key, value, where),
                                  action.option_strings)
        alternatives = [[a.dest for a in g._group_actions]
                        for g in parser._mutually_exclusive_groups] + [list(o) for o in ONE_OF]
        for group in alternatives:
            mine = [d for d in group if d in flags]
            if len(mine) > 1:
                raise InputError(f"{where}: {' and '.join(flags[d][0] for d in mine)}: give "
                                 f"one ({' or '.join(parser._flag(d) for d in mine)}, not "
                                 "both)")
            if mine and any(getattr(given, d, UNSET) is not UNSET for d in group):
                del flags[mine[0]]  # the command line chose another of them
        flags = {d: f for d, f in flags.items() if getattr(given, d, UNSET) is UNSET}
        return cls(where, flags, settings)

    def drop_overridden(self, pairs: list[str], given: argparse.Namespace) -> None:
        """Forget the [set] entries that the command line's --set or flags replace."""
        from bioner_mtl.training.spec.config import FLAGS
        from bioner_mtl.training.spec.presets import RUN_FLAGS

        keys = {pair.partition("=")[0] for pair in pairs}
        flagged = {**RUN_FLAGS, **{f"train.{k}": f for k, f in FLAGS.items()}}
        self.settings = [(k, v) for k, v in self.settings if k not in keys and getattr(
            given, flagged.get(k, "--").removeprefix("--").replace("-", "_"), UNSET) is UNSET]

    def set_pairs(self, model: str) -> list[str]:
        """The [set] entries as --set KEY=VALUE texts, each key and value type checked."""
        from bioner_mtl.training.spec.presets import setting_like

        pairs = []
        for key, value in self.settings:
            _, like = setting_like(key, model)
            pairs.append(f"{key}={runfile.set_text(key, value, like, self.where)}")
        return pairs

    def blame(self, err: InputError) -> InputError:
        """`err` said of the file's key, where it names a flag or --set whose value the file
        gave: 'run.toml: set.hidden = 0: a whole number...' for '--set hidden=0: a whole...'."""
        from bioner_mtl.training.spec.config import FLAGS
        from bioner_mtl.training.spec.presets import RUN_FLAGS

        message = str(err)
        spellings = [(key, value, [f"{o} " for o in options])
                     for key, value, _, options in self.flags.values()]
        for key, value in self.settings:
            name = key.removeprefix("train.")
            flag = FLAGS.get(name) if name != key else RUN_FLAGS.get(key)
            spellings.append((f"set.{key}", value, [f"--set {key}=", f"--set {key}:"]
                              + ([f"{flag} "] if flag else [])))
        head, sep, rest = message.partition(": ")
        for key, value, prefixes in spellings:
            for prefix in prefixes:
                if sep and (message.startswith(prefix) and " " not in
                            head[len(prefix):].strip()):
                    return InputError(f"{self.where}: {runfile.shown(key, value)}: {rest}")
            # 'unknown model 'x'; valid models: ...', 'unknown corpus 'x'; did you mean...'
            said = [str(v) for v in (value if isinstance(value, list) else [value])]
            if message.startswith("unknown ") and any(f" {v!r}" in head.split(";")[0]
                                                      for v in said):
                return InputError(f"{self.where}: {runfile.shown(key, value)}: {message}")
        return err

    def check(self, run) -> None:
        """The settings of the resolved run one by one (as checked() will), so that a bad
        value the file gave is refused naming the file."""
        from bioner_mtl.data import corpora
        from bioner_mtl.training.spec.catalogue import get_model
        from bioner_mtl.training.spec.config import check_design, check_train
        from bioner_mtl.training.spec.presets import check_model_config, check_run_fields

        try:
            for dest in ("main", "aux"):  # corpus names (train.py's aux 'all' means them all)
                if dest in self.flags:
                    for name in names(self.flags[dest][2]):
                        if name != "all" or dest != "aux":
                            corpora.spec_for(name)
            check_train(run.train)
            check_run_fields(run)
            check_design(run)
            check_model_config(run.model, get_model(run.model).model_config(run.model_options))
        except InputError as err:
            raise self.blame(err) from None


def unknown_key(key: str, where: str, parser: argparse.ArgumentParser,
                valid: list[str]) -> str:
    """One line for a key the command has no flag for, with where it belongs if anywhere."""
    from bioner_mtl.training.spec.config import RunConfig, TrainConfig

    runs = {f.name for f in dataclasses.fields(RunConfig)}
    if key in ("train", "model_options", "run"):
        return (f"{where}: [{key}]: not a table of a run file; what --set says goes in [set] "
                "(hidden = 600, devel_limit = 500) and [set.train] (learning_rate = 1e-3)")
    if key in runs or key in {f.name for f in dataclasses.fields(TrainConfig)}:
        table = "[set]" if key in runs else "[set.train]"
        return (f"{where}: {key} is not a flag of {parser.prog}; it is a --set setting: move "
                f"the line `{key} = ...` under {table}")
    return (f"{where}: unknown key {key!r}: not a flag of {parser.prog}; the keys are its "
            f"flags without the dashes ({', '.join(valid)}) and [set] for what --set says")


def flag_value(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    """A run file's value for a flag, as the parser would have it from the command line:
    true/false for a switch, a whole number or a number where the flag takes one, a string
    (or a list of them: A,B) for a name, one of the flag's choices where it has them."""
    flag = long_flag(action)

    def bad(kind: str) -> InputError:
        return InputError(f"{where}: {runfile.shown(key, value)}: {kind} (as {flag} takes)")

    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            raise bad("true or false")
        if isinstance(action, argparse.BooleanOptionalAction):
            return value
        return value if action.const is True else not value
    if isinstance(value, list) and action.type in (None, str):
        if not all(isinstance(v, (str, int, float)) for v in value):
            raise bad("a string, or a list of them")
        value = ",".join(str(v) for v in value)  # aux = ["A", "B"] says --aux A,B
    if action.type is int and not runfile.is_int(value):
        raise bad("a whole number")
    if action.type is float:
        if not (runfile.is_int(value) or isinstance(value, float)):
            raise bad("a number")
        value = float(value)
    if action.type in (None, str) and not isinstance(value, str):
        raise bad("a string")
    if action.choices is not None and value not in action.choices:
        raise InputError(f"{where}: {runfile.shown(key, value)}: choose one of "
                         f"{', '.join(map(str, action.choices))}")
    return value


def read_run_file(path: str) -> tuple[dict, str]:
    """--config's loader: the file's TOML, and its path for messages."""
    return runfile.read(path), str(path)


def add_verbose_argument(p: argparse.ArgumentParser) -> None:
    """--verbose (read by run() and at start-up; parsed here so --help shows it)."""
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)


GRID_SEEDS = 3  # a comparison needs seed variance: grids default to three paired seeds
MARGIN_POINTS = 1.0  # --margin: a gain shown within +-1 point of F1 is `equivalent`
MAX_SEEDS = 14  # --max-seeds: looks at 3, 6, 10 and 14 seeds (stats.ladder); the README's
# main job needs this many for its partners near the margin (RESULTS.md, fourth pass), and the
# last look spends most of alpha, so a plan should end where the run can
MAX_SEEDS_LIMIT = 1000  # more is a typo, not a plan (training.stats.MAX_SEEDS)
# --budget: a cap, not a target (the grid stops once every partner is decided): the README's
# main job (a baseline and three partners, two cores) took 10 minutes to 14 seeds, and a
# round after the first starts only when its estimated time fits
BUDGET_MINUTES = 15.0


DEFAULT_MODEL = "window-cnn"
DEFAULT_PRESET = "quick"
PRESET_HELP = {  # what each of training.presets.PRESETS means, for --help
    "quick": "minutes on a CPU: smaller models on part of the main corpus",
    "paper": "the model's publication: its sizes, optimiser and training length (hours)",
}


def quick_lengths() -> str:
    """How the quick preset trains each model, read from the catalogue (its `quick` over the
    paper settings), the models that train alike named together: 'mlp, window-cnn, ...: 25%
    of the main corpus, a fixed 1,600 main-corpus batches, no devel stopping; ...'."""
    from bioner_mtl.training.spec.catalogue import MODELS
    from bioner_mtl.training.spec.config import replace

    kinds: dict[str, list[str]] = {}
    for name, spec in MODELS.items():
        train = replace(spec.train, **spec.quick.get("train", {}))
        fraction = {**spec.run, **spec.quick.get("run", {})}.get("train_fraction", 1.0)
        length = (f"{train.steps:,} main-corpus batches" if train.steps else
                  f"{train.epochs:g} epoch{'' if train.epochs == 1 else 's'}")
        if train.eval_every == 0:  # scored once, at the end: nothing selected on devel
            how = f"a fixed {length}, no devel stopping"
        elif train.patience is not None:
            how = f"at most {length}, stopped when devel F1 stalls"
        else:
            how = f"{length}, the best devel evaluation kept"
        if train.min_main_batches:
            how += f" (at least {train.min_main_batches:,} main-corpus batches)"
        kinds.setdefault(f"{100 * fraction:g}% of the main corpus, {how}", []).append(name)
    return "; ".join(f"{', '.join(names)}: {text}" for text, names in kinds.items())


def preset_help(name: str) -> str:
    """What a preset means, for --help (the quick preset's length per model family)."""
    text = PRESET_HELP.get(name, name)
    return f"{text} ({quick_lengths()})" if name == "quick" else text


def presets_help() -> str:
    """The presets, one line each, as catalogue_help lists the models."""
    from bioner_mtl.training.spec.presets import PRESETS

    columns = max(shutil.get_terminal_size().columns - 2, 40)  # as argparse wraps
    width = max(map(len, PRESETS))
    return "\n".join(textwrap.fill(preset_help(name), columns,
                                   initial_indent=f"  {name:{width}}  ",
                                   subsequent_indent=" " * (width + 4), break_on_hyphens=False)
                     for name in PRESETS)


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
                        + f" (default {DEFAULT_PRESET}; how long each model trains: the "
                        "presets below)")
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
    p.add_argument("--config", metavar="FILE",
                   help="the run's flags and --set settings from a TOML run file (flags "
                        "given here override it; train.py --print-config writes one)")
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
    p.run_sources = {**getattr(p, "run_sources", {}), "config": read_run_file}


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


def check_seeds(args: argparse.Namespace) -> None:
    """--seeds: at least one, at most MAX_SEEDS_LIMIT (more is a typo that would build
    millions of cells before the first trains)."""
    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds}: need at least one seed")
    if args.seeds > MAX_SEEDS_LIMIT:
        raise InputError(f"--seeds {args.seeds}: at most {MAX_SEEDS_LIMIT} seeds per cell")


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
    check_seeds(args)
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
    """The RunConfig for one main corpus from the shared flags (preset, then a run file's
    settings, then flags). Corpus names and the run's settings are checked by
    training.presets.check_run: commands call `checked` on every run before TensorFlow is
    imported, run_cells (and the Trainer) again before anything trains; a run file's settings
    are checked here, so that a bad one is refused naming the file."""
    source = getattr(args, "run_file", None)
    try:
        run = _resolved(args, main, source)
        if source is not None:
            source.check(run)
        return run
    except InputError as err:
        if source is None:
            raise
        raise source.blame(err) from None


def _resolved(args: argparse.Namespace, main: str, source: RunFile | None):
    from bioner_mtl.training.spec.presets import parse_settings, resolve

    check_seeds(args)
    if args.seed < 0 or args.seed + args.seeds > 2 ** 32:
        raise InputError(f"--seed {args.seed} --seeds {args.seeds}: the seeds run from --seed "
                         "to --seed + --seeds - 1, and must lie in 0 .. 2**32 - 1")
    pairs = (source.set_pairs(args.model) if source else []) + list(args.set or [])
    run_over, train_over, options = parse_settings(pairs, args.model)
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
    from bioner_mtl.training.spec.feasible import check_entities
    from bioner_mtl.training.spec.presets import check_run

    for run_config in runs:
        check_run(run_config)
    mine = set()
    for name in dict.fromkeys(task for r in runs for task in r.tasks):
        if name not in corpora.REGISTRY and corpora.spec_for(name).parent is None:
            corpora.load_corpus(name)  # a user's directory (bundled corpora are known good)
            mine.add(name)
    for run_config in {(r.tasks, r.train_on, r.devel_limit, r.test_limit): r
                       for r in runs if mine & set(r.tasks)}.values():
        check_entities(run_config, mine)  # entities to learn, to select on and to score
    return runs


def names(text: str, flag: str | None = None) -> list[str]:
    """Corpus names given as A,B,C (blanks and empty entries dropped). One corpus given twice,
    by one name or by two (a name and its folder, `dir/`, a link: data.corpora.resolved), is
    refused: its runs would count twice."""
    from bioner_mtl.data import corpora

    found = [n.strip() for n in text.split(",") if n.strip()]
    twice = corpora.duplicates(found)
    if twice:
        first, second = twice
        what = (f"{first} is listed twice" if first == second
                else f"{first} and {second} are the same corpus")
        raise InputError(f"{flag + ' ' + text + ': ' if flag else ''}{what}; give each corpus "
                         "once")
    return found


def partners_for(main: str, aux: str | None, aux_group: str | None = None,
                 matrix: bool = False) -> list[str]:
    """The candidate partners of `main`: --aux A,B, the corpora of --aux-group, or every
    other bundled NER corpus (pairwise.py and recommend.py alike). With several main corpora
    (`matrix`) --aux may list a main corpus: it is simply not its own partner."""
    from bioner_mtl.data import corpora

    if aux is not None:
        chosen = names(aux, "--aux")
        if not chosen:
            raise InputError(f"--aux {aux!r} names no corpus; give A,B or leave --aux out "
                             "for every other corpus")
    elif aux_group:
        chosen = corpora.corpora_with_class(aux_group)
    else:
        chosen = corpora.bundled_ner_corpora()
    same = [c for c in chosen if corpora.resolved(c) == corpora.resolved(main)]
    if aux and same and not matrix:
        raise InputError(f"--aux lists the main corpus {main} as its own partner"
                         + (f" (as {same[0]})" if same[0] != main else "") + "; drop it")
    return [c for c in chosen if c not in same]


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


def check_same_grid(results: ResultsFile, runs: list, out: Path) -> None:
    """A resume continues the grid its directory holds, as resume decides a cell is done
    (results.identity): every record there must be a cell of a kind this command's `runs`
    are (results.cell_kind: more seeds and more partners are the same grid). A record of
    another kind (another --model, --preset, --set, --train-fraction...) is refused in one
    line naming the directory, the first setting that differs and the fix: this command's
    cells would be added beside it, and one results file would hold two grids."""
    ours = [cell_kind(r) for r in runs]
    known = {json.dumps(k, sort_keys=True) for k in ours}
    for line, record in results.numbered():
        theirs = cell_kind(record.config)
        if not ours or json.dumps(theirs, sort_keys=True) in known:
            continue
        closest = min(ours, key=lambda k: (k["single-task"] != theirs["single-task"],
                                           sum(k.get(n) != theirs.get(n)
                                               for n in set(k) | set(theirs))))
        name = min((n for n in set(closest) | set(theirs) if closest.get(n) != theirs.get(n)),
                   key=lambda n: (n != "model", n))
        there, here = shown_kind_value(theirs.get(name)), shown_kind_value(closest.get(name))
        raise InputError(f"--out {out} holds a grid of {record.model} with other settings "
                         f"than this command's ({name} {there} there, "
                         f"{results.path.name} line {line}; {here} here): "
                         "resume it with the flags it was started with, or give this grid "
                         "another --out")


# ----- a recorded run written back as a run file (experiments/train.py --print-config) -----
RUN_FLAG_KEYS = ("schedule", "train_fraction", "viterbi", "tag_scheme", "vectors",
                 "select_on", "train_on")  # run fields train.py has a flag for
RESOLVED = {"main", "model", "seed", "train"}  # what a recorded configuration always holds


def recorded_run(text: str) -> tuple[dict, str, str | None]:
    """The resolved configuration of a recorded run, where it was read, and its preset (None
    for a bundle, which does not record it): RESULTS.jsonl[:LINE], a run directory[:LINE]
    (its results.jsonl) or a model bundle's directory (its bundle.json)."""
    flag = f"--from-record {text}"
    head, sep, tail = text.rpartition(":")
    path, line = (Path(head), int(tail)) if sep and tail.isdigit() else (Path(text), None)
    meta = path / "bundle.json"
    if path.is_dir() and meta.is_file() and line is None:
        try:
            run = json.loads(meta.read_text(encoding="utf-8")).get("run")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            raise InputError(f"{meta}: not a bundle's JSON description; give a bundle that "
                             "experiments/train.py --save-model wrote") from None
        if not isinstance(run, dict) or not RESOLVED <= set(run):
            raise InputError(f"{meta}: records no run (saved before bundles did); give the "
                             "results.jsonl line of the run that wrote it")
        return run, str(meta), None
    source = path / "results.jsonl" if path.is_dir() else path
    if not source.is_file():
        raise InputError(f"{flag}: no results file or model bundle there; give "
                         "RESULTS.jsonl[:LINE], a run directory[:LINE] or a bundle directory")
    numbered = ResultsFile(source).numbered()
    if not numbered:
        raise InputError(f"{flag}: {source} holds no record")
    if line is None and len(numbered) > 1:
        raise InputError(f"{flag}: {source} holds {len(numbered)} records; add :LINE to say "
                         f"which, e.g. {source}:{numbered[-1][0]}")
    lines = dict(numbered)
    if line is not None and line not in lines:
        raise InputError(f"{flag}: no record on line {line} of {source}; its records are on "
                         f"lines {', '.join(map(str, lines))}")
    line = numbered[0][0] if line is None else line
    config = lines[line].config
    if not RESOLVED <= set(config):
        raise InputError(f"{source}:{line}: the record holds no resolved run configuration "
                         "(`config`); give the record of a run this bioner-mtl trained")
    return config, f"{source}:{line}", lines[line].preset


def _comparable(config) -> dict:
    """A run's identity as it reads back from JSON (tuples as lists)."""
    return json.loads(json.dumps(identity(config), default=str))


def _toml_value(value: Any) -> Any:
    return "none" if value is None else value


def _train_run(data: dict, where: str):
    """The run experiments/train.py resolves from a run file's data (flags and [set])."""
    from bioner_mtl.training.spec.config import replace

    settings = runfile.set_entries(data.get("set", {}), where)
    args = argparse.Namespace(
        seeds=1, seed=data["seed"], set=None, model=data["model"], preset=data["preset"],
        steps=data.get("steps"), epochs=data.get("epochs"), tensorboard=None,
        run_file=RunFile(where, {}, settings), **{k: data.get(k) for k in RUN_FLAG_KEYS})
    aux = tuple(data.get("aux", ()))
    weight = data.get("aux_weight", 1.0)
    return replace(resolve_run(args, data["main"]), aux=aux, seed=data["seed"],
                   loss_weights={a: weight for a in aux} if weight != 1 else {})


def run_file_data(config: dict, where: str, preset: str | None = None, seeds: int = 1) -> dict:
    """A resolved run (a record's or a bundle's `config`) as the data of a run file for
    experiments/train.py that gives the same cell: its corpora, model, preset and seed, and
    every setting the preset would not give it (at `preset`, or for a bundle the preset that
    needs fewest settings). Where it is kept (save_bundle, tensorboard...) is left out.
    Checked: the file's run has the record's identity, or the mismatch is refused in one line
    naming the setting."""
    from bioner_mtl.training.spec.presets import PRESETS

    aux = list(config.get("aux") or ())
    weights = config.get("loss_weights") or {}
    if weights and (set(weights) != set(aux) or len(set(weights.values())) > 1):
        raise InputError(f"{where}: its loss weights ({json.dumps(weights)}) are not one "
                         "weight for every partner, which is all train.py's --aux-weight says")
    theirs = _comparable(config)
    tried = []
    for name in ([preset] if preset in PRESETS else sorted(PRESETS, key=lambda p: p != "quick")):
        data = {"main": config["main"], **({"aux": aux} if aux else {}),
                "model": config["model"], "preset": name, "seed": config["seed"],
                "seeds": seeds}
        if weights:
            data["aux_weight"] = next(iter(weights.values()))
        train = config.get("train", {})
        if config.get("train_on", "train") != "train":  # train.py's fixed length is a flag
            data["train_on"] = config["train_on"]
            length = "steps" if train.get("steps") is not None else "epochs"
            data[length] = train[length]
        ours = _comparable(_train_run(data, where))
        settings: dict[str, Any] = {}
        for key in sorted(set(theirs) | set(ours)):
            if key not in theirs or theirs[key] == ours.get(key):
                continue
            value = _toml_value(theirs[key])
            if key.startswith("model_options."):
                settings[key.removeprefix("model_options.")] = value
            elif key.startswith("train."):
                settings.setdefault("train", {})[key.removeprefix("train.")] = value
            elif key in RUN_FLAG_KEYS:
                data[key] = theirs[key]
            else:
                settings[key] = value
        if settings:
            data["set"] = settings
        again = _comparable(_train_run(data, where))
        differs = sorted(k for k in set(theirs) | set(again) if theirs.get(k) != again.get(k))
        if not differs:
            return data
        tried.append((name, differs[0], again.get(differs[0], "(unset)")))
    name, key, value = tried[0]
    raise InputError(f"{where}: train.py cannot give this run's cell: at preset {name} its "
                     f"{key} would be {json.dumps(value)}, the record's is "
                     f"{json.dumps(theirs.get(key, '(unset)'))}")


def run_file_text(data: dict, where: str | None = None) -> str:
    """A run file's text: a comment saying what it is, then the TOML."""
    run = _train_run(data, where or "the run file")
    partners = f" with {', '.join(run.aux)}" if run.aux else ""
    seeds = data.get("seeds", 1)
    cell = f"cell {cell_key(run)}" if seeds == 1 else f"{seeds} seeds from {run.seed}"
    said = (f"bioner-mtl train --config FILE: {run.main}{partners}, {run.model}, "
            f"{data['preset']} preset, {cell}" + (f"\nfrom {where}" if where else ""))
    return runfile.dumps(data, said)


def read_recorded_run(text: str) -> tuple[dict, str]:
    """--from-record's loader: a recorded run as a run file's data, and where it was read."""
    config, where, preset = recorded_run(text)
    return run_file_data(config, where, preset), where
