"""BERT-family options through the harness: auxiliary heads, CRF, frozen encoder, packing;
and, on a planted stand-in encoder (an embedding table: no MiniLM, milliseconds), TONG's
auxiliary heads and weighted loss and RODRIGUEZ's every-piece training read from the last
piece, checked against hand computations."""

from types import SimpleNamespace

import numpy as np
import pytest

from bioner_mtl.training.fit.trainer import Trainer

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


# --------------------------------------------------------------------------- planted encoder


def planted_tagger(table: np.ndarray, tasks: dict[str, int], **options):
    """A BertTagger whose "encoder" maps each subword id to its row of `table`."""
    import keras

    from bioner_mtl.models.base import Features
    from bioner_mtl.models.bert_tagger import build_bert
    from bioner_mtl.models.configs import BertConfig

    class Backbone(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.embed = keras.layers.Embedding(
                *table.shape, embeddings_initializer=keras.initializers.Constant(table))

        def call(self, inputs, training=False):
            return {"sequence_output": self.embed(inputs["token_ids"])}

    encoder = SimpleNamespace(backbone=Backbone(), hidden_dim=table.shape[1])
    return build_bert(BertConfig(**{"dropout": 0.0, **options}), tasks, Features(None, 0, encoder))


def cross_entropy(logits, labels):
    """Per-item -log softmax(logits)[label], float64, by hand."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(-1)) + top[..., 0]
    return log_z - np.take_along_axis(logits, np.asarray(labels)[..., None], -1)[..., 0]


def dense(layer, x):
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.weights)
    return x @ kernel + bias


# Two rows of [CLS] pieces [SEP] padding: token ids 1 = [CLS], 2 = [SEP], 0 = padding
TOKENS = np.array([[1, 10, 11, 12, 2, 0], [1, 13, 14, 15, 16, 2]], np.int32)
BATCH = {"token_ids": TOKENS, "padding_mask": TOKENS > 0,
         "segment_ids": np.zeros_like(TOKENS),
         "word_positions": np.array([[1, 3, 0], [1, 3, 4]], np.int32),  # word 0 of row 0: 10-11
         "subword_words": np.array([[-1, 0, 0, 1, -1, -1], [-1, 0, 0, 1, 2, -1]], np.int32),
         "tag_mask": np.array([[True, True, False], [True, True, True]]),
         "mtcls": np.array([[1, 0, 0], [2, 1, 2]], np.int32),
         "bcls": np.array([1, 0], np.int32), "mcls": np.array([2, 0], np.int32)}
TAGS = np.array([[3, 1, 0], [0, 4, 2]], np.int32)
HIDDEN = 6


@pytest.mark.parametrize("projection, width", [(None, HIDDEN), (7, 7), (0, None)])
def test_tong_auxiliary_heads_project_then_classify(projection, width):
    """Each auxiliary head: a projection (the encoder's hidden size by default, tanh), then a
    classifier to its own classes; 0 leaves the classifier alone."""
    table = np.random.default_rng(0).normal(size=(20, HIDDEN)).astype("float32")
    model = planted_tagger(table, {"A": 5}, aux_projection=projection, mtcls_weight=1.0,
                           bcls_weight=1.0, mcls_weight=1.0)
    model.build_from_batches({"A": (BATCH, TAGS)})
    classes = {"mtCLS": 3, "bCLS": 2, "mCLS": 4}
    assert set(model.aux_heads) == set(classes)
    for kind, n in classes.items():
        head = model.aux_heads[kind]["A"]
        if width is None:
            assert head.project is None
            assert head.dense.kernel.shape == (HIDDEN, n)
        else:
            assert head.project.kernel.shape == (HIDDEN, width)
            assert head.project.bias.shape == (width,)
            assert head.project.activation.__name__ == "tanh"
            assert head.dense.kernel.shape == (width, n)
        assert head.dense.bias.shape == (n,)
    assert model.heads["A"].dense.kernel.shape == (HIDDEN, 5)  # the NER head: one linear layer


def test_tong_loss_is_the_weighted_sum_of_the_four_losses():
    """L = a L_ner + b L_mtCLS + c L_bCLS + d L_mCLS, every term computed here by hand from
    the planted vectors and the heads' weights (projection, tanh, classifier; max pooling)."""
    table = np.random.default_rng(1).normal(size=(20, HIDDEN)).astype("float32")
    a, b, c, d = 0.7, 0.3, 0.2, 0.5
    model = planted_tagger(table, {"A": 5}, ner_weight=a, mtcls_weight=b, bcls_weight=c,
                           mcls_weight=d, pooling="max")
    model.build_from_batches({"A": (BATCH, TAGS)})
    subwords = table.astype(np.float64)[TOKENS]
    words = np.take_along_axis(subwords, BATCH["word_positions"][..., None], 1)
    mask = BATCH["tag_mask"]

    def head(kind, x):
        h = model.aux_heads[kind]["A"]
        return dense(h.dense, np.tanh(dense(h.project, x)))

    ner = cross_entropy(dense(model.heads["A"].dense, words), TAGS)[mask].mean()
    mt = cross_entropy(head("mtCLS", words), BATCH["mtcls"])[mask].mean()
    sentence = np.where(BATCH["padding_mask"][..., None], subwords, -1e4).max(1)
    bc = cross_entropy(head("bCLS", sentence), BATCH["bcls"]).mean()
    mc = cross_entropy(head("mCLS", sentence), BATCH["mcls"]).mean()
    loss = float(model.task_loss(BATCH, TAGS, "A", training=False))
    np.testing.assert_allclose(loss, a * ner + b * mt + c * bc + d * mc, rtol=1e-5)
    assert min(ner, mt, bc, mc) > 0.1  # every term counts


def test_every_last_trains_every_piece_and_predicts_from_the_last():
    """RODRIGUEZ: a hand-made row through the real alignment and batching; the first piece of
    each multi-piece word votes for tag 1, its last for tag 2, a middle piece for tag 0. The
    loss covers every piece (each with its word's tag); the word takes its last piece's tag."""
    from bioner_mtl.data.reader import Sentence
    from bioner_mtl.training.fit.subword_alignment import align
    from bioner_mtl.training.fit.subword_features import SubwordSplit, rows_from

    pieces = {"IL2": [10, 11], "binds": [12, 13, 14], "p": [15]}
    table = np.zeros((20, 3), np.float32)
    table[[10, 12], 1] = 4.0  # first pieces
    table[[11, 14], 2] = 3.0  # last pieces
    table[[13, 15], 0] = 2.0  # a middle piece; the single-piece word
    sentence = Sentence(("IL2", "binds", "p"), ("B-X", "O", "B-X"))
    gold = np.array([1, 0, 2], np.int32)  # word tags, chosen apart from the planted votes

    def batch(label_on):
        seqs = align([sentence], pieces.__getitem__, 1, 2, label_on=label_on)
        rows = [rows_from(seq, last=label_on in ("last", "every-last")) for seq in seqs]
        aux = {"bCLS": [1], "mCLS": [2], "mtCLS": [np.zeros(3, np.int32)]}
        return SubwordSplit([sentence], rows, [gold], aux).batch(np.arange(1))

    # [CLS] 10 11 | 12 13 14 | 15 [SEP]: the subword each word is read from
    for label_on, positions in (("every-last", [2, 5, 6]), ("every", [1, 3, 6]),
                                ("last", [2, 5, 6])):
        inputs, _ = batch(label_on)
        assert inputs["token_ids"].tolist() == [[1, 10, 11, 12, 13, 14, 15, 2]]
        assert inputs["word_positions"].tolist() == [positions], label_on
    inputs, tags = batch("every-last")
    model = planted_tagger(table, {"A": 3}, label_on="every-last")
    model.build_from_batches({"A": (inputs, tags)})
    model.heads["A"].dense.set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])

    scores = np.asarray(model.scores(inputs, "A"))[0]
    assert scores.argmax(-1).tolist() == [2, 2, 0]  # each word from its last piece
    every_piece = cross_entropy(table[[10, 11, 12, 13, 14, 15]], gold[[0, 0, 1, 1, 1, 2]])
    np.testing.assert_allclose(float(model.task_loss(inputs, tags, "A", training=False)),
                               every_piece.mean(), rtol=1e-5)

    first = planted_tagger(table, {"A": 3}, label_on="every")
    inputs, tags = batch("every")
    first.build_from_batches({"A": (inputs, tags)})
    first.heads["A"].dense.set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    assert np.asarray(first.scores(inputs, "A"))[0].argmax(-1).tolist() == [1, 1, 0]
    last_only = cross_entropy(table[[11, 14, 15]], gold).mean()
    assert abs(every_piece.mean() - last_only) > 0.1  # not the last-piece-only loss
