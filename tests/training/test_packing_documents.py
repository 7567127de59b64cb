"""A bundle that packs sentences into rows (RODRIGUEZ) packs only sentences of one document, as
in training: unrelated sentences given to the Tagger, the texts of one service request, and
two requests batched together never share a row (review finding: every sentence was document
0, so whatever came in one call was packed together and tagged in each other's context)."""

import asyncio
from types import SimpleNamespace

from bioner_mtl.training.product.bundle import Tagger
from bioner_mtl.training.product.service import Batcher, Limits


def fake_tagger(captured):
    return SimpleNamespace(
        heads_for=lambda heads: ["X"], viterbi=True,
        featurizer=SimpleNamespace(encode=lambda sentences, tagset: captured.extend(sentences)),
        predictor=SimpleNamespace(predict=lambda split, chosen, decodings: {}))


def test_the_tagger_gives_each_sentence_its_document():
    captured = []
    tagger = fake_tagger(captured)
    Tagger.tag_sentences(tagger, [["a"], ["b"], ["c"]])  # unrelated: each its own
    assert [s.document for s in captured] == [0, 1, 2]
    captured.clear()
    Tagger.tag_sentences(tagger, [["a"], ["b"], ["c"]], documents=[4, 4, 7])
    assert [s.document for s in captured] == [4, 4, 7]
    said = []  # one text's sentences are one document
    text_tagger = SimpleNamespace(entities=lambda s, h, m, d: said.append(d) or [[] for _ in s])
    Tagger.tag(text_tagger, "IL-2 rises. Aspirin helps. So does rest.")
    assert said == [[0, 0, 0]]


def test_the_service_numbers_every_requests_texts_apart():
    seen = []

    class Recorder:
        def entities(self, sentences, heads, documents=None):
            seen.append(list(documents))
            return [[] for _ in sentences]

    async def main():
        batcher = Batcher(Recorder(), Limits(max_batch_sentences=50, batch_window_ms=50))
        worker = asyncio.create_task(batcher.run())
        await asyncio.gather(batcher.tag([["a"], ["b"], ["c"]], None, [0, 0, 1]),
                             batcher.tag([["d"], ["e"]], None, [0, 0]))
        worker.cancel()
        batcher.close()

    asyncio.run(main())
    assert seen == [[0, 0, 1, 2, 2]]  # one pass: request 1's texts 0 and 1, request 2's text


def test_the_word_piece_cache_stays_bounded(small_bert_dir, monkeypatch):
    """A service sees new words forever: the cache keeps at most CACHED_WORDS, and rows built
    after it was pruned are the rows built before."""
    from bioner_mtl.data.reader import Sentence
    from bioner_mtl.models.configs import BertConfig
    from bioner_mtl.training.fit import subword_features

    featurizer = subword_features.SubwordFeaturizer(
        BertConfig(encoder=str(small_bert_dir), max_length=32), weights=False)
    monkeypatch.setattr(subword_features, "CACHED_WORDS", 6)
    first = [Sentence(("IL-2", "rises", "sharply"), ("O",) * 3)]
    before = featurizer.encode(first, None).rows[0].ids.tolist()
    for i in range(5):  # new words each call
        featurizer.encode([Sentence((f"word{i}", f"other{i}"), ("O", "O"))], None)
        assert len(featurizer._pieces) <= 6
    assert featurizer.encode(first, None).rows[0].ids.tolist() == before


def test_conll_input_keeps_its_documents_through_bulk_tagging():
    """predict.py's CoNLL input: -DOCSTART- starts the next document, and a chunk's
    sentences reach the tagger with their documents (in both output formats)."""
    from bioner_mtl.experiments.predict import conll_sentences
    from bioner_mtl.training.product.bulk import Job, Sentences, run_chunk

    lines = ["-DOCSTART- O", "", "a B", "b O", "", "c O", "", "-DOCSTART- O", "", "d O", ""]
    read = list(conll_sentences(iter(lines)))
    assert read == [(1, ["a", "b"]), (1, ["c"]), (2, ["d"])]
    seen = []

    class Recorder:
        def tag_sentences(self, sentences, heads, documents=None):
            seen.append(list(documents))
            return {"H": ([["O"] * len(s) for s in sentences], None)}

        def entities(self, sentences, heads, min_confidence=None, documents=None):
            seen.append(list(documents))
            return [[] for _ in sentences]

    chunk = Sentences("x.conll", 0, [s for _, s in read], [d for d, _ in read])
    for kind in ("conll", "jsonl"):
        run_chunk(Recorder(), Job("m", None, kind, None, 1000, 512, None), chunk)
    assert [sorted(s) for s in seen] == [[1, 1, 2]] * 2  # batches sort by length
