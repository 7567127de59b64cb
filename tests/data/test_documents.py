"""BRAT, BioC and PubTator documents: readers with their one-line problems, writers, tags."""

import dataclasses
import json
import logging

import pytest

from bioner_mtl.data import documents as docs
from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.text import split_sentences

TEXT = ("BRCA1 mutations cause breast cancer. The p53-mutant gene was found.\n\n"
        "Aspirin and ibuprofen reduce pain. We saw IL-2 in T cells.")


def at(word: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(word, start + 1)
    return start, start + len(word)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def brat_dir(tmp_path):
    """One document with every recoverable problem, an empty one, one without .ann, and a
    clean one."""
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "d1.txt").write_text(TEXT, encoding="utf-8")
    lines = [
        ("T1", "Gene", [at("BRCA1")], "BRCA1"),
        ("T2", "Disease", [at("breast cancer")], "breast cancer"),
        ("T3", "Disease", [at("cancer")], "cancer"),  # nested in T2: dropped
        ("T4", "Gene", [(at("p53")[0] + 1, at("p53")[1])], "53"),  # cuts p53: widened
        ("T5", "Chemical", [at("Aspirin"), at("ibuprofen")], "Aspirin ibuprofen"),  # discont.
        ("T6", "Chemical", [at("ibuprofen")], "ibuprofen"),  # inside T5's covering span
        ("T7", "Gene", [(len(TEXT) - 3, len(TEXT) + 4)], "cells.xyz"),  # outside the text
        ("T8", "Gene", [at("IL-2")], "IL2"),  # mention text differs: offsets kept
        ("T9", "Cell", [at("T cells")], "T cells"),  # a type not in --types
        ("T10", "Gene", [(at("found")[0], at("Aspirin")[1])], "found. Aspirin"),  # crosses
    ]
    ann = [f"{i}\t{k} {';'.join(f'{s} {e}' for s, e in spans)}\t{t}" for i, k, spans, t in lines]
    ann.insert(3, "R1\tCause Arg1:T1 Arg2:T2")  # relations are ignored
    (folder / "d1.ann").write_text("\n".join(ann) + "\n", encoding="utf-8")
    (folder / "empty.txt").write_text("  \n")
    (folder / "empty.ann").write_text("")
    (folder / "noann.txt").write_text("Nothing annotated here.")
    (folder / "sub").mkdir()
    (folder / "sub" / "d2.txt").write_text("Insulin binds INSR.")
    (folder / "sub" / "d2.ann").write_text("T1\tGene 14 18\tINSR\n")
    return folder


