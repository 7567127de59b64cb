"""Hostile input to the corpus and evaluation command lines, through the real entry point.

Every bad file ends in exit code 2 and one line `error: FILE[:LINE]: ...` (never a traceback);
every file that is tolerated scores exactly like its clean twin.
"""

import gzip
import json

import pytest

from bioner_mtl.experiments import corpora as corpora_cli
from bioner_mtl.experiments import evaluate as evaluate_cli
from bioner_mtl.training.cli import run

GOLD = "IL-2\tB-Gene\ngene\tI-Gene\nand\tO\naspirin\tB-Chem\n\nTNF\tB-Gene\n"
PRED = "IL-2\tB-Gene\ngene\tO\nand\tO\naspirin\tB-Chem\n\nTNF\tB-Gene\n"
GZ = gzip.compress(GOLD.encode())


def put(tmp_path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")


def fails(capsys, main, argv: list[str]) -> str:
    """Run a tool as a user does; it must stop with exit code 2 and one `error: ` line."""
    assert run(main, argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


# (files, arguments after the tool, what the error line must say)
EVALUATE_ERRORS = {
    # reported 2: tags seqeval cannot read (KeyError before)
    "pred-tag-X": ({"gold.tsv": "a\tB-Gene\nb\tO\n", "pred.tsv": "a\tX\nb\tO\n"},
                   ["gold.tsv", "pred.tsv"], "pred.tsv:1: tag 'X' is not O, B-TYPE, I-TYPE"),
    "pred-lower-case": ({"gold.tsv": "a\tB-Gene\nb\tO\n", "pred.tsv": "a\tb-gene\nb\tO\n"},
                        ["gold.tsv", "pred.tsv"],
                        "pred.tsv:1: tag 'b-gene' has a lower-case prefix; write B-gene"),
    "gold-tag-X": ({"gold.tsv": "a\tO\nb\tGENE\n", "pred.tsv": "a\tO\nb\tO\n"},
                   ["gold.tsv", "pred.tsv"], "gold.tsv:2: tag 'GENE' is not O"),
    # reported 3: broken IOBES scored as perfect, a bare B- counted as a mention of type '_'
    "pred-broken-iobes": ({"gold.tsv": "a\tB-Gene\nb\tI-Gene\n",
                           "pred.tsv": "a\tS-Gene\nb\tI-Gene\n"},
                          ["gold.tsv", "pred.tsv"],
                          "pred.tsv:2: tag sequence breaks IOBES at 'I-Gene': I-Gene after "
                          "S-Gene continues no mention"),
    "pred-bare-B": ({"gold.tsv": "a\tB-Gene\nb\tO\n", "pred.tsv": "a\tB-Gene\nb\tB-\n"},
                    ["gold.tsv", "pred.tsv"], "pred.tsv:2: tag 'B-' has no entity type"),
    "three-columns-bare-I": ({"both.tsv": "a\tB-Gene\tI-\n"}, ["both.tsv"],
                             "both.tsv:1: predicted tag 'I-' has no entity type"),
    "three-columns-gold-bad": ({"both.tsv": "a\tB-\tB-Gene\n"}, ["both.tsv"],
                               "both.tsv:1: gold tag 'B-' has no entity type"),
    "pred-mixes-schemes": ({"gold.tsv": "a\tB-Gene\n\nb\tB-Chem\nc\tI-Chem\n",
                            "pred.tsv": "a\tS-Gene\n\nb\tB-Chem\nc\tI-Chem\n"},
                           ["gold.tsv", "pred.tsv"],
                           "pred.tsv:4: tag sequence breaks IOBES at 'I-Chem': the sentence ends"
                           " inside a Chem mention"),
    "gold-mixes-schemes": ({"gold.tsv": "a\tB-Gene\nb\tO\n\nc\tS-Chem\n",
                            "pred.tsv": "a\tB-Gene\nb\tO\n\nc\tB-Chem\n"},
                           ["gold.tsv", "pred.tsv"],
                           "gold.tsv:1: tag sequence breaks IOBES at 'B-Gene'"),
    # gold I-X after O: strict and default would count different gold mentions
    "gold-stray-inside": ({"gold.tsv": "a\tO\nb\tI-Gene\n", "pred.tsv": "a\tO\nb\tB-Gene\n"},
                          ["gold.tsv", "pred.tsv"],
                          "gold.tsv:2: I-Gene follows O, not B-Gene or I-Gene"),
    # files that are not there, empty or not text
    "gold-empty": ({"gold.tsv": "", "pred.tsv": ""}, ["gold.tsv", "pred.tsv"],
                   "gold.tsv: no sentences to score"),
    "gold-blank-lines": ({"gold.tsv": "\n\r\n  \n", "pred.tsv": "a\tO\n"},
                         ["gold.tsv", "pred.tsv"], "gold.tsv: no sentences to score"),
    "docstart-only": ({"both.tsv": "-DOCSTART-\tO\tO\n\n"}, ["both.tsv"],
                      "both.tsv: no sentences to score"),
    "pred-empty": ({"gold.tsv": GOLD, "pred.tsv": "\n"}, ["gold.tsv", "pred.tsv"],
                   "pred.tsv: 0 sentences but gold.tsv has 2; gold sentence 1 (gold.tsv:1)"),
    "gold-directory": ({"dir/x.tsv": "a\tO\n", "pred.tsv": "a\tO\n"}, ["dir", "pred.tsv"],
                       "dir: is a directory, not a file"),
    "pred-missing": ({"gold.tsv": GOLD}, ["gold.tsv", "nope.tsv"],
                     "nope.tsv: cannot read (No such file or directory)"),
    "pred-not-utf8": ({"gold.tsv": GOLD, "pred.tsv": PRED.encode().replace(b"TNF", b"TN\xff")},
                      ["gold.tsv", "pred.tsv"], "pred.tsv:6: bytes that are not UTF-8"),
    "pred-utf16": ({"gold.tsv": GOLD, "pred.tsv": PRED.encode("utf-16")},
                   ["gold.tsv", "pred.tsv"], "pred.tsv: the file is UTF-16"),
    "pred-nul": ({"gold.tsv": GOLD, "pred.tsv": PRED.replace("TNF", "TNF\x00")},
                 ["gold.tsv", "pred.tsv"], "pred.tsv:6: NUL byte"),
    "pred-old-mac-line-ends": ({"gold.tsv": GOLD, "pred.tsv": PRED.replace("\n", "\r")},
                               ["gold.tsv", "pred.tsv"], "pred.tsv:1: carriage return"),
    "gold-truncated-gzip": ({"gold.tsv.gz": GZ[: len(GZ) // 2], "pred.tsv": PRED},
                            ["gold.tsv.gz", "pred.tsv"],
                            "gold.tsv.gz: gzip file is truncated or corrupt"),
    "one-two-column-file": ({"gold.tsv": GOLD}, ["gold.tsv"],
                            "gold.tsv:1: found 2 column(s), expected token<TAB>gold<TAB>predicted"
                            " (or give the predictions as a second file"),
    "tab-inside-token": ({"gold.tsv": GOLD, "pred.tsv": PRED.replace("IL-2", "IL\t2")},
                         ["gold.tsv", "pred.tsv"], "pred.tsv:1: found 3 column(s)"),
    # gold and prediction out of step
    "pred-fewer-sentences": ({"gold.tsv": GOLD, "pred.tsv": PRED.split("\n\n")[0] + "\n"},
                             ["gold.tsv", "pred.tsv"],
                             "pred.tsv: 1 sentences but gold.tsv has 2; gold sentence 2 "
                             "(gold.tsv:6) has no prediction"),
    "pred-extra-sentence": ({"gold.tsv": GOLD, "pred.tsv": PRED + "\nextra\tO\n"},
                            ["gold.tsv", "pred.tsv"],
                            "pred.tsv:8: sentence 3 has no gold sentence (gold.tsv has 2)"),
    "pred-sentences-merged": ({"gold.tsv": GOLD, "pred.tsv": PRED.replace("\n\n", "\n")},
                              ["gold.tsv", "pred.tsv"],
                              "pred.tsv:5: the sentence goes on here but ends in gold.tsv "
                              "(line 4)"),
    "pred-sentence-split": ({"gold.tsv": GOLD, "pred.tsv": PRED.replace("and\tO\n", "and\tO\n\n")},
                            ["gold.tsv", "pred.tsv"],
                            "pred.tsv:3: the sentence ends here but goes on in gold.tsv (line 4)"),
    "pred-token-differs": ({"gold.tsv": GOLD, "pred.tsv": PRED.replace("TNF", "TNFa")},
                           ["gold.tsv", "pred.tsv"],
                           "pred.tsv:6: token 'TNFa' differs from gold.tsv:6 ('TNF')"),
}


@pytest.mark.parametrize("case", EVALUATE_ERRORS.values(), ids=EVALUATE_ERRORS.keys())
def test_evaluate_bad_input_is_one_line(tmp_path, capsys, case):
    files, argv, message = case
    put(tmp_path, files)
    line = fails(capsys, evaluate_cli.main, [str(tmp_path / a) for a in argv])
    assert message in line.replace(f"{tmp_path}/", "")


def scores(capsys, tmp_path, argv: list[str]) -> dict:
    assert run(evaluate_cli.main, [str(tmp_path / a) for a in argv] + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def three_columns(gold: str, pred: str) -> str:
    return "".join(f"{g}\t{p.split(chr(9))[1]}\n" if g else "\n"
                   for g, p in zip(gold.split("\n"), pred.split("\n")) if g or p)


@pytest.mark.parametrize(
    "files",
    [
        {"pred.tsv": "\ufeff" + PRED.replace("\n", "\r\n")},  # BOM and CRLF
        {"pred.tsv": PRED.replace("\t", " \t ")},  # spaces around the columns
        {"pred.tsv": gzip.compress(PRED.encode())},  # gzip data under a plain name
        {"pred.tsv": "-DOCSTART-\tO\n\n" + PRED.replace("\n\n", "\n\n\ufeff-DOCSTART-\tO\n\n")},
        {"pred.tsv.gz": gzip.compress(PRED.encode())},
    ],
    ids=["bom-crlf", "spaces", "gzip-named-tsv", "bom-mid-file", "gz"],
)
def test_tolerated_input_scores_like_the_clean_file(tmp_path, capsys, files):
    put(tmp_path, {"gold.tsv": GOLD, "clean.tsv": PRED, **files})
    (name,) = files
    assert scores(capsys, tmp_path, ["gold.tsv", name]) == \
        scores(capsys, tmp_path, ["gold.tsv", "clean.tsv"])


def test_space_inside_a_three_column_file_does_not_change_the_type(tmp_path, capsys):
    # before: the gold tag 'B-Gene ' (space before the tab) made a type 'Gene ' that matched
    # nothing, so a perfect prediction scored 0
    put(tmp_path, {"both.tsv": "IL-2\tB-Gene \tB-Gene\ngene\tI-Gene\tI-Gene\n"})
    result = scores(capsys, tmp_path, ["both.tsv"])
    assert result["strict"]["f1"] == 1.0 and list(result["strict"]["per_type"]) == ["Gene"]


def test_evaluate_predicted_iobes_and_stray_inside_are_scored(tmp_path, capsys):
    # valid IOBES predictions are read as IOB2; a predicted I-X after O is left to the modes
    iobes = PRED.replace("IL-2\tB-Gene", "IL-2\tS-Gene").replace("B-Chem", "S-Chem")
    put(tmp_path, {"gold.tsv": GOLD, "pred.tsv": PRED,
                   "iobes.tsv": iobes.replace("TNF\tB-Gene", "TNF\tS-Gene"),
                   "stray.tsv": PRED.replace("aspirin\tB-Chem", "aspirin\tI-Chem")})
    assert scores(capsys, tmp_path, ["gold.tsv", "iobes.tsv"]) == \
        scores(capsys, tmp_path, ["gold.tsv", "pred.tsv"])
    stray = scores(capsys, tmp_path, ["gold.tsv", "stray.tsv"])
    assert (stray["strict"]["tp"], stray["default"]["tp"]) == (1, 2)  # aspirin: default only


def test_evaluate_repair_turns_a_stray_gold_inside_into_begin(tmp_path, capsys):
    put(tmp_path, {"gold.tsv": "a\tO\nb\tI-Gene\n", "pred.tsv": "a\tO\nb\tB-Gene\n"})
    assert run(evaluate_cli.main, [str(tmp_path / "gold.tsv"), str(tmp_path / "pred.tsv"),
                                   "--repair", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["strict"]["f1"] == 1.0


def corpus(directory, files: dict[str, str | bytes] | None = None) -> str:
    """A corpus directory of one-line splits, with some files replaced (train.tsv.gz replaces
    train.tsv)."""
    put(directory, {f"{s}.tsv": "IL-2\tB-Gene\n" for s in ("train", "devel", "test")})
    for name, content in (files or {}).items():
        if name.endswith(".gz"):
            (directory / name.removesuffix(".gz")).unlink()
        put(directory, {name: content})
    return str(directory)


CORPUS_ERRORS = {
    "truncated-gzip": ({"train.tsv.gz": GZ[:-10]}, "train.tsv.gz: gzip file is truncated or "
                       "corrupt (Compressed file ended before the end-of-stream marker was "
                       "reached); re-copy or re-download it"),
    "corrupt-gzip": ({"train.tsv.gz": GZ[:10] + b"\xff" * 4 + GZ[14:]},
                     "train.tsv.gz: gzip file is truncated or corrupt (Error -3"),
    "empty-gzip": ({"train.tsv.gz": b""}, "train.tsv.gz: not gzip data (0 bytes"),
    "mixed-schemes": ({"devel.tsv": "a\tS-Gene\n\nb\tB-Gene\nc\tI-Gene\n"},
                      "devel.tsv:4: tag sequence breaks IOBES at 'I-Gene': the sentence ends "
                      "inside a Gene mention"),
    "bare-B": ({"test.tsv": "a\tB-\n"}, "test.tsv:1: tag 'B-' has no entity type"),
    "O-with-type": ({"test.tsv": "a\tO-Gene\n"}, "test.tsv:1: tag 'O-Gene' is not O"),
    "docstart-only": ({"devel.tsv": "-DOCSTART-\tO\n\n"}, "devel.tsv: no sentences"),
    "blank-only": ({"devel.tsv": "\r\n\r\n"}, "devel.tsv: no sentences"),
    "utf16": ({"test.tsv": "a\tO\n".encode("utf-16")}, "test.tsv: the file is UTF-16"),
    "latin1": ({"test.tsv": "caf\xe9\tO\n".encode("latin-1")},
               "test.tsv:1: bytes that are not UTF-8"),
}


@pytest.mark.parametrize("command", ["validate", "stats", "convert"])
@pytest.mark.parametrize("case", CORPUS_ERRORS.values(), ids=CORPUS_ERRORS.keys())
def test_corpus_bad_input_is_one_line(tmp_path, capsys, command, case):
    splits, message = case
    directory = corpus(tmp_path / "c", splits)
    argv = [command, directory] + (["--out", str(tmp_path / "out")] if command == "convert"
                                   else [])
    line = fails(capsys, corpora_cli.main, argv)
    assert message in line.replace(f"{directory}/", "")


def test_corpus_split_that_is_a_directory(tmp_path, capsys):
    directory = corpus(tmp_path / "c")
    (tmp_path / "c" / "devel.tsv").unlink()
    (tmp_path / "c" / "devel.tsv").mkdir()
    assert "devel.tsv: is a directory, not a file" in fails(
        capsys, corpora_cli.main, ["validate", directory])


def test_validate_crlf_bom_corpus(tmp_path, capsys):
    directory = corpus(tmp_path / "c", {"devel.tsv": "\ufeffa\tB-X\r\nb\tI-X\r\n\r\n"})
    assert run(corpora_cli.main, ["validate", directory]) == 0
    assert "ok (3 sentences" in capsys.readouterr().out


def test_convert_out_is_an_existing_file(tmp_path, capsys):
    directory = corpus(tmp_path / "c")
    (tmp_path / "out").write_text("x")
    fails(capsys, corpora_cli.main, ["convert", directory, "--out", str(tmp_path / "out")])


def test_evaluate_warns_about_predicted_types_gold_never_uses(tmp_path, caplog):
    put(tmp_path, {"gold.tsv": GOLD, "pred.tsv": PRED.replace("B-Gene", "B-GENE")})
    with caplog.at_level("WARNING"):
        assert run(evaluate_cli.main, [str(tmp_path / "gold.tsv"), str(tmp_path / "pred.tsv")]) == 0
    assert "predicted entity types that gold never uses: GENE (gold: Chem, Gene)" in caplog.text
