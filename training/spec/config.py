"""Run configuration: frozen dataclasses; presets and the command line override defaults.

A run's resolved configuration is written with its results, so every number can be traced
back to the exact settings, seed and data fraction that produced it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from bioner_mtl.data.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"  # adam | sgd | rmsprop | adamw
    learning_rate: float = 1e-4  # CRICHTON's Adam rate
    batch_size: int = 8  # sentences per batch (~230 tokens, CRICHTON's 200 windows)
    clipnorm: float | None = None  # cap on the global gradient norm: WANG 5, BERT 1
    weight_decay: float = 0.0  # decoupled weight decay (AdamW 0.01 for BERT)
    warmup: float = 0.0  # share of steps with linear warm-up, then linear decay to 0 (BERT)
    lr_decay: float = 0.0  # per-epoch decay: lr x (1 - decay) ** epoch; WANG 0.03 (x 0.97)
    epochs: float | None = 10.0  # epochs of the main corpus; ignored when steps is set
    steps: int | None = None  # main-corpus batches (overrides epochs); partners' on top
    # with epochs: train at least this many main-corpus batches (an explicit length drops it)
    min_main_batches: int = 0
    # main batches between devel evaluations; None: once per epoch; 0: once, at the end (the
    # last weights are kept: a fixed length, nothing selected on devel)
    eval_every: int | None = None
    patience: int | None = None  # evaluations without a gain tolerated; None: never stops
    # Weight averaging: devel, test and the saved model use an exponential moving average of
    # the weights (this decay per step; 0 = the raw weights), which steadies the endpoint
    # that early stopping picks and so narrows the seed spread of paired gains.
    ema: float = 0.0
    # A family's pretrain tasks (the dependent model's POS tagger) train until their devel
    # accuracy stops improving (CRICHTON: 98.10% on GENIA-POS): evaluated every
    # pretrain_eval_every steps, stopped at the first evaluation without a gain after
    # pretrain_patience of them in a row, at most pretrain_steps steps; the best
    # evaluation's weights are kept.
    pretrain_steps: int = 20000
    pretrain_eval_every: int = 500
    pretrain_patience: int = 3


@dataclass(frozen=True)
class RunConfig:
    main: str
    aux: tuple[str, ...] = ()  # auxiliary corpora; () is the single-task baseline
    model: str = "window-cnn"
    schedule: str = "random"  # see training.schedules.SCHEDULES
    seed: int = 1
    train_fraction: float = 1.0  # share of the MAIN corpus's training sentences kept
    viterbi: bool = True  # decode softmax heads with transitions seen in training
    gpus: int = 1  # data-parallel replicas of one model (tf.distribute.MirroredStrategy)
    tag_scheme: str = "IOBES"  # scheme the heads learn; scores are always reported in IOB2
    loss_weights: dict[str, float] = field(default_factory=dict)  # task -> weight (default 1)
    vectors: str = "trained"  # 'trained' (word2vec on the bundled corpora) or a vectors file
    vector_dim: int = 200  # word2vec size when vectors='trained' (CRICHTON used 200)
    vector_epochs: int = 5  # word2vec epochs
    vector_seed: int = 1  # vectors are a shared resource, trained once, not per run seed
    vector_corpora: str = "bundled"  # 'bundled' (all corpora) or 'run' (this run's corpora)
    devel_limit: int | None = None  # evaluate on the first N devel sentences (quick preset)
    test_limit: int | None = None  # smoke tests only: score the first N test sentences
    init_encoder: str | None = None  # start from an encoder saved by another run (weights file)
    save_encoder: str | None = None  # after training, save the best encoder here
    save_bundle: str | None = None  # after training, write a model bundle (directory) here
    model_options: dict[str, Any] = field(default_factory=dict)  # overrides of the family config
    # 'train': select the weights on devel (the default); 'train+devel' (WANG, KHAN, TONG's
    # final models): each corpus's devel split joins its training split, the run trains a
    # fixed length (train.epochs or train.steps) and is scored on test once
    train_on: str = "train"
    # the devel score that picks the weights and drives early stopping: 'main' (the main
    # corpus's devel F1) or 'mean' (the mean devel F1 over every NER head of the model)
    select_on: str = "main"
    length_from: str | None = None  # where a fixed length came from (experiments/train.py)
    # write the training curves here, for `tensorboard --logdir` (training/fit/tensorboard.py)
    tensorboard: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.main, *self.aux)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
FLAGS = {"steps": "--steps", "epochs": "--epochs"}  # training fields with their own flag
TRAIN_ON = ("train", "train+devel")
SELECT_ON = ("main", "mean")


def setting(name: str, value: Any, flags: dict[str, str] | None = None,
            prefix: str = "") -> str:
    """How the user wrote a setting: '--steps -5' for a flag, '--set train.patience=-1'."""
    flag = (flags or {}).get(name)
    return f"{flag} {value}" if flag else f"--set {prefix}{name}={value}"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_train(t: TrainConfig) -> None:
    """Stop on training settings that would crash a run or quietly mean something else (a 0
    read as 'not set', a negative patience that stops at the first evaluation)."""
    def bad(name: str, rule: str) -> InputError:
        return InputError(f"{setting(name, getattr(t, name), FLAGS, 'train.')}: {rule}")

    if t.optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {t.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if not is_number(t.learning_rate) or t.learning_rate <= 0:
        raise bad("learning_rate", "the learning rate must be a number above 0, e.g. 1e-3")
    if not is_int(t.batch_size) or t.batch_size < 1:
        raise bad("batch_size", "sentences per batch: a whole number of at least 1, e.g. 16")
    if t.clipnorm is not None and (not is_number(t.clipnorm) or t.clipnorm <= 0):
        raise bad("clipnorm", "the gradient norm cap must be above 0, or none for no clipping")
    if not is_number(t.weight_decay) or t.weight_decay < 0:
        raise bad("weight_decay", "weight decay must be 0 or more, e.g. 0.01")
    if not is_number(t.warmup) or not 0 <= t.warmup <= 1:
        raise bad("warmup", "the warm-up share of the steps must be in [0, 1], e.g. 0.1")
    if not is_number(t.lr_decay) or not 0 <= t.lr_decay < 1:
        raise bad("lr_decay", "the per-epoch decay must be in [0, 1), e.g. 0.03")
    if t.lr_decay and t.warmup:
        raise bad("lr_decay", f"a per-epoch decay and the warm-up schedule (train.warmup="
                              f"{t.warmup:g}) cannot both set the rate: give train.warmup=0 "
                              "or train.lr_decay=0")
    if t.steps is not None and (not is_int(t.steps) or t.steps < 1):
        raise bad("steps", "training steps must be a whole number of at least 1; leave it "
                           "out to train by epochs")
    if t.epochs is not None and (not is_number(t.epochs) or t.epochs <= 0):
        raise bad("epochs", "epochs of the main corpus must be above 0, e.g. 0.5 or 10")
    if t.steps is None and t.epochs is None:
        raise InputError("no training length: give --steps N or --epochs N")
    if not is_int(t.min_main_batches) or t.min_main_batches < 0:
        raise bad("min_main_batches", "a floor of main-corpus batches: 0 or more")
    if t.eval_every is not None and (not is_int(t.eval_every) or t.eval_every < 0):
        raise bad("eval_every", "main-corpus batches between devel evaluations: at least 1, "
                                "0 for once at the end, or none for once per epoch")
    if not is_number(t.ema) or not 0 <= t.ema < 1:
        raise bad("ema", "the weight-averaging decay per step must be in [0, 1), e.g. 0.99; "
                         "0 turns averaging off")
    if t.patience is not None and (not is_int(t.patience) or t.patience < 0):
        raise bad("patience", "evaluations without a devel gain before stopping: 0 or more, "
                              "or none to never stop early")
    if t.patience is not None and t.eval_every == 0:
        raise bad("patience", "early stopping needs devel evaluations during training, and "
                              "--set train.eval_every=0 scores devel once, at the end: give "
                              "train.eval_every=N (main-corpus batches) or train.patience=none")
    if not is_int(t.pretrain_steps) or t.pretrain_steps < 0:
        raise bad("pretrain_steps", "at most this many steps of the pretraining task: 0 or more")
    if not is_int(t.pretrain_eval_every) or t.pretrain_eval_every < 1:
        raise bad("pretrain_eval_every", "pretraining steps between devel evaluations: at "
                                         "least 1")
    if not is_int(t.pretrain_patience) or t.pretrain_patience < 0:
        raise bad("pretrain_patience", "evaluations without a devel gain before pretraining "
                                       "stops: 0 or more")


def check_design(run: RunConfig) -> None:
    """Stop on a selection design that cannot be run: a train+devel run trains a fixed length
    and never scores devel, so nothing that evaluates, stops or selects on devel goes with it."""
    def bad(name: str, rule: str) -> InputError:  # the flags have choices: a --set said it
        return InputError(f"{setting(name, getattr(run, name))}: {rule}")

    if run.train_on not in TRAIN_ON:
        raise bad("train_on", f"choose one of {', '.join(TRAIN_ON)}")
    if run.select_on not in SELECT_ON:
        raise bad("select_on", f"choose one of {', '.join(SELECT_ON)} (the main corpus's devel "
                               "F1, or the mean over every head)")
    if run.train_on == "train":
        return
    t = run.train
    merged = "--train-on train+devel trains on devel for a fixed length"
    for name, value, why in (
            ("patience", t.patience, "no early stopping"),
            ("eval_every", t.eval_every, "no devel evaluations"),
            ("min_main_batches", t.min_main_batches or None, "the length is --epochs or "
                                                             "--steps alone")):
        if value is not None:
            raise InputError(f"{merged}: drop {setting(name, value, FLAGS, 'train.')} ({why})")
    if run.devel_limit is not None:
        raise InputError(f"{merged}: drop --set devel_limit={run.devel_limit} (the whole devel "
                         "split joins the training data)")
    if run.select_on != "main":
        raise InputError(f"{merged}: drop --select-on {run.select_on} (nothing is selected on "
                         "devel, which is training data here)")


def replace(obj, **changes):
    """dataclasses.replace that names the bad key instead of a TypeError traceback."""
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)} for {type(obj).__name__}; "
                         f"valid: {', '.join(sorted(names))}")
    return dataclasses.replace(obj, **changes)


def coerce(value: str, like: Any) -> Any:
    """Parse a command-line 'key=value' string into the type of the default it overrides."""
    if isinstance(like, bool):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise InputError(f"{value!r} is not a boolean; use true or false")
    try:
        if isinstance(like, tuple):
            return tuple(type(like[0])(v) for v in value.split(",")) if like else tuple(
                int(v) for v in value.split(",") if v)
        if isinstance(like, (int, float)):
            return type(like)(value)
    except ValueError:
        raise InputError(f"{value!r} is not a valid {type(like).__name__}") from None
    if like is None:
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
        return None if value.lower() == "none" else value
    return value
