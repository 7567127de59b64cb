"""Presets: 'paper' (the publications' settings) and 'quick' (minutes on a laptop CPU).

Resolution order: RunConfig defaults -> the model's paper settings -> the preset -> the
command line. The result is one frozen RunConfig that fully describes a run. Resolving and
checking a run imports no TensorFlow (the catalogue names its builders), so a mistake stops
at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bioner_mtl.data import corpora
from bioner_mtl.data.errors import InputError
from bioner_mtl.models.configs import ACTIVATIONS, EVERY_PIECE, LABEL_ON, POOLINGS, SHARINGS
from bioner_mtl.training.spec.catalogue import MODELS, baseline_of, get_model
from bioner_mtl.training.spec.config import (
    RunConfig,
    TrainConfig,
    check_design,
    check_train,
    coerce,
    is_int,
    is_number,
    replace,
    setting,
)
from bioner_mtl.training.spec.feasible import check_size
from bioner_mtl.training.spec.schedules import get_schedule

PRESETS = ("quick", "paper")
TAG_SCHEMES = ("IOB2", "IOBES")
VECTOR_CORPORA = ("bundled", "run")
MIN_MAX_LENGTH = 3  # [CLS], one subword of a word, [SEP]
# run fields with their own flag: messages name the flag
RUN_FLAGS = {"train_fraction": "--train-fraction", "gpus": "--gpus", "seed": "--seed",
             "tag_scheme": "--tag-scheme", "schedule": "--schedule", "vectors": "--vectors",
             "tensorboard": "--tensorboard"}
# fields --set cannot change: a flag decides them (--set seed=5 would be overridden by --seed)
FLAG_ONLY = {"main": "--main", "aux": "--aux", "model": "--model", "seed": "--seed/--seeds",
             "loss_weights": "--aux-weight", "train": "--set train.NAME=VALUE",
             "model_options": "--set NAME=VALUE"}
CHOICES = {"sharing": SHARINGS, "pooling": POOLINGS, "label_on": LABEL_ON,
           "precision": ("auto", "float32", "bfloat16")}  # model options with named values


def resolve(main: str, model: str, preset: str = "quick", *, run: dict[str, Any] | None = None,
            train: dict[str, Any] | None = None, model_options: dict[str, Any] | None = None
            ) -> RunConfig:
    """The resolved run: explicit arguments beat the preset, which beats paper defaults. A
    length given explicitly (train epochs or steps) is the length: the preset's floor of
    main-corpus batches goes with it, unless min_main_batches is given too."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    spec = get_model(model)
    quick = spec.quick if preset == "quick" else {}
    options = {**quick.get("model", {}), **(model_options or {})}
    spec.model_config(options)  # names unknown options early
    train = dict(train or {})
    if (train.get("epochs") is not None or train.get("steps") is not None) \
            and "min_main_batches" not in train:
        train["min_main_batches"] = 0  # --epochs 3 trained ~73 epochs under the quick floor
    if train.get("epochs") is not None and "steps" not in train:
        train["steps"] = None  # the preset's steps would override the epochs given
    train_config = replace(spec.train, **{**quick.get("train", {}), **train})
    return replace(RunConfig(main=main, model=model), **{**spec.run, **quick.get("run", {}),
                                                        **(run or {}),
                                                        "model_options": options,
                                                        "train": train_config})


def setting_like(key: str, model: str) -> tuple[str, Any]:
    """What `--set key=VALUE` sets, and the default its value is read like: ('train', ...) for
    'train.NAME', ('run', ...) for a RunConfig field, ('model', ...) for an option of model
    `model`'s family. An unknown key, or one a flag decides, is refused in one line."""
    if key.startswith("train."):
        name = key.removeprefix("train.")
        if not hasattr(TrainConfig(), name):
            raise InputError(f"--set {key}: unknown training setting; valid: "
                             f"{', '.join(f.name for f in dataclasses.fields(TrainConfig))}")
        return "train", getattr(TrainConfig(), name)
    if key in FLAG_ONLY:
        raise InputError(f"--set {key}: set it with {FLAG_ONLY[key]}, not --set")
    if key in {f.name for f in dataclasses.fields(RunConfig)}:
        return "run", getattr(RunConfig(main="x"), key)
    model_defaults = get_model(model).config
    if hasattr(model_defaults, key):
        return "model", getattr(model_defaults, key)
    raise InputError(f"--set {key}: not a setting of the run, of training (train.NAME) "
                     f"or of model {model}; model settings: "
                     f"{', '.join(f.name for f in dataclasses.fields(model_defaults))}")


