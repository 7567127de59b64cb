"""The BERT papers' presets (bert-khan, bert-tong, bert-rodriguez): each resolves to its paper's
settings, and each one that builds something `bert` does not (TONG's auxiliary heads,
RODRIGUEZ's packed rows read from the last piece) tags through a bundle as the trainer does.

tests/models/test_models.py trains every other catalogue entry for ~150 steps (~70 s for a
BERT cell on two cores); these presets only set options of the bert family, whose training
test_models runs, and whose options test_bert_tagger checks by hand, so here they get the
harness's structural and bundle checks without the long fit (~6 s each).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from bioner_mtl.training.spec.catalogue import MODELS
from bioner_mtl.training.spec.presets import check_run, resolve

MAIN = "NCBI-disease"
PAPER_PRESETS = ("bert-khan", "bert-tong", "bert-rodriguez")
# what SPEC.md (section 5) and the papers give: train settings, model options, run settings
# (TONG: lr 1e-5, 50-100 epochs, their BioBERT baseline 100; RODRIGUEZ: 20 epochs)
PAPERS = {
    "bert-khan": ({"warmup": 0.4, "epochs": 8}, {"max_length": 128}, {"schedule": "shuffled"}),
    "bert-tong": ({"warmup": 0.1, "learning_rate": 1e-5, "epochs": 100},
                  {"max_length": 256, "pooling": "max", "ner_weight": 1.0, "mtcls_weight": 1.0,
                   "bcls_weight": 1.0, "mcls_weight": 1.0, "dropout": 0.1},
                  {"schedule": "shuffled"}),
    "bert-rodriguez": ({"epochs": 20}, {"max_length": 512, "pack": True,
                                        "label_on": "every-last"},
                       {"schedule": "round-robin"}),
}
COMMON = {"optimizer": "adamw", "learning_rate": 5e-5, "weight_decay": 0.01, "batch_size": 32}
# the presets whose model differs from bert's (KHAN changes only training and run settings)
OWN_STRUCTURE = [n for n in PAPER_PRESETS if MODELS[n].config != MODELS["bert"].config]


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_paper_preset_resolves_to_its_papers_settings(name):
    train, options, run_settings = PAPERS[name]
    run = resolve(MAIN, name, preset="paper")
    check_run(run)
    spec = MODELS[name]
    config = spec.model_config(run.model_options)
    for key, value in {**COMMON, **train}.items():
        assert getattr(run.train, key) == value, key
    for key, value in options.items():
        assert getattr(config, key) == value, key
    for key, value in run_settings.items():
        assert getattr(run, key) == value, key
    assert run.tag_scheme == "IOB2"
    paper = name.removeprefix("bert-").upper()
    assert spec.summary.startswith(paper) and spec.paper.table == "BERT"
    assert paper in spec.paper.alone and paper in spec.paper.with_partners
    assert spec.quick == MODELS["bert"].quick  # the quick preset is bert's
    quick = resolve(MAIN, name)
    assert quick.model_options == {"max_length": 96}
    assert (quick.train.learning_rate, quick.train.epochs) == (1e-4, 3)  # docs/models.md says


def test_bert_keeps_the_family_defaults():
    run = resolve(MAIN, "bert", preset="paper")
    assert (run.train.warmup, run.train.epochs, run.schedule) == (0.1, 3, "shuffled")
    assert MODELS["bert"].config == type(MODELS["bert"].config)()
    assert OWN_STRUCTURE == ["bert-tong", "bert-rodriguez"]


@pytest.mark.parametrize("name", OWN_STRUCTURE)
def test_paper_preset_tags_through_a_bundle_as_the_trainer(name, tiny_run, tmp_path):
    """test_models's structural checks for a preset: its own heads and rows, and the saved
    bundle gives the trainer's tags, confidences and scores (that the auxiliary heads train
    is test_bert_tagger's; a compiled step would double this test's time)."""
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import load, save_bundle

    trainer = Trainer(tiny_run(MAIN, (), name, steps=2, devel_limit=20, test_limit=60),
                      progress=False)
    model, config = trainer.model, trainer.model_config
    assert model.config == config and config.max_length == 64  # the tiny run's length
    inputs, tags = trainer.tasks[MAIN].train.batch(np.arange(8))
    assert set(model.aux_heads) == ({"mtCLS", "bCLS", "mCLS"} if config.mtcls_weight else set())
    assert np.isfinite(float(model.task_loss(inputs, tags, MAIN, training=False)))

    test = trainer.tasks[MAIN].test
    if config.pack:  # RODRIGUEZ: rows hold several sentences; each word read from its last piece
        assert len(test.rows) < len(test.sentences)
        for row in test.rows:
            last = [int(np.flatnonzero(row.subword_words == i).max())
                    for i in range(len(row.words))]
            assert row.positions.tolist() == last
    path = save_bundle(trainer, tmp_path / "bundle", calibrate=False)
    scored = trainer.predictor.predict(test, (MAIN,), (True,))[MAIN][True]
    tagger = load(path)
    assert dataclasses.replace(tagger.featurizer.config, encoder=None) == dataclasses.replace(
        config, encoder=None)  # the bundle's own copy of the encoder files
    # the test split's documents: a packing bundle packs one document's sentences, as the
    # trainer's scoring did (without them each sentence is its own)
    tagged, confidences = tagger.tag_sentences([list(s.tokens) for s in test.sentences],
                                               tagger.heads,
                                               [s.document for s in test.sentences])[MAIN]
    assert tagged == scored.tags
    for mine, theirs in zip(confidences, scored.confidences, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(tagger.model.scores(inputs, MAIN)),
                                  np.asarray(model.scores(inputs, MAIN)))


@pytest.mark.parametrize("options, message", [
    ({"aux_projection": -1}, "--set aux_projection=-1: a whole number of 0 or more"),
    ({"aux_projection": 2.5}, "--set aux_projection=2.5: a whole number of 0 or more"),
    ({"aux_activation": "tanhh"}, "--set aux_activation=tanhh: not a Keras activation"),
    ({"ner_weight": -1.0}, "--set ner_weight=-1.0: a weight of 0 or more"),
    ({"label_on": "middle"}, "--set label_on=middle: choose one of first, last, every, "
                             "every-last"),
    ({"label_on": "every-last", "crf": True}, "label_on=every-last trains every subword"),
])
def test_bad_bert_options_are_one_clear_line(options, message):
    from bioner_mtl.data.errors import InputError
    from bioner_mtl.models.configs import BertConfig
    from bioner_mtl.training.spec.presets import check_model_config

    with pytest.raises(InputError, match=re.escape(message)):
        check_model_config("bert", BertConfig(**options))
    check_model_config("bert", BertConfig(aux_projection=0, aux_activation="gelu"))


@pytest.mark.parametrize("label_on, piece", [("first", "first"), ("last", "last"),
                                             ("every", "first"), ("every-last", "last")])
def test_the_export_says_which_piece_word_positions_point_at(label_on, piece):
    from types import SimpleNamespace

    from bioner_mtl.models.configs import BertConfig
    from bioner_mtl.training.product.export import description

    encoder = SimpleNamespace(lowercase=True, cls_id=101, sep_id=102)
    tagger = SimpleNamespace(
        meta={"model": "bert", "main": MAIN, "featurizer": "subwords"}, heads={},
        viterbi=True, featurizer=SimpleNamespace(encoder=encoder, max_length=64,
                                                 config=BertConfig(label_on=label_on)))
    assert description(tagger)["subwords"]["label_on"] == piece