def test_brat_problems_one_line_each_and_the_kept_mentions(tmp_path, caplog):
    folder = brat_dir(tmp_path)
    problems = docs.Problems(["Gene", "Disease", "Chemical", "Species"])
    read = docs.read_documents(folder, "brat", problems)
    assert [d.id for d in read] == ["d1", "empty", "noann", "sub/d2"]
    tagged = {t.id: t for t in docs.tag_documents(read, problems)}
    assert set(tagged) == {"d1", "noann", "sub/d2"}
    ann = folder / "d1.ann"
    p53, found_aspirin = at("p53"), (at("found")[0], at("Aspirin")[1])
    assert warnings(caplog) == [
        f"{folder / 'noann.txt'}: no noann.ann beside it; read as a document without mentions",
        f"{ann}:5: Gene {p53[0] + 1}-{p53[1]} '53' cuts a token; widened to the token "
        f"boundaries Gene {p53[0]}-{p53[1]} 'p53'",
        f"{ann}:6: discontinuous Chemical span {at('Aspirin')[0]}-{at('Aspirin')[1]};"
        f"{at('ibuprofen')[0]}-{at('ibuprofen')[1]}; kept as the covering span Chemical "
        f"{at('Aspirin')[0]}-{at('ibuprofen')[1]} 'Aspirin and ibuprofen'",
        f"{ann}:8: Gene {len(TEXT) - 3}-{len(TEXT) + 4} lies outside the text "
        f"(0-{len(TEXT)}); dropped",
        f"{ann}:9: Gene {at('IL-2')[0]}-{at('IL-2')[1]}: the file says 'IL2' but the text "
        "there is 'IL-2'; kept the offsets",
        f"{ann}:10: type 'Cell' is not in --types Gene,Disease,Chemical,Species; its mentions "
        "are dropped (counted at the end)",
        # overlaps are settled longest first: the crossing T10 loses to T5's covering span
        f"{ann}:11: Gene {found_aspirin[0]}-{found_aspirin[1]} 'found.\\n\\nAspirin' overlaps "
        f"Chemical {at('Aspirin')[0]}-{at('ibuprofen')[1]} 'Aspirin and ibuprofen' ({ann}:6); "
        "kept that one (the longer, then the earlier)",
        f"{ann}:7: Chemical {at('ibuprofen')[0]}-{at('ibuprofen')[1]} 'ibuprofen' overlaps "
        f"Chemical {at('Aspirin')[0]}-{at('ibuprofen')[1]} 'Aspirin and ibuprofen' ({ann}:6); "
        "kept that one (the longer, then the earlier)",
        f"{ann}:3: Disease {at('cancer')[0]}-{at('cancer')[1]} 'cancer' overlaps Disease "
        f"{at('breast cancer')[0]}-{at('breast cancer')[1]} 'breast cancer' ({ann}:2); kept "
        "that one (the longer, then the earlier)",
        f"{folder / 'empty.txt'}: document empty has no text; skipped",
        "--types: no mention of type 'Species' in any document (a typo?)",
    ]
    kept = [(m.start, m.end, m.type) for m in tagged["d1"].mentions]
    assert kept == [(*at("BRCA1"), "Gene"), (*at("breast cancer"), "Disease"),
                    (*p53, "Gene"), (at("Aspirin")[0], at("ibuprofen")[1], "Chemical"),
                    (*at("IL-2"), "Gene")]
    assert dict(problems.counts) == {"no-ann": 1, "widened": 1, "discontinuous": 1,
                                     "outside": 1, "mismatch": 1, "overlap": 3, "empty": 1}
    assert problems.summary("x") == (
        "x: 1 .txt files without .ann (read without mentions); 1 cutting a token (widened to "
        "token boundaries); 1 discontinuous (kept as the covering span); 1 outside the text "
        "(dropped); 1 mention text differing from the text at the offsets (offsets kept); 3 "
        "overlapping or nested (dropped); 1 empty documents (skipped); dropped types: Cell (1)")
    # the tags hold exactly the kept spans, token-aligned, sentences as the splitter cut them
    spans = [s for sentence in tagged["d1"].sentences for s in docs.mention_offsets(sentence)]
    assert spans == kept
    assert len(tagged["d1"].sentences) == len(split_sentences(TEXT)) == 4


def test_a_kept_mention_across_sentences_joins_them(tmp_path, caplog):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "a.txt").write_text("It binds Tumor. Necrosis factor here. Then more.")
    (folder / "a.ann").write_text("T1\tGene 9 31\tTumor. Necrosis factor\n")
    problems = docs.Problems()
    [tagged] = docs.tag_documents(docs.read_documents(folder, "brat"), problems)
    assert warnings(caplog) == [f"{folder / 'a.ann'}:1: Gene 9-31 'Tumor. Necrosis factor' "
                                "crosses a sentence boundary; the sentences are kept as one"]
    assert [len(s.tokens) for s in tagged.sentences] == [8, 3]
    assert docs.mention_offsets(tagged.sentences[0]) == [(9, 31, "Gene")]


@pytest.mark.parametrize(("ann", "needle"), [
    ("T1\tGene 0 x\tA", "a.ann:1: not a BRAT text-bound line"),
    ("T1 Gene 0 1 A", "a.ann:1: not a BRAT text-bound line"),
    ("T1\tGene 3 1\tA", "a.ann:1: span 3-1 is empty or reversed"),
    ("T1\tGene 0 1\tA\n#1\tAnnotatorNotes T1\tx\nT1\tGene 0 1\tA", "a.ann:3: id T1 again "
                                                                    "(first on line 1)"),
    ("T1\tGe-\t0 1", "a.ann:1: not a BRAT text-bound line"),
    ("T1\tGene- 0 1\tA", "a.ann:1: entity type 'Gene-' cannot be a tag type"),
    ("T1 Gene 0 1 A", "discontinuous 'Type 0 5;10 15'): 'T1 Gene 0 1 A'"),  # the line shown
])
def test_malformed_brat_lines_name_file_and_line(tmp_path, ann, needle):
    (tmp_path / "a.txt").write_text("A b c.")
    (tmp_path / "a.ann").write_text(ann + "\n")
    with pytest.raises(InputError) as err:
        docs.read_documents(tmp_path, "brat")
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert "{" not in str(err.value), str(err.value)  # no unformatted {line[:60]!r}


