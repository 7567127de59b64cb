"""WANG's BiLSTM family at paper sizes: where the 128-d projections sit, checked against the
parameter differences of WANG table 3 (STM / FS-MTM 3.68M, SP-MTM 5.41M, CS-MTM 5.44M).

Every BiLSTM (shared and private) has its own Dense(128); the gate, the discriminator and each
task's CRF read those projected states, the CRF with no projection of its own.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioner_mtl.models.base import Features
from bioner_mtl.models.bilstm_crf import ProjectedBiLSTM
from bioner_mtl.training.spec.catalogue import MODELS

TASKS = {"main": 5, "aux": 9}  # IOBES with one and with two entity types
VOCAB, CHARS, WORD_DIM = 20000, 80, 100  # same vocabulary and characters for every model
NAMES = ("bilstm-crf", "shared-private", "adversarial", "cross-sharing")


def small_batch(rng: np.random.Generator):
    mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    chars = rng.integers(1, CHARS, (2, 6, 20)).astype("int32")
    chars[:, :, 8:] = 0  # words of 8 characters, padded to the featurizer's 20
    inputs = {"token_ids": np.where(mask, rng.integers(2, VOCAB, (2, 6)), 0).astype("int32"),
              "char_ids": np.where(mask[..., None], chars, 0).astype("int32"),
              "padding_mask": mask, "tag_mask": mask}
    return inputs, np.zeros((2, 6), "int32")


@pytest.fixture(scope="module")
def built():
    """name -> (model, trainable parameter count), variables created through the loss."""
    import keras

    rng = np.random.default_rng(0)
    features = Features(rng.normal(size=(VOCAB, WORD_DIM)).astype("float32"), CHARS)
    inputs, tags = small_batch(rng)
    models = {}
    for name in NAMES:
        keras.utils.set_random_seed(0)
        spec = MODELS[name]
        model = spec.build(spec.config, TASKS, features)
        for task in TASKS:
            model.task_loss(inputs, tags, task, training=False)
        count = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        models[name] = (model, count)
    return models, inputs


def test_paper_sizes_are_the_registry_defaults():
    for name in NAMES:
        config = MODELS[name].config
        assert (config.lstm, config.projection, config.char_dim, config.char_filters) == (
            256, 128, 30, 30), name


def test_parameter_differences_match_wang_table_3(built):
    models, _ = built
    count = {name: c for name, (_, c) in models.items()}
    # two private BiLSTMs with their projections: 5.41M - 3.68M
    assert count["shared-private"] - count["bilstm-crf"] == pytest.approx(1.73e6, rel=0.02)
    # two 128 x 128 gates with biases: 5.44M - 5.41M
    assert round((count["cross-sharing"] - count["shared-private"]) / 1e6, 2) == 0.03
    assert count["cross-sharing"] - count["shared-private"] == 2 * (128 * 128 + 128)
    assert count["adversarial"] - count["shared-private"] == 128 * 2 + 2  # discriminator


def encoders(model) -> list[ProjectedBiLSTM]:
    return [model.shared, *model.private.values()]


@pytest.mark.parametrize("name, bilstms", [("bilstm-crf", 1), ("shared-private", 3),
                                           ("adversarial", 3), ("cross-sharing", 3)])
def test_every_bilstm_has_its_own_128_d_projection(built, name, bilstms):
    model = built[0][name][0]
    found = encoders(model)
    assert len(found) == bilstms
    assert all(isinstance(e, ProjectedBiLSTM) for e in found)
    projections = [e.projection for e in found]
    assert len({id(p) for p in projections}) == bilstms  # not one layer reused
    for p in projections:
        assert p.units == 128 and tuple(p.kernel.shape) == (2 * 256, 128)
    kernels = [v for v in model.trainable_variables if v.path.endswith("projection/kernel")]
    assert len(kernels) == bilstms  # no per-task projection besides the BiLSTMs' own


@pytest.mark.parametrize("name", NAMES)
def test_crf_reads_the_concatenated_projections_directly(built, name):
    model, inputs = built[0][name][0], built[1]
    width = 128 if name == "bilstm-crf" else 2 * 128  # [S] or [S ; P_k] / [G_k ; S]
    for task in TASKS:
        features, shared, private = model.encode(inputs, task, training=False)
        assert features.shape[-1] == width and shared.shape[-1] == 128
        assert private is None or private.shape[-1] == 128  # what L_diff reads
        assert tuple(model.heads[task].dense.kernel.shape) == (width, TASKS[task])


def test_gates_and_discriminator_read_128_d_states(built):
    cross = built[0]["cross-sharing"][0].cross
    for gate in (cross.gate_main, cross.gate_aux):
        assert tuple(gate.kernel.shape) == (128, 128) and tuple(gate.bias.shape) == (128,)
    discriminator = built[0]["adversarial"][0].discriminator
    assert tuple(discriminator.kernel.shape) == (128, len(TASKS))
