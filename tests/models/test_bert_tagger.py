"""BERT-family options through the harness: auxiliary heads, CRF, frozen encoder, packing."""

import numpy as np
import pytest

from training.trainer import Trainer

MAIN = "NCBI-disease"


def weights_of(layer):
    return [w.numpy().copy() for w in layer.trainable_weights]


def changed(before, after):
    return any(not np.array_equal(b, a) for b, a in zip(before, after))


def one_step(trainer, task=MAIN):
    inputs, tags = trainer.tasks[task].train.batch(np.arange(8))
    return float(trainer.train_step(task, inputs, tags))


def test_tong_auxiliary_heads_train_with_the_crf_head(tiny_run):
    run = tiny_run(MAIN, (), "bert", steps=4, model_options={
        "crf": True, "label_on": "last", "pooling": "max", "mtcls_weight": 0.5,
        "bcls_weight": 0.5, "mcls_weight": 0.5})
    trainer = Trainer(run, progress=False)
    aux = {kind: heads[MAIN] for kind, heads in trainer.model.aux_heads.items()}
    assert set(aux) == {"mtCLS", "bCLS", "mCLS"}
    before = {kind: weights_of(head) for kind, head in aux.items()}
    assert np.isfinite(one_step(trainer))
    for kind, head in aux.items():
        assert changed(before[kind], weights_of(head)), kind
    assert len(trainer.predict(MAIN, trainer.tasks[MAIN].devel, viterbi=True)) == 100


def test_frozen_encoder_trains_only_the_heads(tiny_run):
    trainer = Trainer(tiny_run(MAIN, (), "bert", steps=2,
                               model_options={"freeze_encoder": True}), progress=False)
    backbone = [w.numpy().copy() for w in trainer.model.backbone.weights]
    head = weights_of(trainer.model.heads[MAIN])
    one_step(trainer)
    assert all(np.array_equal(b, a.numpy()) for b, a in zip(backbone,
                                                             trainer.model.backbone.weights))
    assert changed(head, weights_of(trainer.model.heads[MAIN]))


@pytest.mark.parametrize("options", [{"pack": True, "label_on": "every", "max_length": 160},
                                     {"label_on": "first", "max_length": 16}])
def test_packed_or_windowed_rows_predict_every_word_once(tiny_run, options):
    trainer = Trainer(tiny_run(MAIN, (), "bert", steps=2, model_options=options),
                      progress=False)
    assert np.isfinite(one_step(trainer))
    devel = trainer.tasks[MAIN].devel
    rows_per_sentence = len(devel.rows) / len(devel.sentences)
    # packing puts several sentences in a row; 16-subword windows cut sentences into several
    assert rows_per_sentence < 1 if options.get("pack") else rows_per_sentence > 1
    predicted = trainer.predict(MAIN, devel, viterbi=True)
    assert [len(p) for p in predicted] == [len(s) for s in devel.sentences]


def test_mixed_bfloat16_trains_with_float32_variables_and_scores(tiny_run):
    trainer = Trainer(tiny_run(MAIN, (), "bert", steps=2,
                               model_options={"precision": "bfloat16"}), progress=False)
    assert trainer.model.backbone.dtype_policy.name == "mixed_bfloat16"
    assert {v.dtype for v in trainer.model.trainable_variables} == {"float32"}
    inputs, _ = trainer.tasks[MAIN].train.batch(np.arange(4))
    assert trainer.model.scores(inputs, MAIN).dtype.name == "float32"
    assert np.isfinite(one_step(trainer))
