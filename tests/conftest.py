"""Shared test setup: quiet TensorFlow, a throw-away cache, and tiny run configurations.

A fixture that trains or builds bundles is session-scoped even where one module uses it:
under xdist's worksteal a module's tests are split between the workers and interleaved with
others, and a module-scoped fixture is built again each time a worker comes back to its
module (seen: test_export's bundles built three times, about 60 s of the suite)."""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Grids default to a process pool on a multi-core machine; the tests' tiny grids train here,
# in this process (the executor tests ask for pools by name).
os.environ.setdefault("BIONER_EXECUTOR", "inprocess")

import pytest  # noqa: E402

MAIN_TRAIN_SENTENCES = 250  # about this many main-corpus training sentences in a tiny run


@pytest.fixture(scope="session", autouse=True)
def bioner_cache(tmp_path_factory):
    """Word2vec vectors (and any other cache) go to a session temp dir, never to ~/.cache;
    one dir for all xdist workers of the run (their base temps share a parent), so vectors one
    worker trained the other reads (cache files are written atomically)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        path = base.parent / "bioner-cache"
        path.mkdir(exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("bioner-cache")
    previous = os.environ.get("BIONER_CACHE")
    os.environ["BIONER_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("BIONER_CACHE", None)
    else:
        os.environ["BIONER_CACHE"] = previous


@pytest.fixture(scope="session")
def small_bert_dir(tmp_path_factory):
    """MiniLM cut to two layers (real vocabulary and embeddings), for BERT-family tests."""
    from tests.helpers import small_bert

    return small_bert(tmp_path_factory.mktemp("small-bert"))


@pytest.fixture(scope="session")
def tiny_run(request):
    """Factory: tiny_run(main, aux=(), model="window-cnn", steps=300, eval_every=100, **run)
    -> a RunConfig that trains in seconds on two CPU cores. Keyword arguments naming a
    TrainConfig field go to `train`, `model_options` adds to the tiny model options, the rest
    goes to the RunConfig."""
    from bioner_mtl.data.corpora import load_corpus
    from bioner_mtl.training.spec.catalogue import MODELS
    from bioner_mtl.training.spec.config import RunConfig, TrainConfig

    train_fields = set(TrainConfig.__dataclass_fields__)

    def make(main: str = "NCBI-disease", aux: tuple[str, ...] = (), model: str = "window-cnn",
             steps: int = 300, eval_every: int = 100, **changes) -> RunConfig:
        train = {k: changes.pop(k) for k in list(changes) if k in train_fields}
        if "train_fraction" not in changes:
            size = len(load_corpus(main).train)
            changes["train_fraction"] = min(1.0, round(MAIN_TRAIN_SENTENCES / size, 4))
        options = ({"hidden": 32, "dropout": 0.0} if model == "mlp"
                   else {"filters": 8, "hidden": 32, "dropout": 0.1, "lstm": 16,
                         "projection": 16, "char_dim": 8, "char_filters": 8})
        if model in MODELS:  # keep only the options this family has (other families differ)
            known = {f.name for f in dataclasses.fields(MODELS[model].config)}
            options = {k: v for k, v in options.items() if k in known}
        if model in MODELS and MODELS[model].featurizer == "subwords":
            options.update(encoder=str(request.getfixturevalue("small_bert_dir")),
                           max_length=64)
            train = {"optimizer": "adamw", "learning_rate": 3e-4, **train}
        options.update(changes.pop("model_options", {}))  # a test's own options win
        settings = {"vector_dim": 16, "vector_corpora": "run", "devel_limit": 100,
                    "test_limit": 200,
                    "model_options": options, **changes}
        return RunConfig(
            main=main, aux=tuple(aux), model=model, **settings,
            train=TrainConfig(**{"optimizer": "adam", "learning_rate": 3e-3, "batch_size": 16,
                                 "steps": steps, "eval_every": eval_every,
                                 "pretrain_steps": 30, **train}))

    return make


@pytest.fixture(scope="session")
def two_head_bundle(tiny_run, tmp_path_factory):
    """(trainer, path): a small two-head window CNN (NCBI-disease with BC5CDR-chem) trained
    well enough to find entities, saved as a bundle. One per worker, not per module: the
    predict, bulk-predict and serve tests only read it."""
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import save_bundle

    path = tmp_path_factory.mktemp("two-head-bundle") / "model"
    trainer = Trainer(tiny_run("NCBI-disease", ("BC5CDR-chem",), steps=900, eval_every=300),
                      progress=False)
    trainer.fit()
    save_bundle(trainer, path)
    return trainer, path
