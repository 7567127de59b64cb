"""Presets: 'paper' (the publications' settings) and 'quick' (minutes on a laptop CPU).

Resolution order: RunConfig defaults -> the model's paper settings -> the preset -> the
command line. The result is one frozen RunConfig that fully describes a run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from data import corpora
from data.ablation import check_fraction
from data.errors import InputError
from models.registry import get_model
from training.config import RunConfig, TrainConfig, coerce, replace
from training.schedules import get_schedule

PRESETS = ("quick", "paper")


def resolve(main: str, model: str, preset: str = "quick", *, run: dict[str, Any] | None = None,
            train: dict[str, Any] | None = None, model_options: dict[str, Any] | None = None
            ) -> RunConfig:
    """The resolved run: explicit arguments beat the preset, which beats paper defaults."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    spec = get_model(model)
    quick = spec.quick if preset == "quick" else {}
    options = {**quick.get("model", {}), **(model_options or {})}
    spec.model_config(options)  # names unknown options early
    train_config = replace(spec.train, **{**quick.get("train", {}), **(train or {})})
    return replace(RunConfig(main=main, model=model), **{**spec.run, **quick.get("run", {}),
                                                        **(run or {}),
                                                        "model_options": options,
                                                        "train": train_config})


def parse_settings(pairs: list[str], model: str) -> tuple[dict, dict, dict]:
    """Split '--set key=value' pairs into run, train and model option overrides.

    'train.learning_rate=1e-3' goes to TrainConfig, a RunConfig field name to the run, any
    other name to the model family's configuration.
    """
    run_fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    train_defaults = TrainConfig()
    model_defaults = get_model(model).config
    run, train, options = {}, {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set hidden=600")
        if key.startswith("train."):
            name = key.removeprefix("train.")
            if not hasattr(train_defaults, name):
                raise InputError(f"--set {key}: unknown training setting; valid: "
                                 f"{', '.join(f.name for f in dataclasses.fields(TrainConfig))}")
            train[name] = coerce(value, getattr(train_defaults, name))
        elif key in run_fields and key not in ("main", "aux", "train", "model_options"):
            default = RunConfig(main="x").__getattribute__(key)
            run[key] = coerce(value, default)
        elif hasattr(model_defaults, key):
            options[key] = coerce(value, getattr(model_defaults, key))
        else:
            raise InputError(f"--set {key}: not a setting of the run, of training (train.NAME) "
                             f"or of model {model}; model settings: "
                             f"{', '.join(f.name for f in dataclasses.fields(model_defaults))}")
    return run, train, options


def check_run(run: RunConfig) -> None:
    """Stop on impossible combinations before any data is read."""
    get_model(run.model)
    get_schedule(run.schedule)
    check_fraction(run.train_fraction)
    for name in run.tasks:
        corpora.spec_for(name)
    if run.main in run.aux:
        raise InputError(f"main corpus {run.main} is also listed as its own auxiliary; "
                         "drop it from --aux")
    if len(set(run.aux)) != len(run.aux):
        raise InputError(f"auxiliary corpora listed twice: {', '.join(run.aux)}")
    if run.init_encoder and not Path(run.init_encoder).exists():
        raise InputError(f"init_encoder {run.init_encoder}: no such weights file; train the "
                         "multi-task model first (it writes it with save_encoder)")
    if run.save_encoder and not run.save_encoder.endswith(".weights.h5"):
        raise InputError(f"save_encoder {run.save_encoder}: the file name must end in "
                         ".weights.h5")
    unknown = sorted(set(run.loss_weights) - set(run.tasks))
    if unknown:
        raise InputError(f"loss weight for {', '.join(unknown)}, which is not a task of this run")
