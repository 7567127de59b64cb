"""Decoding a sentence cut into several subword rows: the rows are put back together first, so
the constraints learnt from whole training sentences (which tags start and end a sentence)
hold at the sentence's own ends, not at the cut (review finding: a mention across a cut, or
at a row's edge, was forced to O)."""

from types import SimpleNamespace

import numpy as np

from bioner_mtl.data.reader import Sentence
from bioner_mtl.training.fit.batches import TagSet
from bioner_mtl.training.fit.decoding import Transitions, decode_sentences, viterbi_decode
from bioner_mtl.training.fit.inference import predict
from bioner_mtl.training.fit.subword_features import Row, SubwordSplit

GOLD = ["O", "B-X", "I-X", "I-X", "O"]


def cut_split() -> SubwordSplit:
    """One five-word sentence in two rows, cut inside its mention: words 0-1, then 2-4. A
    row's subword ids are its words' numbers between [CLS] (100) and [SEP] (101)."""
    sentence = Sentence(tuple(f"w{i}" for i in range(5)), tuple(GOLD))

    def row(words):
        ids = np.array([100, *words, 101], np.int32)
        sub = np.array([-1, *range(len(words)), -1], np.int32)
        return Row(ids, np.arange(1, len(words) + 1, dtype=np.int32), sub,
                   [(0, w) for w in words])

    return SubwordSplit([sentence], [row([0, 1]), row([2, 3, 4])], None, None)


class Tensor(np.ndarray):  # what a compiled pass returns: arrays with .numpy()
    def numpy(self):
        return np.asarray(self)


def confident_pass(tagset, p=0.92):
    """A stand-in compiled pass: every word gets its gold tag with probability p."""
    gold = tagset.ids(GOLD)
    count = len(tagset.labels)

    def fn(inputs, scale):
        words = np.take_along_axis(inputs["token_ids"], inputs["word_positions"], axis=1)
        probs = np.full((*words.shape, count), (1 - p) / (count - 1), np.float32)
        rows, cols = np.nonzero(inputs["tag_mask"])
        probs[rows, cols, gold[words[rows, cols]]] = p
        return {"X": (np.log(probs).view(Tensor), {}, probs.view(Tensor))}

    return fn


def test_a_mention_across_a_cut_is_decoded_whole():
    tagset = TagSet(("B-X", "E-X", "I-X", "O", "S-X"), "IOBES")
    trained = [tagset.ids(t) for t in (["O", "B-X", "I-X", "I-X", "O"], ["B-X", "O", "O"])]
    transitions = Transitions.from_sequences(trained, len(tagset.labels))
    assert set(np.flatnonzero(transitions.end)) == {tagset.labels.index("O")}  # only O ends
    head = SimpleNamespace(tagset=tagset, transitions=transitions)
    split = cut_split()
    out = predict(confident_pass(tagset), {"X": head}, split, (True, False),
                  ("token_ids", "word_positions", "tag_mask"))
    assert out["X"][True].tags == [GOLD]  # before: O O O O O (B-X cannot end a row)
    assert out["X"][False].tags == [GOLD]
    np.testing.assert_allclose(out["X"][True].confidences[0], 0.92, rtol=1e-6)
    # what decoding each row on its own gives: the mention is lost
    rows = [np.log(np.where(np.eye(5)[tagset.ids(GOLD)[w]] > 0, 0.92, 0.02)) for w in
            ([0, 1], [2, 3, 4])]
    alone = [viterbi_decode(r[None], np.array([len(r)]), transitions)[0] for r in rows]
    assert tagset.decode(np.concatenate(alone)) != GOLD


def test_decode_sentences_is_viterbi_one_sentence_at_a_time():
    rng = np.random.default_rng(0)
    sentences = [np.log(rng.dirichlet(np.ones(4), size=n)) for n in (3, 0, 7, 1, 5, 2) * 30]
    transitions = Transitions.from_sequences([[0, 1, 2], [3, 0], [2, 2, 1, 3]], 4)
    for allowed in (transitions, None):
        batched = decode_sentences(sentences, allowed, batch=8)
        alone = [viterbi_decode(s[None], np.array([len(s)]), allowed)[0] for s in sentences]
        assert all(np.array_equal(a, b) for a, b in zip(batched, alone))


def test_one_compiled_pass_per_set_of_heads_whatever_their_order(monkeypatch):
    """A service's requests name heads in any order: one pass for {A, B}, not one per order
    (each kept for the service's life); the answer comes back in the order asked."""
    from bioner_mtl.training.fit import inference

    compiled = []
    monkeypatch.setattr(inference, "compile_pass",
                        lambda model, heads, decodings, signature: compiled.append(tuple(heads)))
    monkeypatch.setattr(inference, "predict", lambda fn, heads, *args: {n: n for n in heads})
    flat = SimpleNamespace(decodes_itself=False, transitions=None)
    predictor = inference.Predictor(SimpleNamespace(heads={"A": flat, "B": flat}),
                                    {"A": flat, "B": flat}, {})
    assert list(predictor.predict(None, ("B", "A"))) == ["B", "A"]
    assert list(predictor.predict(None, ("A", "B"))) == ["A", "B"]
    assert compiled == [("A", "B")]
