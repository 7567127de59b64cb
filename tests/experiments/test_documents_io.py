"""corpora.py import (BRAT, BioC, PubTator) and predict.py's BioC / PubTator input and output."""

import json
import re

import pytest

from bioner_mtl.data import documents as docs
from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.reader import read_split
from bioner_mtl.experiments import corpora as corpora_cli
from bioner_mtl.experiments import predict as predict_cli
from bioner_mtl.experiments import train as train_cli
from bioner_mtl.training.cli import run
from tests.data.test_documents import BIOC_XML, PUBTATOR, clean_documents
from tests.experiments.test_pairwise import TINY


def corpora(*args):
    return run(corpora_cli.main, [str(a) for a in args])


def test_import_each_format_writes_a_corpus_split_by_document(tmp_path, capsys):
    original = clean_documents()  # six documents
    for fmt in ("brat", "bioc", "pubtator"):
        source = tmp_path / ("brat" if fmt == "brat" else f"docs.{fmt}")
        docs.write_documents(source, original, fmt)
        out = tmp_path / f"corpus-{fmt}"
        assert corpora("import", source, "--format", fmt, "--out", out, "--split",
                       "0.5,0.25,0.25", "--seed", "2") == 0
        assert "wrote" in capsys.readouterr().out
        ids = {s: (out / f"{s}.ids").read_text().split() for s in docs.SPLIT_NAMES}
        assert sorted(sum(ids.values(), [])) == [d.id for d in original]
        corpus = load_corpus(str(out))
        by_id = {d.id: d for d in original}
        for split in docs.SPLIT_NAMES:  # each split holds exactly its documents' tokens
            expected = [t.text for i in ids[split] for s in docs.document_sentences(by_id[i])
                        for t in s]
            assert [t for s in corpus.split(split) for t in s.tokens] == expected
        mentions = sum(len(d.mentions) for d in original)
        assert sum(t.startswith("B-") for s in ("train", "devel", "test")
                   for sentence in corpus.split(s) for t in sentence.tags) == mentions
    # the same seed and fractions split every format alike; the user's split files win
    assert (tmp_path / "corpus-brat" / "test.ids").read_text() == (
        tmp_path / "corpus-pubtator" / "test.ids").read_text()
    own = tmp_path / "own"
    files = [tmp_path / "corpus-brat" / f"{s}.ids" for s in ("test", "devel", "train")]
    assert corpora("import", tmp_path / "docs.bioc", "--format", "bioc", "--out", own,
                   "--split-files", ",".join(map(str, files))) == 0
    assert (own / "train.ids").read_text() == files[0].read_text()


@pytest.mark.parametrize(("args", "needle"), [
    (["--split", "0.5,0.5"], "--split 0.5,0.5: give three fractions"),
    (["--split", "0.8,0.1,0.1", "--split-files", "a,b,c"], "--split and --split-files both"),
    (["--types", ","], "--types ',': no type names"),
])
def test_import_refuses_bad_flags(tmp_path, capsys, args, needle):
    source = tmp_path / "p.pubtator"
    source.write_text(PUBTATOR)
    assert corpora("import", source, "--format", "pubtator", "--out", tmp_path / "o", *args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err, err


def test_import_of_too_few_documents_and_a_missing_source(tmp_path, capsys):
    source = tmp_path / "p.pubtator"
    source.write_text(PUBTATOR)  # two documents
    assert corpora("import", source, "--format", "pubtator", "--out", tmp_path / "o") == 2
    assert "2 non-empty document(s): a train/devel/test split needs at least 3" in \
        capsys.readouterr().err
    assert corpora("import", tmp_path / "nope", "--format", "brat", "--out", tmp_path / "o") == 2
    assert "nope: no such file or directory" in capsys.readouterr().err


class CapitalsTagger:
    """A stand-in bundle: every token that starts with a capital is an entity."""

    heads = {"fake": None}
    precision = None  # no encoder: the computation has no precision to choose
    meta = {"model": "capitals", "weights_sha256": "0" * 64}  # what a fingerprint reads

    def heads_for(self, heads):
        return ["fake"]

    def entities(self, sentences, heads, min_confidence=None, documents=None):
        return [[("fake", "Upper", i, i + 1, 0.75) for i, word in enumerate(s)
                 if word[0].isupper()] for s in sentences]

    def tag_sentences(self, sentences, heads, documents=None):
        tags = [["B-Upper" if w[0].isupper() else "O" for w in s] for s in sentences]
        return {"fake": (tags, [[0.75] * len(s) for s in sentences])}


def capitals(text: str) -> list[tuple[int, int]]:
    """The tokenizer's word tokens that start with a capital, found without it."""
    return [m.span() for m in re.finditer(r"[^\W_]+", text) if m.group()[0].isupper()]


def predict(*args):
    """predict.py in this process (one worker: the fake taggers live here)."""
    return run(predict_cli.main, ["--workers", "1", *(str(a) for a in args)])


def test_predict_writes_bioc_and_pubtator_whose_offsets_slice_the_input(
        tmp_path, capsys, monkeypatch):
    from bioner_mtl.training.product import bundle

    monkeypatch.setattr(bundle, "load", lambda path, precision=None: CapitalsTagger())
    bioc = tmp_path / "in.xml"
    bioc.write_text(BIOC_XML)
    inputs = {d.id: d for d in docs.read_bioc(bioc)}
    out = tmp_path / "out"
    assert predict("--model", "m", bioc, "--format", "bioc", "--out", out, "--chunk", 2) == 0
    for fmt in ("bioc-json", "pubtator"):
        assert predict("--model", "m", bioc, "--format", fmt, "--out", out / fmt) == 0
    pubtator = tmp_path / "in.pubtator"
    pubtator.write_text(PUBTATOR)
    assert predict("--model", "m", pubtator, "--format", "pubtator", "--out", out / "p") == 0
    outputs = [(out / "in.xml", inputs), (out / "bioc-json" / "in.json", inputs),
               (out / "pubtator" / "in.pubtator", inputs),
               (out / "p" / "in.pubtator", {d.id: d for d in docs.read_pubtator(pubtator)})]
    for path, source in outputs:
        read = docs.read_bioc(path) if path.suffix != ".pubtator" else docs.read_pubtator(path)
        assert [d.id for d in read] == list(source)
        for document in read:
            before = source[document.id]
            if path.suffix != ".pubtator":
                assert [(p.offset, p.text) for p in document.passages] == [
                    (p.offset, p.text) for p in before.passages]
            text = before.text
            assert [(m.start, m.end) for m in document.mentions] == capitals(text), path
            for m in document.mentions:
                assert m.text == text[m.start:m.end] and m.type == "Upper"
                assert m.infons == {"head": "fake", "confidence": "0.75"}
    # JSON lines from documents: document ids, document offsets
    capsys.readouterr()
    assert predict("--model", "m", bioc) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["document"], r["start"], r["end"]) for r in rows] == [
        (i, s, e) for i, d in inputs.items() for s, e in capitals(d.text)]
    # plain text (CRLF, tabs, non-ASCII) -> one BioC document whose offsets slice the text
    notes = tmp_path / "notes.txt"
    text = "Über α-Synuclein\r\nand\tTau.\n\nWe saw IL-2 in T cells.  Done"
    notes.write_bytes(text.encode("utf-8"))
    for fmt, suffix in (("bioc", ".xml"), ("bioc-json", ".json"), ("pubtator", ".pubtator")):
        assert predict("--model", "m", notes, "--format", fmt, "--out", out / "t") == 0
        path = out / "t" / f"notes{suffix}"
        [document] = docs.read_bioc(path) if fmt != "pubtator" else docs.read_pubtator(path)
        assert document.id == "notes"
        shown = text if fmt != "pubtator" else re.sub("[\r\n]", " ", text)
        assert document.text == shown
        assert [(m.start, m.end) for m in document.mentions] == capitals(text)
        assert all(m.text == shown[m.start:m.end] for m in document.mentions)