def parse_settings(pairs: list[str], model: str) -> tuple[dict, dict, dict]:
    """Split '--set key=value' pairs into run, train and model option overrides.

    'train.learning_rate=1e-3' goes to TrainConfig, a RunConfig field name to the run, any
    other name to the model family's configuration. A key given twice takes the later value.
    """
    found: dict[str, dict] = {"run": {}, "train": {}, "model": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set hidden=600")
        kind, like = setting_like(key, model)
        try:
            parsed = coerce(value, like)
        except InputError as err:  # name the setting, not only the value
            raise InputError(f"--set {pair}: {err}") from None
        found[kind][key.removeprefix("train.") if kind == "train" else key] = parsed
    return found["run"], found["train"], found["model"]


def check_model_config(model: str, config: Any, where: str | None = None) -> None:
    """Stop on model options that would crash the build or train something else than asked:
    sizes of at least 1, dropout in [0, 1), loss weights of 0 or more, named choices.
    Messages name the `--set` that gives the value, or `where` it was read from."""
    def bad(name: str, rule: str) -> InputError:
        value = getattr(config, name)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        said = f"{where}: {name}={shown!r}" if where else setting(name, shown)
        return InputError(f"{said}: {rule} (model {model})")

    defaults = type(config)()
    for f in dataclasses.fields(config):
        name, value, default = f.name, getattr(config, f.name), getattr(defaults, f.name)
        if name in CHOICES and value not in CHOICES[name]:
            raise bad(name, f"choose one of {', '.join(CHOICES[name])}")
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise bad(name, "true or false")
        elif is_int(default):
            least = MIN_MAX_LENGTH if name == "max_length" else 1
            if not is_int(value) or value < least:
                why = " ([CLS], a word and [SEP])" if name == "max_length" else ""
                raise bad(name, f"a whole number of at least {least}{why}")
        elif isinstance(default, float):
            if name == "dropout" and not (is_number(value) and 0 <= value < 1):
                raise bad(name, "the drop rate must be in [0, 1), e.g. 0.5")
            if not is_number(value) or value < 0:
                raise bad(name, "a weight of 0 or more")
        elif isinstance(default, tuple) and not all(is_int(v) and v >= 1 for v in value):
            raise bad(name, "whole numbers of at least 1, separated by commas")
    window = getattr(config, "window", None)
    if window is not None and window % 2 != 1:
        raise bad("window", "an odd number of words (the token in the middle), e.g. 7")
    if window is not None and any(w > window for w in config.filter_widths):
        raise bad("filter_widths", f"filter widths cannot exceed the window of {window} words")
    label_on = getattr(config, "label_on", None)
    if label_on in EVERY_PIECE and config.crf:
        raise bad("label_on", f"label_on={label_on} trains every subword: use softmax heads "
                              "(crf=false) or label_on first/last")
    activation = getattr(config, "projection_activation", None)
    if activation is not None and activation not in ACTIVATIONS:
        raise bad("projection_activation", "not a Keras activation; e.g. elu, or linear "
                                           "for the paper text's linear unit")
    if getattr(config, "aux_activation", "tanh") not in ACTIVATIONS:
        raise bad("aux_activation", "not a Keras activation; e.g. tanh (BERT's pooler)")
    size = getattr(config, "aux_projection", None)
    if size is not None and not (is_int(size) and size >= 0):
        raise bad("aux_projection", "a whole number of 0 or more (0: no projection), or none "
                                    "for the encoder's hidden size")


def check_run(run: RunConfig) -> None:
    """Stop on impossible combinations before any data is read."""
    spec = get_model(run.model)
    get_schedule(run.schedule)
    check_train(run.train)
    check_design(run)
    config = spec.model_config(run.model_options)
    check_model_config(run.model, config)
    for name in run.tasks:
        if corpora.spec_for(name).kind != "ner":
            raise InputError(f"{name} is a part-of-speech corpus, not an NER corpus: it cannot "
                             "be a main or auxiliary corpus (only dependent-cnn uses it, as its "
                             "pretraining task); choose NER corpora")
    if getattr(config, "sharing", None) == "cross-sharing" and len(run.aux) != 1:
        given = ", ".join(run.aux) or "none"
        raise InputError(f"model {run.model} gates exactly two corpora, the main one and one "
                         f"auxiliary, but got {len(run.aux)} auxiliaries ({given}): give --aux "
                         "one corpus, or use shared-private for several")
    check_run_fields(run)
    check_size(run)  # before TensorFlow: a model that cannot fit in memory
    twice = corpora.duplicates(list(run.tasks))  # by name, folder or link alike
    if twice and twice[0] == run.main:
        shown = "" if twice[1] == run.main else f" (as {twice[1]})"
        raise InputError(f"main corpus {run.main} is also listed as its own auxiliary"
                         f"{shown}; drop it from --aux")
    if twice:
        shown = (f"{twice[0]} twice" if twice[0] == twice[1]
                 else f"{twice[0]} and {twice[1]}, the same corpus")
        raise InputError(f"auxiliary corpora listed twice: {shown} (in {', '.join(run.aux)})")
    cut = corpora.shrunk_overlap(list(run.tasks))
    if cut:
        raise InputError(f"{cut[0]} and {cut[1]} are the same corpus, one cut to a share of its "
                         "training sentences: the partner would repeat the main corpus's own "
                         "sentences; give another corpus as the partner")
    if run.init_encoder and not Path(run.init_encoder).exists():
        raise InputError(f"init_encoder {run.init_encoder}: no such weights file; train the "
                         "multi-task model first (it writes it with save_encoder)")
    if run.save_encoder and not run.save_encoder.endswith(".weights.h5"):
        raise InputError(f"save_encoder {run.save_encoder}: the file name must end in "
                         ".weights.h5")
    unknown = sorted(set(run.loss_weights) - set(run.tasks))
    if unknown:
        raise InputError(f"loss weight for {', '.join(unknown)}, which is not a task of this run")
    for name, weight in run.loss_weights.items():
        if not is_number(weight) or weight < 0:
            raise InputError(f"loss weight {weight} for {name} (--aux-weight): a weight of 0 "
                             "or more; a negative one would train the task to be wrong")


def check_run_fields(run: RunConfig) -> None:
    """Run fields that are numbers or named values: in range, never a 0 read as 'not set'."""
    def bad(name: str, rule: str) -> InputError:
        return InputError(f"{setting(name, getattr(run, name), RUN_FLAGS)}: {rule}")

    if not is_int(run.seed) or not 0 <= run.seed < 2 ** 32:
        raise bad("seed", "seeds are whole numbers from 0 to 2**32 - 1")
    if not is_number(run.train_fraction) or not 0 < run.train_fraction <= 1:
        raise bad("train_fraction", "the share of the main corpus's training sentences kept "
                                    "must be in (0, 1], e.g. 0.5 keeps half")
    if run.vectors != "trained" and not Path(str(run.vectors)).is_file():
        raise bad("vectors", "no such vectors file; give a word2vec (.bin or text), GloVe or "
                             ".npz file, or leave --vectors out for vectors trained on the "
                             "bundled text")
    if run.tensorboard is not None and (not isinstance(run.tensorboard, str)
                                        or Path(run.tensorboard).is_file()):
        raise bad("tensorboard", "a file, not a directory; give a directory for the "
                                 "TensorBoard logs (one folder per cell inside)")
    if not is_int(run.gpus) or run.gpus < 1:
        raise bad("gpus", "data-parallel replicas: at least 1")
    if run.tag_scheme not in TAG_SCHEMES:
        raise bad("tag_scheme", f"choose one of {', '.join(TAG_SCHEMES)}")
    if run.vector_corpora not in VECTOR_CORPORA:
        raise bad("vector_corpora", f"choose one of {', '.join(VECTOR_CORPORA)}")
    for name in ("vector_dim", "vector_epochs"):
        if not is_int(getattr(run, name)) or getattr(run, name) < 1:
            raise bad(name, "a whole number of at least 1")
    if not is_int(run.vector_seed) or run.vector_seed < 0:
        raise bad("vector_seed", "a whole number of 0 or more")
    for name in ("devel_limit", "test_limit"):
        value = getattr(run, name)
        if value is not None and (not is_int(value) or value < 1):
            raise bad(name, "score the first N sentences: N of at least 1, or none for the "
                            "whole split")


def single_task(run: RunConfig) -> RunConfig:
    """The grid's single-task cell for `run`: the same main corpus and settings, no partner,
    trained with the catalogue's baseline of its model (what every grid trains, and the
    model the trainer's paired start copies) (cross-sharing, which needs a partner,
    and the other multi-task BiLSTMs: bilstm-crf; dependent-cnn: window-cnn). Model options
    the baseline does not have are dropped."""
    model = baseline_of(run.model)
    options = run.model_options
    if model != run.model and model in MODELS:
        names = {f.name for f in dataclasses.fields(MODELS[model].config)}
        options = {k: v for k, v in options.items() if k in names}
    return replace(run, model=model, aux=(), loss_weights={}, model_options=options)
