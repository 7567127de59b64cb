"""The catalogue: every model variant is one entry here, and nothing else lists model names.

An entry carries everything the rest of the code asks about a model: its builder, the family's
configuration (paper settings by default), the paper's training settings and run settings, the
quick preset, how it sees text (featurizer), corpora it trains first, the single-task model a
grid compares it with, and the paper table and column the report puts it in. `register` adds
one (a variant for an experiment, a test's tiny model) without touching any other file.

Importing it loads no TensorFlow: configs come from models/configs.py and builders are named
("bioner_mtl.models.window_cnn:build_window_cnn"), imported on first build, so a command
checks every run in a fraction of a second before anything heavy starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bioner_mtl.data.errors import InputError
from bioner_mtl.models.configs import POS_TASK, BertConfig, BiLSTMConfig, WindowConfig
from bioner_mtl.training.spec.config import TrainConfig

FEATURIZERS = {  # word vectors (+ characters); BERT word pieces
    "words": "bioner_mtl.training.fit.word_features:WordFeaturizer",
    "subwords": "bioner_mtl.training.fit.subword_features:SubwordFeaturizer"}


@dataclass(frozen=True)
class PaperColumn:
    """Where the report shows a model: a paper's table, and its column for a run alone and
    for a run with partners (None: that kind of run has no column there). Where the paper
    reports one-partner runs apart from its model on every corpus (CRICHTON: table 2 beside
    table 9's MO-MTM on all 15), `one_partner` is their column and `with_partners` takes
    only a run with every other bundled corpus."""

    table: str  # "CRICHTON" (tables 9 and 2), "WANG" (table 2), "BERT" (KHAN / TONG / RODRIGUEZ)
    alone: str | None
    with_partners: str | None
    one_partner: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    # (family config, {task: num labels}, Features) -> TaggerModel: the function, or
    # "module:name", imported on first build (Keras loads then, not when the catalogue does)
    builder: Callable | str
    config: Any  # the family's frozen config dataclass, paper settings
    train: TrainConfig  # the paper's optimiser, batch size and length
    summary: str
    quick: dict[str, dict[str, Any]] = field(default_factory=dict)  # model/train/run overrides
    run: dict[str, Any] = field(default_factory=dict)  # the paper's run settings (vectors...)
    needs_chars: bool = False
    featurizer: str = "words"  # "words" (vectors, chars) or "subwords" (BERT word pieces)
    pretrain_tasks: tuple[str, ...] = ()  # corpora trained first, before the schedule starts
    baseline: str | None = None  # the single-task model a grid compares with (None: itself)
    paper: PaperColumn | None = None  # the report's paper table and column (None: none)

    def build(self, config: Any, tasks: dict[str, int], features: Any):
        """The family's model for `tasks` (its builder imported here: Keras loads now)."""
        return loaded(self.builder)(config, tasks, features)

    def featurizer_class(self):
        return featurizer_class(self.featurizer)

    def model_config(self, overrides: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(self.config)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise InputError(f"unknown model option(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(sorted(names))}")
        return dataclasses.replace(self.config, **overrides)


_WINDOW_QUICK = {
    "model": {"filters": 25, "hidden": 150, "dropout": 0.5},
    # A fixed length: 1,600 main-corpus batches (a partner's batches on top: 'alternate' gives
    # a partner's model the same main batches as the baseline plus one partner batch after
    # each), Adam's rate warmed up over 5% of the steps, then decayed linearly to zero; devel
    # scored once, at the end. Against stopping each cell when devel stalled, the partners'
    # gains came out larger at the same single-task F1, and 6 seeds decided 4 of 5
    # measured pairs instead of 2, at 1.5-2x the steps per cell (RESULTS.md, issue 24).
    # Devel, test and the kept model use a moving average of the weights (decay 0.99 per step).
    "train": {"learning_rate": 4e-3, "batch_size": 32, "steps": 1600, "warmup": 0.05,
              "eval_every": 0, "patience": None, "ema": 0.99},
    # Same vectors for every cell (bundled text), so a partner's gain is not a vectors effect;
    # a quarter of the main corpus: the small corpus a user brings.
    "run": {"vector_dim": 50, "train_fraction": 0.25, "devel_limit": 600,
            "schedule": "alternate"},
}

# Adam 1e-4, 8-sentence batches, best devel epoch of 20 (the authors' code trains 20 epochs)
_CRICHTON_TRAIN = TrainConfig(epochs=20)

MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(
        "bioner_mtl.models.window_cnn:build_mlp",
        # the authors' baseline_config.py: SGD 0.1, word vectors fine-tuned, 20 epochs
        WindowConfig(filter_widths=(), hidden=300, dropout=0.0, fixed_vectors=False),
        TrainConfig(optimizer="sgd", learning_rate=0.1, batch_size=2, epochs=20),
        "CRICHTON MLP baseline: 7-word window -> dense 300 -> softmax per task",
        quick={**_WINDOW_QUICK, "model": {"hidden": 300},
               "train": {**_WINDOW_QUICK["train"], "optimizer": "sgd", "learning_rate": 0.1}},
        paper=PaperColumn("CRICHTON", "MLP", None),
    ),
    "window-cnn": ModelSpec(
        "bioner_mtl.models.window_cnn:build_window_cnn",
        WindowConfig(),
        _CRICHTON_TRAIN,
        "CRICHTON window CNN: STM with one corpus, multi-output MTM (MO-MTM) with several",
        quick=_WINDOW_QUICK,
        # table 9's MO-MTM trained on all 15 corpora; table 2 gives one-partner gains
        paper=PaperColumn("CRICHTON", "STM", "MO-MTM all corpora", "MO-MTM one partner"),
    ),
    "dependent-cnn": ModelSpec(
        "bioner_mtl.models.window_cnn:build_dependent_cnn",
        WindowConfig(),
        _CRICHTON_TRAIN,
        "CRICHTON dependent MTM (D-MTM): a GENIA POS window CNN feeds its hidden layer",
        quick={**_WINDOW_QUICK, "train": {**_WINDOW_QUICK["train"], "pretrain_steps": 600,
                                                    "pretrain_eval_every": 100,
                                                    "pretrain_patience": 2}},
        pretrain_tasks=(POS_TASK,),
        # D-MTM is itself multi-task (POS feeds it): CRICHTON compares it with the STM; their
        # D-MTM has no NER partner, so a run with one is in no paper column
        baseline="window-cnn",
        paper=PaperColumn("CRICHTON", "D-MTM", None),
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


def _bilstm(sharing: str, summary: str, paper: PaperColumn, **extra) -> ModelSpec:
    return ModelSpec("bioner_mtl.models.bilstm_crf:build_bilstm_crf", BiLSTMConfig(sharing=sharing),
                     _WANG_TRAIN, summary, quick=_BILSTM_QUICK, run=_WANG_RUN, needs_chars=True,
                     baseline=extra.pop("baseline", "bilstm-crf"), paper=paper, **extra)


MODELS.update({
    "bilstm-crf": _bilstm("fully-shared", "WANG/Ma & Hovy BiLSTM-CNN-CRF: STM with one corpus, "
                          "fully-shared MTM (one BiLSTM, a CRF per corpus) with several",
                          PaperColumn("WANG", "STM", "FS-MTM"), baseline=None),
    "shared-private": _bilstm("shared-private", "WANG SP-MTM: shared BiLSTM + a private "
                              "BiLSTM per corpus; CRF_k on [S ; P_k]",
                              PaperColumn("WANG", None, "SP-MTM")),
    "adversarial": _bilstm("adversarial", "WANG ADV-MTM: SP-MTM + corpus discriminator behind "
                           "gradient reversal (alpha) + orthogonality loss (beta)",
                           PaperColumn("WANG", None, "ADV-MTM")),
    "cross-sharing": _bilstm("cross-sharing", "WANG CS-MTM: two private BiLSTMs gate each "
                             "other; CRF_k on [G_k ; S] (main + one auxiliary)",
                             PaperColumn("WANG", None, "CS-MTM")),
})

MODELS["bert"] = ModelSpec(
    "bioner_mtl.models.bert_tagger:build_bert", BertConfig(),
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
    paper=PaperColumn("BERT", "single-task", "multi-head"),
)


def loaded(reference: Callable | str):
    """A builder or class given as "module:name", imported now (a callable is itself)."""
    if callable(reference):
        return reference
    import importlib

    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def featurizer_class(kind: str):
    """The featurizer class of a kind, imported on first use (the subword one loads
    keras-hub); trainer and bundles both ask here."""
    return loaded(FEATURIZERS[kind])


def baseline_of(name: str) -> str:
    """The single-task model a multi-task model is compared with: a grid's single-task cell,
    the report's baseline (a name the catalogue does not know is its own baseline)."""
    spec = MODELS.get(name)
    return (spec.baseline if spec else None) or name


def get_model(name: str) -> ModelSpec:
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return MODELS[name]


def register(name: str, spec: ModelSpec) -> ModelSpec:
    """Add a model variant under a new name (one call, nothing else to edit)."""
    if name in MODELS:
        raise InputError(f"model {name!r} is registered already; choose another name")
    if spec.baseline is not None and spec.baseline not in MODELS:
        raise InputError(f"model {name!r}: its baseline {spec.baseline!r} is not registered")
    MODELS[name] = spec
    return spec


def variant(name: str, base: str, summary: str, **changes) -> ModelSpec:
    """A registered copy of `base` with other family options (config=...), settings or labels:
    `variant("wide-cnn", "window-cnn", "...", config_options={"hidden": 600})`."""
    options = changes.pop("config_options", {})
    parent = get_model(base)
    spec = dataclasses.replace(parent, summary=summary,
                               config=parent.model_config(options), **changes)
    return register(name, spec)


def catalogue_help(columns: int | None = None) -> str:
    """The registered models, one entry each (its summary wrapped to `columns`, default the
    terminal's width as argparse has it), for every command's --help."""
    import shutil
    import textwrap

    columns = columns or max(shutil.get_terminal_size().columns - 2, 40)
    width = max(map(len, MODELS))
    indent = " " * (width + 4)
    return "\n".join(textwrap.fill(spec.summary, max(columns, len(indent) + 20),
                                   initial_indent=f"  {name:{width}}  ",
                                   subsequent_indent=indent, break_on_hyphens=False)
                     for name, spec in MODELS.items())


# The BERT papers' own settings, selectable by name; `bert` keeps the family's shared defaults.
# Each inherits bert's quick preset (lr 1e-4, batch 16, 3 epochs with early stopping, length
# 96, 30% of the main corpus: docs/models.md lists how far that is from each paper). Where
# neither SPEC.md nor the paper gives a value the bert entry's is kept and the summary says so.
_BERT_TRAIN = MODELS["bert"].train
variant("bert-khan", "bert",
        "KHAN MT-BioNER: the bert model with KHAN's settings: linear warm-up over 40% of the "
        "steps, 8 epochs, max length 128, all corpora's batches merged and shuffled "
        "(algorithm I); lr 5e-5, batch 32 as bert",
        train=dataclasses.replace(_BERT_TRAIN, warmup=0.4, epochs=8),
        run={"schedule": "shuffled", "tag_scheme": "IOB2"},
        paper=PaperColumn("BERT", "KHAN single-task", "KHAN MTL"))
variant("bert-tong", "bert",
        "TONG multi-granularity: max length 256, warm-up 10%, the mtCLS, bCLS and mCLS heads "
        "(each a projection to the hidden size with tanh, then a classifier) on max pooling "
        "(TONG's best), L = L_ner + L_mtCLS + L_bCLS + L_mCLS (weights 1: SPEC.md gives none); "
        "lr 1e-5 and 100 epochs as TONG (who train 50-100; their BioBERT baseline 100), the "
        "best devel epoch kept",
        config_options={"max_length": 256, "pooling": "max", "ner_weight": 1.0,
                        "mtcls_weight": 1.0, "bcls_weight": 1.0, "mcls_weight": 1.0},
        train=dataclasses.replace(_BERT_TRAIN, warmup=0.1, learning_rate=1e-5, epochs=100),
        # TONG's model is one corpus with heads derived from its labels: with partners it is
        # ours alone
        paper=PaperColumn("BERT", "TONG one corpus", "TONG multi-corpus"))
variant("bert-rodriguez", "bert",
        "RODRIGUEZ: 512-subword rows packing a document's sentences (never splitting a "
        "mention), every subword trained on its word's label and the word read from its last "
        "subword (label_on=every-last), one batch per corpus in turn (round-robin, no "
        "upsampling; --schedule round-robin-upsample for it), 20 epochs as RODRIGUEZ; lr 5e-5 "
        "and warm-up 10% as bert (not in SPEC.md)",
        config_options={"max_length": 512, "pack": True, "label_on": "every-last"},
        train=dataclasses.replace(_BERT_TRAIN, epochs=20),
        run={"schedule": "round-robin", "tag_scheme": "IOB2"},
        paper=PaperColumn("BERT", "RODRIGUEZ single-task", "RODRIGUEZ MTL"))
