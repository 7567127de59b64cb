import gzip
import logging

import pytest

from data.errors import InputError
from data.reader import read_split, write_split


def write(tmp_path, text, name="train.tsv", mode="w"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def test_reads_sentences_documents_crlf_and_trailing_spaces(tmp_path):
    text = ("-DOCSTART-\tO\r\n\r\nIL-2\tB-Gene  \r\ngene\tI-Gene\r\n\r\n"
            "-DOCSTART-\tO\r\n\r\nNo\tO\r\n")
    sentences = read_split(write(tmp_path, text))
    assert [s.tokens for s in sentences] == [("IL-2", "gene"), ("No",)]
    assert [s.tags for s in sentences] == [("B-Gene", "I-Gene"), ("O",)]
    assert [s.document for s in sentences] == [0, 1]


def test_reads_gzip(tmp_path):
    path = tmp_path / "train.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("a\tO\nb\tB-X\n")
    assert read_split(path)[0].tags == ("O", "B-X")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\tO\nb\tO\textra\n", ":2: found 3 column(s), expected token<TAB>tag"),
        ("a\tO\n \tO\n", ":2: empty token"),
        ("a\tO\n\tO\n", ":2: empty token"),
        ("a\tO\nb\tI-Gene\n", ":2: I-Gene follows O, not B-Gene or I-Gene"),
        ("a\tB-Chem\nb\tI-Gene\n", ":2: I-Gene follows B-Chem"),
        ("a\tGENE\n", ":1: tag 'GENE' is not O, B-TYPE"),
        ("a\tS-Gene\nb\tB-Gene\nc\tO\n", ":3: tag sequence breaks IOBES at 'O'"),
        ("\n\n", "no sentences; a split needs at least one"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_split(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write(tmp_path, b"a\tO\n\nb\xff\tO\n")
    with pytest.raises(InputError, match=r"train.tsv:3: bytes that are not UTF-8"):
        read_split(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_split(tmp_path / "nope.tsv")


def test_repair_option_reports_count(tmp_path, caplog):
    path = write(tmp_path, "a\tO\nb\tI-Gene\nc\tI-Gene\n\nd\tI-Chem\n")
    with caplog.at_level(logging.WARNING):
        sentences = read_split(path, repair=True)
    assert sentences[0].tags == ("O", "B-Gene", "I-Gene")
    assert sentences[1].tags == ("B-Chem",)
    assert "repaired 2 I- tag(s)" in caplog.text


def test_iobes_files_are_read_as_iob2(tmp_path):
    path = write(tmp_path, "a\tS-Gene\nb\tB-Chem\nc\tE-Chem\n")
    assert read_split(path)[0].tags == ("B-Gene", "B-Chem", "I-Chem")


def test_plain_labels_skip_tag_checks(tmp_path):
    path = write(tmp_path, "The\tDT\ngene\tNN\n")
    assert read_split(path, labels="plain")[0].tags == ("DT", "NN")


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES"])
def test_write_then_read_is_lossless(tmp_path, scheme):
    original = read_split(write(tmp_path, "-DOCSTART-\tO\n\na\tB-X\nb\tI-X\n\n-DOCSTART-\tO\n\n"
                                          "c\tB-Y\nd\tO\n"))
    out = tmp_path / f"out_{scheme}.tsv"
    write_split(out, original, scheme)
    assert ("S-Y" in out.read_text()) == (scheme == "IOBES")
    assert read_split(out) == original
