import gzip
import logging

import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import read_split, write_split


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
        ("a\tS-Gene\nb\tB-Gene\nc\tO\n", ":2: tag sequence breaks IOBES at 'B-Gene'"),
        ("a\tS-Gene\nb\tI-Gene\n", ":2: tag sequence breaks IOBES at 'I-Gene': I-Gene after "
                                     "S-Gene continues no mention"),
        # a file mixing schemes: sentence 2 is IOB2, which is broken IOBES (B- never closed)
        ("a\tS-Gene\n\nb\tB-Gene\nc\tI-Gene\nd\tO\n", ":4: tag sequence breaks IOBES at "
                                                       "'I-Gene'"),
        ("a\tB-Gene\nb\tI-Gene\n\nc\tB-Chem\nd\tE-Chem\n", ":2: tag sequence breaks IOBES "
                                                          "at 'I-Gene': the sentence ends"),
        ("a\tb-gene\n", ":1: tag 'b-gene' has a lower-case prefix; write B-gene"),
        ("a\tO\nb\tB-\n", ":2: tag 'B-' has no entity type"),
        ("a\tI-\n", ":1: tag 'I-' has no entity type"),
        ("a\tO-Gene\n", ":1: tag 'O-Gene' is not O, B-TYPE"),
        ("a\tB-Gene B-Chem\n", ":1: tag 'B-Gene B-Chem' has whitespace inside"),
        ("a\tB--Gene\n", ":1: tag 'B--Gene' has an entity type '-Gene' that starts or ends"),
        ("a\tO\rb\tO\n", ":1: carriage return"),
        ("a\tO\nb\x00\tO\n", ":2: NUL byte"),
        ("-DOCSTART-\tO\n\n-DOCSTART-\tO\n", "no sentences; a split needs at least one"),
        ("", "no sentences; a split needs at least one"),
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


GZ = gzip.compress(b"a\tO\nb\tB-X\n" * 200)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (GZ[: len(GZ) // 2], "gzip file is truncated or corrupt (Compressed file ended"),  # EOF
        (GZ[:10] + b"\xff" * 4 + GZ[14:], "gzip file is truncated or corrupt (Error -3"),  # zlib
        (GZ[:-8] + b"\0\0\0\0" + GZ[-4:], "gzip file is truncated or corrupt (CRC check"),
        (GZ + b"junk", "gzip file is truncated or corrupt (Not a gzipped file"),
        (b"a\tO\n", "not gzip data (4 bytes, no gzip header), so truncated or corrupt"),
        (b"", "not gzip data (0 bytes"),
    ],
    ids=["truncated", "zlib-error", "crc", "trailing-junk", "plain-text", "empty"],
)
def test_damaged_gzip_names_the_file(tmp_path, data, message):
    path = write(tmp_path, data, name="train.tsv.gz")
    with pytest.raises(InputError) as err:
        read_split(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value) and "re-copy" in str(err.value)
    assert "\n" not in str(err.value)


def test_gzip_data_is_read_whatever_the_name(tmp_path):
    assert read_split(write(tmp_path, gzip.compress(b"a\tB-X\n")))[0].tags == ("B-X",)


def test_utf16_is_named(tmp_path):
    path = write(tmp_path, "a\tO\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"train.tsv: the file is UTF-16 .*re-encode it as UTF-8"):
        read_split(path)


def test_bom_spaces_around_columns_and_bom_mid_file(tmp_path):
    # two files joined with cat: the second one's BOM starts line 4, before -DOCSTART-
    text = "\ufeffa \t B-X \r\n\r\n\ufeff-DOCSTART-\tO\n\nb\tO\n"
    sentences = read_split(write(tmp_path, text))
    assert [(s.tokens, s.tags, s.document) for s in sentences] == [
        (("a",), ("B-X",), 0), (("b",), ("O",), 1)]


def test_mixed_schemes_name_the_first_iobes_line(tmp_path):
    path = write(tmp_path, "a\tB-Gene\nb\tO\n\nc\tS-Chem\n")
    with pytest.raises(InputError) as err:
        read_split(path)
    assert f"{path}:1: tag sequence breaks IOBES at 'B-Gene'" in str(err.value)
    assert "S-/E- tags from line 4; a file uses one scheme throughout" in str(err.value)


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match=r"is a directory, not a file"):
        read_split(tmp_path)


def test_write_into_missing_directory_creates_it(tmp_path):
    target = tmp_path / "no" / "such" / "train.tsv"
    write_split(target, read_split(write(tmp_path, "a\tO\n")))
    assert [s.tokens for s in read_split(target)] == [("a",)]


def test_write_where_a_file_stands_for_the_directory(tmp_path):
    (tmp_path / "taken").write_text("")
    target = tmp_path / "taken" / "train.tsv"
    with pytest.raises(InputError, match=r"train.tsv: cannot write"):
        write_split(target, read_split(write(tmp_path, "a\tO\n")))
