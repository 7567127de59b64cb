"""The paired design: the baseline's cell and a partner's cell of one seed see the same
main-corpus batches in the same order and start from the same weights wherever their
models share a layer."""

from __future__ import annotations

import numpy as np
import pytest

from bioner_mtl.training.fit.trainer import Trainer, variable_keys
from bioner_mtl.training.spec.presets import single_task

MAIN, AUX = "NCBI-disease", "Ex-PTM"


def main_batches_seen(trainer: Trainer, steps: int) -> list[np.ndarray]:
    seen, step = [], trainer.train_step

    def spy(task, inputs, tags):
        if task == MAIN:
            seen.append(inputs["token_ids"].copy())
        return step(task, inputs, tags)

    trainer.train_step = spy
    trainer.fit()
    return seen


@pytest.mark.parametrize("schedule", ["alternate", "random"])
def test_cells_of_one_seed_see_the_same_main_batches(tiny_run, schedule):
    alone = Trainer(tiny_run(MAIN, steps=12, eval_every=100, schedule=schedule), progress=False)
    paired = Trainer(tiny_run(MAIN, (AUX,), steps=24, eval_every=100, schedule=schedule),
                     progress=False)
    a, b = main_batches_seen(alone, 12), main_batches_seen(paired, 24)
    n = min(len(a), len(b))
    assert n >= 6
    # token ids differ between the two vocabularies; the sentences (lengths, padding) do not
    assert all(x.shape == y.shape and np.array_equal(x > 0, y > 0) for x, y in zip(a[:n], b[:n]))
    words = {i: w for w, i in paired.featurizer.words._index.items()}
    mine = {i: w for w, i in alone.featurizer.words._index.items()}
    for x, y in zip(a[:n], b[:n]):  # the same words, but for words one vocabulary lacks
        pairs = [(mine[i], words[j]) for i, j in zip(x.ravel(), y.ravel())]
        assert all(u == v or "<unk>" in (u, v) for u, v in pairs)
        assert sum(u == v != "<pad>" for u, v in pairs) > 0.9 * sum(v != "<pad>" for _, v in pairs)


@pytest.mark.parametrize("model", ["window-cnn", "bilstm-crf", "shared-private", "bert"])
def test_cells_of_one_seed_start_from_the_same_shared_weights(tiny_run, model):
    partnered = tiny_run(MAIN, (AUX,), model=model)
    alone = Trainer(single_task(partnered), progress=False)  # the grid's single-task cell
    paired = Trainer(partnered, progress=False)
    mine, theirs = variable_keys(alone.model), variable_keys(paired.model)
    common = [k for k in mine if k in theirs and mine[k].shape == theirs[k].shape
              and "words/" not in k[0]]  # word vectors: each run's own vocabulary
    assert len(common) >= 4
    for key in common:
        assert np.array_equal(np.asarray(mine[key].value), np.asarray(theirs[key].value)), key
    partner_only = [k for k in theirs if k not in mine]
    assert partner_only  # the partner's own head is new, and the check above was not vacuous
    other_seed = Trainer(tiny_run(MAIN, (AUX,), model=model, seed=2), progress=False)
    differs = variable_keys(other_seed.model)
    head = next(k for k in common if "head" in k[0] or "crf" in k[0] or "projection" in k[0])
    assert not np.array_equal(np.asarray(differs[head].value), np.asarray(theirs[head].value))