def test_brat_ann_without_text_and_empty_dirs(tmp_path):
    (tmp_path / "x.ann").write_text("")
    with pytest.raises(InputError, match=r"x.ann: no x.txt beside it"):
        docs.read_documents(tmp_path, "brat")
    with pytest.raises(InputError, match="not a directory"):
        docs.read_documents(tmp_path / "nope", "brat")


BIOC_XML = """<?xml version="1.0" encoding="UTF-8"?>
<collection><source>test</source><date/><key/>
<document><id>100</id>
<passage><infon key="type">title</infon><offset>0</offset><text>BRCA1 in breast cancer</text>
<annotation id="1"><infon key="type">Gene</infon>
 <location offset="0" length="5"/>
 <text>BRCA1</text></annotation>
<annotation id="2"><infon key="type">Disease</infon>
 <location offset="9" length="6"/>
 <location offset="16" length="6"/>
 <text>breast cancer</text></annotation>
</passage>
<passage><infon key="type">abstract</infon><offset>30</offset><text>We saw BRCA2 and p53.</text>
<annotation id="3"><infon key="type">Gene</infon>
 <infon key="identifier">675</infon>
 <location offset="37" length="5"/>
 <text>BRCA2</text></annotation>
<annotation id="4"><infon key="type">Gene</infon>
 <location offset="47" length="3"/>
 <text>p53</text></annotation>
<annotation id="5"><infon key="type">Gene</infon>
 <location offset="60" length="4"/>
 <text>xxxx</text></annotation>
</passage></document>
<document><id>101</id><passage><offset>0</offset><text></text></passage></document>
</collection>
"""


def bioc_json() -> str:
    return json.dumps({"source": "t", "documents": [{"id": "100", "passages": [
        {"offset": 0, "infons": {"type": "title"}, "text": "BRCA1 in breast cancer",
         "annotations": [
             {"id": "1", "infons": {"type": "Gene"}, "text": "BRCA1",
              "locations": [{"offset": 0, "length": 5}]},
             {"id": "2", "infons": {"type": "Disease"}, "text": "breast cancer",
              "locations": [{"offset": 9, "length": 6}, {"offset": 16, "length": 6}]}]},
        {"offset": 30, "infons": {"type": "abstract"}, "text": "We saw BRCA2 and p53.",
         "annotations": [
             {"id": "3", "infons": {"type": "Gene", "identifier": "675"}, "text": "BRCA2",
              "locations": [{"offset": 37, "length": 5}]},
             {"id": "4", "infons": {"type": "Gene"}, "text": "p53",
              "locations": [{"offset": 47, "length": 3}]},
             {"id": "5", "infons": {"type": "Gene"}, "text": "xxxx",
              "locations": [{"offset": 60, "length": 4}]}]}]},
        {"id": "101", "passages": [{"offset": 0, "text": ""}]}]})


@pytest.mark.parametrize("kind", ["xml", "json"])
def test_bioc_passages_offsets_and_problems(tmp_path, caplog, kind):
    path = tmp_path / f"c.{kind}"
    path.write_text(BIOC_XML if kind == "xml" else bioc_json(), encoding="utf-8")
    problems = docs.Problems()
    read = docs.read_documents(path, "bioc", problems)
    assert [d.id for d in read] == ["100", "101"]
    document = read[0]
    assert [(p.offset, p.text) for p in document.passages] == [
        (0, "BRCA1 in breast cancer"), (30, "We saw BRCA2 and p53.")]
    assert document.text == "BRCA1 in breast cancer" + "\n" * 8 + "We saw BRCA2 and p53."
    assert document.mentions[2].infons == {"identifier": "675"}
    tagged = docs.tag_documents(read, problems)
    where = f"{path}: document 100, passage 2, annotation"
    assert warnings(caplog) == [
        f"{path}: document 100, passage 1, annotation 2 (offset 9): discontinuous Disease span "
        "9-15;16-22; kept as the covering span Disease 9-22 'breast cancer'",
        f"{where} 5 (offset 60): Gene 60-64 lies outside the text (0-51); dropped",
        f"{path}: document 101 has no text; skipped"]
    assert [(m.start, m.end, m.type) for m in tagged[0].mentions] == [
        (0, 5, "Gene"), (9, 22, "Disease"), (37, 42, "Gene"), (47, 50, "Gene")]
    # a passage is cut into sentences on its own: the title is one sentence
    assert [[t.text for t in s.tokens] for s in tagged[0].sentences] == [
        ["BRCA1", "in", "breast", "cancer"], ["We", "saw", "BRCA2", "and", "p53", "."]]


