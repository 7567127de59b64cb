"""Every registered model, through the one harness: a new entry in MODELS gets this test,
unless an earlier entry builds the same model from the same rows (same builder, featurizer,
pretrain tasks and family config: the tiny run replaces every entry's training and run
settings, so its cell would repeat that one), or it is one of the BERT papers' presets, which
only set options of `bert` and get tests/models/test_bert_variants.py's shorter checks (a BERT
cell here costs ~35 s on two cores).

A tiny run (two corpora, filters 8, hidden 32, vectors of 16 dimensions, 40-450 steps) must
build a head per task with that task's labels, train only the stepped task's head, lower its
loss, fit its training data, and save a bundle that tags exactly as the trainer scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.product.bundle import load, save_bundle
from bioner_mtl.training.spec.catalogue import MODELS, loaded
from tests.models.test_bert_variants import PAPER_PRESETS

MAIN, AUX = "NCBI-disease", "BioNLP13PC"  # 5 and 17 IOBES labels: heads can be told apart
# Train F1 measured at these lengths, seeds 1-3 (the threshold below is 0.25):
STEPS = 90  # BiLSTM-CRF family at BILSTM_RATE: bilstm-crf 0.70-0.79, the others 0.65-0.91
BILSTM_RATE = 1e-2  # (0.0-0.54 at 48 steps; at 3e-3 it took 150 steps to reach 0.43-0.82)
BERT_STEPS = 40  # two pretrained MiniLM layers learn fast: 0.67-0.74
WINDOW_STEPS = 450  # 10x cheaper per step, needs more of them: window CNNs 0.50-0.69, mlp 0.98+
MIN_TRAIN_F1 = 0.25


def structure(name: str) -> tuple:
    """What a tiny run of an entry builds and feeds."""
    spec = MODELS[name]
    return spec.builder, spec.featurizer, spec.pretrain_tasks, spec.needs_chars, spec.config


CELLS = [name for i, name in enumerate(MODELS) if name not in PAPER_PRESETS
         and structure(name) not in {structure(m) for m in list(MODELS)[:i]}]


def head_weights(trainer: Trainer) -> dict[str, list[np.ndarray]]:
    return {t: [w.numpy().copy() for w in trainer.model.heads[t].trainable_weights]
            for t in trainer.tasks}


def log_probs(trainer: Trainer, inputs) -> dict[str, np.ndarray]:
    """Each head's tag scores (softmax logits or CRF emissions) on a batch, in inference mode."""
    return {t: np.asarray(trainer.model.scores(inputs, t, training=False)) for t in trainer.tasks}


@pytest.mark.parametrize("name", CELLS)
def test_model_trains_through_the_harness(name, tiny_run, tmp_path):
    window = loaded(MODELS[name].builder).__module__ == "bioner_mtl.models.window_cnn"
    bert = MODELS[name].featurizer == "subwords"
    steps = BERT_STEPS if bert else WINDOW_STEPS if window else STEPS
    rate = {} if bert or window else {"learning_rate": BILSTM_RATE}
    # evaluations count main-corpus batches; about half the steps are the main corpus's
    run = tiny_run(MAIN, (AUX,), name, steps=steps, eval_every=steps // 6, **rate)
    trainer = Trainer(run, progress=False)
    assert set(trainer.tasks) == {MAIN, AUX, *MODELS[name].pretrain_tasks}
    inputs, tags = trainer.tasks[MAIN].train.batch(np.arange(16))

    # every task's head has its own label count
    counts = {t: len(task.tagset.labels) for t, task in trainer.tasks.items()}
    assert len(set(counts.values())) == len(counts)
    assert trainer.model.tasks == counts
    assert {t: p.shape for t, p in log_probs(trainer, inputs).items()} == {
        t: (*tags.shape, n) for t, n in counts.items()}

    # one step of the main task moves its head and no other head
    before = head_weights(trainer)
    trainer.train_step(MAIN, inputs, tags)
    after = head_weights(trainer)
    assert all(w.size for w in before[MAIN])
    assert any(not np.array_equal(b, a) for b, a in zip(before[MAIN], after[MAIN]))
    for task in set(trainer.tasks) - {MAIN}:
        assert all(np.array_equal(b, a) for b, a in zip(before[task], after[task])), task

    # training lowers the loss and fits the main corpus's training split
    record = trainer.fit()
    losses = [entry["loss"] for entry in record.history]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    assert trainer.evaluate(MAIN, "train", viterbi=True).f1 > MIN_TRAIN_F1

    # the bundle it saves tags as the trainer scores (one prediction path): the same tags and
    # per-token confidences, the bundle running all its heads in one pass and the trainer the
    # main head alone; and its loaded weights give every head the same scores
    path = save_bundle(trainer, tmp_path / "bundle", calibrate=False)  # tests/training has it
    test = trainer.tasks[MAIN].test
    scored = trainer.predictor.predict(test, (MAIN,), (run.viterbi,))[MAIN][run.viterbi]
    assert trainer.predict(MAIN, test, run.viterbi) == scored.tags  # what the record scores
    tagger = load(path)
    assert set(tagger.heads) == set(trainer.tasks)
    tags, confidences = tagger.tag_sentences([list(s.tokens) for s in test.sentences],
                                             tagger.heads)[MAIN]
    assert tags == scored.tags and any(t != "O" for sentence in tags for t in sentence)
    for mine, theirs in zip(confidences, scored.confidences, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    values = np.concatenate(confidences)
    assert ((values > 0) & (values <= 1)).all() and values.std() > 0  # real probabilities
    for task, expected in log_probs(trainer, inputs).items():
        np.testing.assert_array_equal(np.asarray(tagger.model.scores(inputs, task)), expected,
                                      err_msg=task)