@pytest.mark.parametrize(("args", "needle"), [
    (["in.conll", "--format", "bioc"], "in.conll: --format bioc needs character offsets"),
    # token numbers are no character offsets: refused, not written as an invalid .ann
    (["in.conll", "--format", "brat", "--out", "o"], "in.conll: --format brat needs character "
                                                     "offsets, and CoNLL input has none"),
    (["in.bio", "--format", "brat", "--out", "o"], "in.bio: --format brat needs character"),
    (["in.xml", "--format", "brat", "--out", "o"], "--format brat writes one .txt/.ann pair"),
    (["a.txt", "b.txt", "--format", "bioc-json"], "--format bioc-json with 2 inputs"),
])
def test_predict_document_formats_refuse_before_loading(tmp_path, capsys, monkeypatch, args,
                                                        needle):
    monkeypatch.chdir(tmp_path)
    assert predict("--model", tmp_path / "no-bundle", *args) == 2  # the bundle is never read
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err, err
    assert not (tmp_path / "o").exists()


def test_imported_brat_corpus_trains_and_its_bundle_tags_pubtator(tmp_path, capsys,
                                                                  monkeypatch):
    """The one training run: import a BRAT directory, train.py on it (tiny), then predict
    writes PubTator for documents whose offsets slice their text."""
    monkeypatch.chdir(tmp_path)  # --main corpus: the head's name is the path given
    source = tmp_path / "brat"
    docs.write_documents(source, clean_documents(), "brat")
    corpus = tmp_path / "corpus"
    assert corpora("import", source, "--format", "brat", "--out", corpus) == 0
    bundle = tmp_path / "bundle"
    assert run(train_cli.main, ["--main", "corpus", "--out", str(tmp_path / "run"),
                                "--save-model", str(bundle), *TINY, "--train-fraction", "1.0",
                                "--steps", "4", "--set", "train.eval_every=4"]) == 0
    assert "test F1" in capsys.readouterr().out
    assert len(read_split(corpus / "test.tsv")) > 0
    pubtator = tmp_path / "docs.pubtator"
    docs.write_documents(pubtator, clean_documents(), "pubtator")
    assert predict("--model", bundle, pubtator, "--format", "pubtator", "--out",
                   tmp_path / "tagged") == 0
    tagged = docs.read_pubtator(tmp_path / "tagged" / "docs.pubtator")
    source_docs = {d.id: d for d in docs.read_pubtator(pubtator)}
    assert [d.id for d in tagged] == list(source_docs)
    for document in tagged:
        text = source_docs[document.id].text
        assert document.text == text
        for m in document.mentions:
            assert m.text == text[m.start:m.end] and m.infons["head"] == "corpus"