@pytest.mark.parametrize(("text", "needle"), [
    ("<collection><document><id>1</id><passage><offset>0</offset>", "c.xml:1: not "
                                                                    "well-formed XML"),
    ("<root/>", "the root element is <root>, not a BioC <collection>"),
    ("<collection><document><id>7</id><passage><offset>x</offset><text>a</text></passage>"
     "</document></collection>", "c.xml: document 7, passage 1: offset 'x' is not an offset"),
    ("<collection><document><id>7</id><passage><offset>0</offset><text>a b</text>"
     "<annotation id='9'><location offset='0' length='1'/></annotation></passage></document>"
     "</collection>", "document 7, passage 1, annotation 9: an annotation without a 'type'"),
    ("<collection><document><id>7</id><passage><offset>0</offset><text>a b</text>"
     "<annotation id='9'><infon key='type'>G</infon></annotation></passage></document>"
     "</collection>", "annotation 9: an annotation without a location"),
    ("<collection><document><id>7</id><passage><offset>0</offset><text>a b</text></passage>"
     "<passage><offset>2</offset><text>c</text></passage></document></collection>",
     "document 7: a passage at offset 2 starts inside the one at 0"),
    ("<collection><document><passage><offset>0</offset><text>a</text></passage></document>"
     "</collection>", "document 1: a document without an id"),
    ("<collection><document><id>7</id><passage><offset>0</offset><text>a</text></passage>"
     "</document><document><id>7</id><passage><offset>0</offset><text>b</text></passage>"
     "</document></collection>", "c.xml: document id 7 again"),
    ("plain", "neither BioC XML"),
])
def test_bad_bioc_is_one_line(tmp_path, text, needle):
    path = tmp_path / "c.xml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        docs.read_documents(path, "bioc")
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_bad_bioc_json_is_one_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"documents": [}')
    with pytest.raises(InputError, match=r"c.json:1: not valid JSON"):
        docs.read_documents(path, "bioc")
    path.write_text('{"documents": [{"id": "3", "passages": [{"offset": -1, "text": "a"}]}]}')
    with pytest.raises(InputError, match=r"document 3, passage 1: offset -1 is not an offset"):
        docs.read_documents(path, "bioc")


@pytest.mark.parametrize(("where", "needle"), [
    ("document", "c.json: document 3: infons is a list \"['abc']\", not an object; give "
                 "infons as {\"key\": \"value\", ...}"),
    ("passage", "c.json: document 3, passage 1: infons is a list"),
    ("annotation", "c.json: document 3, passage 1, annotation 1: infons is a str"),
])
def test_bioc_json_infons_that_are_not_an_object_are_one_line(tmp_path, where, needle):
    annotation = {"infons": "Gene" if where == "annotation" else {"type": "Gene"},
                  "locations": [{"offset": 0, "length": 1}]}
    passage = {"offset": 0, "text": "a b", "annotations": [annotation],
               **({"infons": ["abc"]} if where == "passage" else {})}
    document = {"id": "3", "passages": [passage],
                **({"infons": ["abc"]} if where == "document" else {})}
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"documents": [document]}))
    with pytest.raises(InputError) as err:  # was a bare ValueError from dict(['abc'])
        docs.read_documents(path, "bioc")
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_bioc_json_nested_too_deeply_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"documents": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match=r"deep.json: JSON nested too deeply to read; "):
        docs.read_documents(path, "bioc")  # was an uncaught RecursionError


def test_bioc_xml_writes_characters_xml_cannot_hold_as_spaces(tmp_path):
    """A form feed (pdftotext's page break) and the other C0 controls XML 1.0 forbids are
    written as spaces, so the file parses and every offset still slices the text."""
    text = "Page one ends.\x0cBRCA1 on page two\x01 and\x1b p53.\r\nDone."
    spans = [(text.index(word), text.index(word) + len(word)) for word in ("BRCA1", "p53")]
    mentions = tuple(docs.Mention(s, e, "Gene", text[s:e]) for s, e in spans)
    path = tmp_path / "out.xml"
    docs.write_documents(path, [docs.Document("d", (docs.Passage(0, text),), mentions)], "bioc")
    [document] = docs.read_bioc(path)
    assert document.text == "Page one ends. BRCA1 on page two  and  p53.\r\nDone."
    assert [(m.start, m.end, m.text) for m in document.mentions] == [
        (*spans[0], "BRCA1"), (*spans[1], "p53")]


