"""One prediction path: for every registered model (softmax, CRF, BERT), the trainer's scoring
of the test split and a loaded bundle's tagging of the same sentences give identical tags and
per-token confidences. The bundle tags with all its heads in one pass (the partner's, the
dependent model's POS head) while the trainer scores the main head alone, so the check also
covers a multi-head pass against a single-head one."""

from __future__ import annotations

import numpy as np
import pytest

from training.batches import BatchStream
from training.bundle import load, save_bundle
from training.catalogue import MODELS
from training.trainer import Trainer

MAIN, AUX = "NCBI-disease", "BioNLP13PC"  # as in tests/models: the same cached word vectors
STEPS = 5  # enough to move the main head off its initial values; nothing here needs a good model


@pytest.mark.parametrize("name", list(MODELS))
def test_trainer_scoring_and_bundle_tagging_agree(name, tiny_run, tmp_path):
    run = tiny_run(MAIN, (AUX,), name, devel_limit=20, test_limit=20)
    trainer = Trainer(run, progress=False)
    batches = BatchStream(trainer.tasks[MAIN].train, 16, np.random.default_rng(0))
    for _ in range(STEPS):  # the main head and the encoder move; fit() would save the same way
        trainer.train_step(MAIN, *next(batches))
    path = save_bundle(trainer, tmp_path / "bundle")
    test = trainer.tasks[MAIN].test
    scored = trainer.predictor.predict(test, (MAIN,), (run.viterbi,))[MAIN][run.viterbi]
    assert trainer.predict(MAIN, test, run.viterbi) == scored.tags  # what the record scores

    tagger = load(path)
    assert set(tagger.heads) == set(trainer.tasks)
    tagged = tagger.tag_sentences([list(s.tokens) for s in test.sentences], tagger.heads)
    tags, confidences = tagged[MAIN]
    assert tags == scored.tags
    assert [len(c) for c in confidences] == [len(s) for s in test.sentences]
    for mine, theirs in zip(confidences, scored.confidences):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    values = np.concatenate(confidences)
    assert ((values > 0) & (values <= 1)).all() and values.std() > 0  # real probabilities
