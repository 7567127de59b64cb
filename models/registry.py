"""Every model variant is a name here; adding one touches only this dictionary.

An entry gives the builder, the family's configuration (paper settings by default), the
paper's training settings, and the quick preset's smaller settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from data.errors import InputError
from models import bert_tagger, bilstm_crf, window_cnn
from training.config import TrainConfig


@dataclass(frozen=True)
class ModelSpec:
    build: Callable  # (family config, {task: num labels}, Features) -> TaggerModel
    config: Any  # the family's frozen config dataclass, paper settings
    train: TrainConfig  # the paper's optimiser, batch size and length
    summary: str
    quick: dict[str, dict[str, Any]] = field(default_factory=dict)  # model/train/run overrides
    run: dict[str, Any] = field(default_factory=dict)  # the paper's run settings (vectors...)
    needs_chars: bool = False
    featurizer: str = "words"  # "words" (vectors, chars) or "subwords" (BERT word pieces)
    pretrain_tasks: tuple[str, ...] = ()  # corpora trained first, before the schedule starts
    baseline: str | None = None  # the single-task model a grid compares with (None: itself)

    def model_config(self, overrides: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(self.config)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise InputError(f"unknown model option(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(sorted(names))}")
        return dataclasses.replace(self.config, **overrides)


_WINDOW_QUICK = {
    "model": {"filters": 25, "hidden": 150, "dropout": 0.5},
    # Until devel stops improving: evaluated every 50 main-corpus batches, stopped after 4
    # evaluations without a gain, capped at 16 epochs of the main corpus or 1,500 of its
    # batches, whichever is more (small corpora need more epochs). 'alternate' gives a partner's
    # model the same main batches as the baseline plus one partner batch after each.
    "train": {"learning_rate": 2e-3, "batch_size": 32, "epochs": 16, "min_main_batches": 1500,
              "eval_every": 50, "patience": 4},
    # Same vectors for every cell (bundled text), so a partner's gain is not a vectors effect;
    # a quarter of the main corpus: the small corpus a user brings.
    "run": {"vector_dim": 50, "train_fraction": 0.25, "devel_limit": 600,
            "schedule": "alternate"},
}

MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(
        window_cnn.build_mlp,
        window_cnn.WindowConfig(filter_widths=(), hidden=300, dropout=0.0),
        TrainConfig(optimizer="sgd", learning_rate=0.01, batch_size=2, epochs=10),
        "CRICHTON MLP baseline: 7-word window -> dense 300 -> softmax per task",
        quick={**_WINDOW_QUICK, "model": {"hidden": 300},
               "train": {**_WINDOW_QUICK["train"], "optimizer": "sgd", "learning_rate": 0.1}},
    ),
    "window-cnn": ModelSpec(
        window_cnn.build_window_cnn,
        window_cnn.WindowConfig(),
        TrainConfig(),
        "CRICHTON window CNN: STM with one corpus, multi-output MTM (MO-MTM) with several",
        quick=_WINDOW_QUICK,
    ),
    "dependent-cnn": ModelSpec(
        window_cnn.build_dependent_cnn,
        window_cnn.WindowConfig(),
        TrainConfig(),
        "CRICHTON dependent MTM (D-MTM): a GENIA POS window CNN feeds its hidden layer",
        quick={**_WINDOW_QUICK, "train": {**_WINDOW_QUICK["train"], "pretrain_steps": 300}},
        pretrain_tasks=window_cnn.DependentTagger.pretrain_tasks,
    ),
}

_WANG_TRAIN = TrainConfig(optimizer="rmsprop", learning_rate=1e-3, batch_size=16, clipnorm=5.0,
                          lr_decay=0.03, epochs=80)
_WANG_RUN = {"vector_dim": 100, "schedule": "alternate", "tag_scheme": "IOBES"}
_BILSTM_QUICK = {
    "model": {"lstm": 64, "projection": 32, "char_filters": 16, "char_dim": 16},
    # until devel stops improving (3 evaluations of 100 main batches), at most 8 epochs
    "train": {"batch_size": 16, "epochs": 8, "eval_every": 100, "patience": 3},
    "run": {"vector_dim": 50, "train_fraction": 0.5, "devel_limit": 600},
}


def _bilstm(sharing: str, summary: str, baseline: str | None = None) -> ModelSpec:
    return ModelSpec(bilstm_crf.build_bilstm_crf, bilstm_crf.BiLSTMConfig(sharing=sharing),
                     _WANG_TRAIN, summary, quick=_BILSTM_QUICK, run=_WANG_RUN, needs_chars=True,
                     baseline=baseline)


MODELS.update({
    "bilstm-crf": _bilstm("fully-shared", "WANG/Ma & Hovy BiLSTM-CNN-CRF: STM with one corpus, "
                          "fully-shared MTM (one BiLSTM, a CRF per corpus) with several"),
    "shared-private": _bilstm("shared-private", "WANG SP-MTM: shared BiLSTM + a private "
                              "BiLSTM per corpus; CRF_k on [S ; P_k]"),
    "adversarial": _bilstm("adversarial", "WANG ADV-MTM: SP-MTM + corpus discriminator behind "
                           "gradient reversal (alpha) + orthogonality loss (beta)"),
    "cross-sharing": _bilstm("cross-sharing", "WANG CS-MTM: two private BiLSTMs gate each "
                             "other; CRF_k on [G_k ; S] (main + one auxiliary)",
                             baseline="bilstm-crf"),
})

MODELS["bert"] = ModelSpec(
    bert_tagger.build_bert, bert_tagger.BertConfig(),
    TrainConfig(optimizer="adamw", learning_rate=5e-5, weight_decay=0.01, warmup=0.1,
                clipnorm=1.0, batch_size=32, epochs=3),
    "KHAN/RODRIGUEZ/TONG BERT multi-head: a shared encoder (MiniLM by default, BioBERT from "
    "a local directory) and one linear (or CRF) head per corpus; TONG auxiliary heads",
    quick={"train": {"batch_size": 16, "epochs": 3, "eval_every": 75, "patience": 3,
                     "learning_rate": 1e-4},
           "model": {"max_length": 96},
           "run": {"train_fraction": 0.3, "devel_limit": 300}},
    run={"schedule": "shuffled", "tag_scheme": "IOB2"},
    featurizer="subwords",
)


def baseline_of(name: str) -> str:
    """The single-task model a multi-task model is compared with in a grid."""
    return get_model(name).baseline or name


def get_model(name: str) -> ModelSpec:
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return MODELS[name]