PUBTATOR = """100|t|BRCA1 in breast cancer
100|a|We saw BRCA2 and p53.
100\t0\t5\tBRCA1\tGene\t672
100\t9\t22\tbreast cancer\tDisease\tD001943
100\t30\t35\tBRCA2\tGene
100\t9\t15\tbreast\tDisease
100\tCID\t672\tD001943

200|t|Aspirin
200|a|
200\t0\t7\tAspirn\tChemical\tD001241
"""


def test_pubtator_documents_and_problems(tmp_path, caplog):
    path = tmp_path / "p.pubtator"
    path.write_text(PUBTATOR)
    problems = docs.Problems()
    read = docs.read_documents(path, "pubtator", problems)
    assert [d.id for d in read] == ["100", "200"]
    assert read[0].text == "BRCA1 in breast cancer\nWe saw BRCA2 and p53."
    assert [p.offset for p in read[0].passages] == [0, 23]
    tagged = docs.tag_documents(read, problems)
    assert warnings(caplog) == [
        f"{path}:6: Disease 9-15 'breast' overlaps Disease 9-22 'breast cancer' ({path}:4); "
        "kept that one (the longer, then the earlier)",
        f"{path}:11: Chemical 0-7: the file says 'Aspirn' but the text there is 'Aspirin'; "
        "kept the offsets"]
    assert [(m.start, m.end, m.type) for m in tagged[0].mentions] == [
        (0, 5, "Gene"), (9, 22, "Disease"), (30, 35, "Gene")]
    assert read[0].mentions[0].infons == {"identifier": "672"}


@pytest.mark.parametrize(("text", "needle"), [
    ("1|t|A b\n1\t0\tx\tA\tGene\n", "p.pubtator:2: not a PubTator line"),
    ("1|t|A b\n1\t0\t1\tA\n", "p.pubtator:2: not a PubTator line"),
    ("1|t|A b\n2\t0\t1\tA\tGene\n", "p.pubtator:2: mention of document 2 outside its document"),
    ("1|t|A b\n1\t1\t1\tA\tGene\n", "p.pubtator:2: span 1-1 is empty or reversed"),
    ("1|t|A\n\n1|t|B\n", "p.pubtator: document id 1 again"),
])
def test_bad_pubtator_names_the_line(tmp_path, text, needle):
    path = tmp_path / "p.pubtator"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        docs.read_documents(path, "pubtator")
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def clean_documents() -> list[docs.Document]:
    """Real sentences (NCBI-disease test) as documents with token-aligned mentions; odd
    whitespace and non-ASCII text between them."""
    from bioner_mtl.data.derived_labels import mention_spans

    sentences = load_corpus("NCBI-disease").test[:30]
    out = []
    for d in range(6):
        text, mentions = "Über α-synuclein:\t", []
        for i, sentence in enumerate(sentences[d * 5:d * 5 + 5]):
            starts = []
            for token in sentence.tokens:
                starts.append(len(text))
                text += token + ("  " if i % 2 else " ")
            for s, e, kind in mention_spans(sentence.tags):
                end = starts[e - 1] + len(sentence.tokens[e - 1])
                mentions.append(docs.Mention(starts[s], end, kind, text[starts[s]:end]))
            text += "\r\n\n" if i == 2 else "\n"
        out.append(docs.Document(f"doc{d}", (docs.Passage(0, text),), tuple(mentions)))
    assert sum(len(d.mentions) for d in out) > 10
    return out


