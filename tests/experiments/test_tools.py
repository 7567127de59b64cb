"""The corpus and evaluation command lines, as a user runs them."""

import json

import pytest

from bioner_mtl.experiments import corpora as corpora_cli
from bioner_mtl.experiments import evaluate as evaluate_cli
from bioner_mtl.training.cli import run
from tests.data.test_corpora import readme_counts


def test_stats_prints_every_bundled_corpus_as_in_the_readme(capsys):
    assert run(corpora_cli.main, ["stats"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = {split: tuple(int(x) for x in cell.split(" / "))
                          for split, cell in zip(("train", "devel", "test"), cells[1:4])}
    assert rows == readme_counts()


def test_convert_writes_three_splits_that_read_back(tmp_path, capsys):
    out = tmp_path / "ncbi-iobes"
    assert run(corpora_cli.main, ["convert", "NCBI-disease", "--scheme", "IOBES",
                                  "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["devel.tsv", "test.tsv", "train.tsv"]
    assert "S-Disease" in (out / "test.tsv").read_text()
    assert run(corpora_cli.main, ["validate", str(out)]) == 0
    assert "ok (7287 sentences" in capsys.readouterr().out


def test_validate_reports_the_bad_line(tmp_path, capsys):
    for split in ("train", "devel", "test"):
        (tmp_path / f"{split}.tsv").write_text("IL-2\tB-Gene\n")
    (tmp_path / "devel.tsv").write_text("a\tO\nb\tI-Gene\n")
    assert run(corpora_cli.main, ["validate", str(tmp_path)]) == 2
    assert f"{tmp_path / 'devel.tsv'}:2: I-Gene follows O" in capsys.readouterr().err
    assert run(corpora_cli.main, ["--repair", "validate", str(tmp_path)]) == 0


GOLD = "IL-2\tB-Gene\ngene\tI-Gene\nand\tO\naspirin\tB-Chem\n\nTNF\tB-Gene\n"
PRED = "IL-2\tB-Gene\ngene\tO\nand\tO\naspirin\tB-Chem\n\nTNF\tB-Gene\n"


def test_evaluate_two_files_json(tmp_path, capsys):
    (tmp_path / "gold.tsv").write_text(GOLD)
    (tmp_path / "pred.tsv").write_text(PRED)
    assert run(evaluate_cli.main, [str(tmp_path / "gold.tsv"), str(tmp_path / "pred.tsv"),
                                   "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # gold: IL-2 gene (Gene), aspirin (Chem), TNF (Gene); predicted: IL-2, aspirin, TNF.
    assert (scores["strict"]["tp"], scores["strict"]["fp"], scores["strict"]["fn"]) == (2, 1, 1)
    assert scores["strict"]["per_type"]["Chem"]["f1"] == 1.0
    assert scores["strict"]["per_type"]["Gene"]["f1"] == pytest.approx(0.5)


def test_evaluate_three_column_file_prints_report(tmp_path, capsys):
    merged = "".join(f"{g}\t{p.split(chr(9))[1]}\n" if g else "\n"
                     for g, p in zip(GOLD.split("\n"), PRED.split("\n")))
    (tmp_path / "both.tsv").write_text(merged.rstrip("\n") + "\n")
    assert run(evaluate_cli.main, [str(tmp_path / "both.tsv")]) == 0
    out = capsys.readouterr().out
    assert "(gold 3, found 3, correct 2)" in out and "FB1:  66.67" in out


def test_evaluate_refuses_different_tokens(tmp_path, capsys):
    (tmp_path / "gold.tsv").write_text(GOLD)
    (tmp_path / "pred.tsv").write_text(PRED.replace("aspirin", "ibuprofen"))
    assert run(evaluate_cli.main, [str(tmp_path / "gold.tsv"), str(tmp_path / "pred.tsv")]) == 2
    assert "pred.tsv:4: token 'ibuprofen' differs from" in capsys.readouterr().err


def test_evaluate_per_type_lines_name_their_mode(tmp_path, capsys):
    # gold: IL-2 (Gene), aspirin (Chem); the prediction's I-Chem after O is a Chem mention in
    # default mode (conlleval) only. strict: found 1, Chem 0/0/0, Gene 100/100/100;
    # default: found 2, Chem 100/100/100, Gene 100/100/100.
    (tmp_path / "gold.tsv").write_text("IL-2\tB-Gene\nand\tO\naspirin\tB-Chem\n")
    (tmp_path / "pred.tsv").write_text("IL-2\tB-Gene\nand\tO\naspirin\tI-Chem\n")
    assert run(evaluate_cli.main, [str(tmp_path / "gold.tsv"), str(tmp_path / "pred.tsv")]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert lines[1:7] == [
        "strict: precision: 100.00%; recall:  50.00%; FB1:  66.67  (gold 2, found 1, correct 1)",
        "strict Chem: precision:   0.00%; recall:   0.00%; FB1:   0.00  (found 0, support 1)",
        "strict Gene: precision: 100.00%; recall: 100.00%; FB1: 100.00  (found 1, support 1)",
        "default: precision: 100.00%; recall: 100.00%; FB1: 100.00  (gold 2, found 2, correct 2)",
        "default Chem: precision: 100.00%; recall: 100.00%; FB1: 100.00  (found 1, support 1)",
        "default Gene: precision: 100.00%; recall: 100.00%; FB1: 100.00  (found 1, support 1)",
    ]