@pytest.mark.parametrize("fmt", ["brat", "bioc", "bioc-json", "pubtator"])
def test_written_documents_read_back_with_the_same_offsets(tmp_path, fmt, caplog):
    original = clean_documents()
    target = tmp_path / ("out" if fmt == "brat" else f"out.{fmt}")
    docs.write_documents(target, original, fmt)
    read = docs.read_documents(target, "bioc" if fmt.startswith("bioc") else fmt)
    assert [d.id for d in read] == [d.id for d in original]
    for before, after in zip(original, read):
        text = after.text
        if fmt == "pubtator":  # one line: line breaks written as spaces, offsets unchanged
            assert text == before.text.replace("\r", " ").replace("\n", " ")
        else:
            assert text == before.text
        assert [(m.start, m.end, m.type) for m in after.mentions] == [
            (m.start, m.end, m.type) for m in before.mentions]
        assert all(m.text == text[m.start:m.end] for m in after.mentions if "\n" not in m.text)
    tagged = docs.tag_documents(read, docs.Problems())
    assert not warnings(caplog)  # aligned mentions: nothing to resolve
    for document, t in zip(original, tagged):  # text + spans -> tags -> spans: the same
        spans = [s for sentence in t.sentences for s in docs.mention_offsets(sentence)]
        assert spans == [(m.start, m.end, m.type) for m in document.mentions]


def test_corpus_from_documents_gives_back_the_offsets(tmp_path):
    """documents -> corpus (train/devel/test by document) -> tags -> character spans."""
    original = {d.id: d for d in clean_documents()}
    docs.write_documents(tmp_path / "brat", list(original.values()), "brat")
    loaded = docs.load_documents(tmp_path / "brat", "brat", fractions=(0.5, 0.25, 0.25),
                                 seed=3)
    assert sorted(i for ids in loaded.ids.values() for i in ids) == sorted(original)
    assert [len(loaded.ids[s]) for s in docs.SPLIT_NAMES] == [2, 2, 2]
    for split in docs.SPLIT_NAMES:
        sentences = iter(loaded.splits[split])
        for ident in loaded.ids[split]:
            document = original[ident]
            spans = []
            for tokens in docs.document_sentences(document):
                sentence = next(sentences)
                assert list(sentence.tokens) == [t.text for t in tokens]
                tagged = docs.TaggedSentence(tuple(tokens), sentence.tags)
                spans += docs.mention_offsets(tagged)
            assert spans == [(m.start, m.end, m.type) for m in document.mentions]
        assert next(sentences, None) is None
    again = docs.load_documents(tmp_path / "brat", "brat", fractions=(0.5, 0.25, 0.25), seed=3)
    assert again.ids == loaded.ids  # seeded
    other = docs.load_documents(tmp_path / "brat", "brat", fractions=(0.5, 0.25, 0.25), seed=4)
    assert other.ids != loaded.ids


def test_a_document_directory_loads_as_a_corpus(tmp_path):
    """--main DIR with documents in place of train/devel/test.tsv: the default split."""
    docs.write_documents(tmp_path / "mine", clean_documents(), "brat")
    corpus = load_corpus(str(tmp_path / "mine"))
    expected = docs.load_documents(tmp_path / "mine", "brat")
    assert corpus.train == expected.splits["train"] and corpus.test == expected.splits["test"]
    assert corpus.entity_types == ["Disease"]
    from bioner_mtl.data.corpora import source_files

    assert {p.suffix for p in source_files(str(tmp_path / "mine"))} == {".txt", ".ann"}


def test_split_files_and_fractions_are_checked(tmp_path, caplog):
    ids = ["a", "b", "c", "d"]
    files = []
    for name, content in (("train", "a\nb\n"), ("devel", "c\n"), ("test", "\n")):
        files.append(tmp_path / f"{name}.ids")
        files[-1].write_text(content)
    with pytest.raises(InputError, match=r"test.ids: no document ids"):
        docs.split_by_files(ids, files)
    files[2].write_text("b\n")
    with pytest.raises(InputError, match=r"test.ids:1: document b is already in .*train.ids:2"):
        docs.split_by_files(ids, files)
    files[2].write_text("z\n")
    with pytest.raises(InputError, match=r"test.ids:1: no document has id 'z'"):
        docs.split_by_files(ids, files)
    files[1].write_text("c\n")
    files[2].write_text("\n\nd\n")
    files[0].write_text("a\n")
    assert docs.split_by_files(ids, files) == {"train": ["a"], "devel": ["c"], "test": ["d"]}
    assert warnings(caplog) == ["--split-files: 1 document(s) in no split file, left out (b)"]
    for bad in ("0.8,0.2", "0.8,0.2,0", "a,b,c", "0.5,0.5,0.5"):
        with pytest.raises(InputError, match="three fractions above 0"):
            docs.parse_fractions(bad)
    with pytest.raises(InputError, match="a train/devel/test split needs at least 3"):
        docs.split_by_fractions(["a", "b"], (0.8, 0.1, 0.1), 1)
    split = docs.split_by_fractions([str(i) for i in range(20)], (0.8, 0.1, 0.1), 1)
    assert [len(split[s]) for s in docs.SPLIT_NAMES] == [16, 2, 2]
    assert sorted(sum(split.values(), []), key=int) == [str(i) for i in range(20)]


# ----- offsets counted in other units (issue 26): converted once, or refused -------------------
def tagged_words(document, problems=None) -> list[str]:
    tagged = docs.tag_document(document, problems or docs.Problems())
    return [" ".join(t.text for t, g in zip(s.tokens, s.tags) if g != "O")
            for s in tagged.sentences if set(s.tags) != {"O"}]


def mention(text: str, word: str, start: int, **kw) -> docs.Mention:
    return docs.Mention(start, start + kw.pop("length", len(word)), "Chem", word, **kw)


def test_bioc_utf16_offsets_are_converted_within_each_passage(caplog):
    first, second = "Mood \U0001F600 \U0001F600 fine; aspirin given.", "Then ibuprofen."
    units = len(first.encode("utf-16-le")) // 2  # the file's passage offsets are in units too
    passages = (docs.Passage(0, first), docs.Passage(units + 1, second))
    mentions = (mention(first, "aspirin", first.index("aspirin") + 2),
                mention(second, "ibuprofen", units + 1 + second.index("ibuprofen")))
    problems = docs.Problems()
    document = docs.Document("d", passages, mentions, "f.json")
    assert tagged_words(document, problems) == ["aspirin", "ibuprofen"]
    assert problems.counts == {"units": 1}
    assert [m for m in warnings(caplog) if "UTF-16 code units" in m]


def test_pubtator_utf8_byte_offsets_count_from_the_document_start():
    title, abstract = "Caf\u00e9 na\u00efve aspirin", "Then ibuprofen."
    text = f"{title}\n{abstract}"
    in_bytes = lambda i: len(text[:i].encode()) # noqa: E731
    mentions = tuple(mention(text, w, in_bytes(text.index(w)), length=len(w))
                     for w in ("aspirin", "ibuprofen"))
    document = docs.Document("1", (docs.Passage(0, title), docs.Passage(len(title) + 1,
                                                                        abstract)), mentions)
    assert tagged_words(document) == ["aspirin", "ibuprofen"]


def test_a_typo_beside_converted_offsets_stays_a_warning(caplog):
    text = "A\r\n" + " ".join(f"w{i} aspirin" for i in range(12))
    starts = [m - 1 for m in range(len(text)) if text.startswith("aspirin", m)]  # LF-counted
    mentions = [mention(text, "aspirin", s) for s in starts]
    mentions[5] = mention(text, "asprin", starts[5], length=7)  # the annotator's typo
    problems = docs.Problems()
    words = tagged_words(docs.Document("d", (docs.Passage(0, text),), tuple(mentions)),
                         problems)
    assert " ".join(words).split() == ["aspirin"] * 12
    assert problems.counts == {"units": 1, "mismatch": 1}


def test_offsets_of_another_text_are_refused_and_a_few_mismatches_are_not():
    text = "Aspirin and ibuprofen and naproxen help."
    shifted = tuple(mention(text, w, text.index(w) + 3) for w in ("Aspirin", "ibuprofen",
                                                                  "naproxen"))
    with pytest.raises(InputError, match=r"f.ann:1: 3 of the 3 mention texts of document d "
                                         r"differ from the text at their offsets"):
        docs.tag_document(docs.Document("d", (docs.Passage(0, text),),
                                        tuple(dataclasses.replace(m, where="f.ann:1")
                                              for m in shifted)), docs.Problems())
    two = shifted[:2] + (mention(text, "naproxen", text.index("naproxen")),)
    problems = docs.Problems()
    docs.tag_document(docs.Document("d", (docs.Passage(0, text),), two), problems)
    assert problems.counts["mismatch"] == 2  # fewer than 3: warnings, as before


def test_pubtator_ids_a_pubtator_file_cannot_hold_are_refused():
    for ident in ("a|b", "a\tb", "", "a\nb"):
        document = docs.Document(ident, (docs.Passage(0, "Aspirin."),))
        with pytest.raises(InputError, match="which PubTator cannot hold"):
            docs.pubtator_text([document])
