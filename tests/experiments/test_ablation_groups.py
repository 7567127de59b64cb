import argparse

import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.experiments import ablation, groups
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile
from tests.experiments.test_pairwise import BILSTM_TINY
from tests.helpers import make_record, scripted_cells

TINY = ["--steps", "6", "--set", "filters=4", "--set", "hidden=8", "--set", "vector_dim=8",
        "--set", "vector_corpora=run", "--set", "devel_limit=30", "--set", "test_limit=30",
        "--seeds", "1", "--no-progress"]


def records(path):
    return ResultsFile(path / "results.jsonl").records()


def test_data_ablation_trains_single_and_multi_task_at_each_fraction(tmp_path, capsys):
    out = tmp_path / "ablation"
    assert run(ablation.main, ["--main", "Ex-PTM", "--partner", "BioNLP13PC", "--removed",
                               "0.5,0.75", "--out", str(out), *TINY]) == 0
    cells = sorted((r.train_fraction, tuple(r.aux)) for r in records(out))
    assert cells == [(0.25, ()), (0.25, ("BioNLP13PC",)), (0.5, ()), (0.5, ("BioNLP13PC",))]
    assert (out / "ablation_Ex-PTM.png").stat().st_size > 0
    lines = (out / "ablation.csv").read_text().splitlines()
    assert [line.split(",")[2] for line in lines[1:]] == ["0.5", "0.25"]  # largest first


def test_data_ablation_of_a_model_that_needs_a_partner(tmp_path, capsys, monkeypatch):
    """cross-sharing cannot train alone: the single-task cells are its baseline, bilstm-crf
    (the cells are scripted: test_models trains both models through the harness)."""
    out = tmp_path / "ablation"
    scripted_cells(monkeypatch, lambda r: 0.6 + 0.01 * len(r.aux) + 0.001 * r.seed)
    assert run(ablation.main, ["--main", "Ex-PTM", "--partner", "BioNLP13PC", "--fractions",
                               "1.0", "--model", "cross-sharing", "--out", str(out),
                               *BILSTM_TINY]) == 0
    cells = sorted((r.model, tuple(r.aux)) for r in records(out))
    assert cells == [("bilstm-crf", ()), ("cross-sharing", ("BioNLP13PC",))]
    printed = capsys.readouterr().out
    assert "single-task" in printed and "with partner" in printed and "p Holm" in printed


def test_best_partner_comes_from_a_pairwise_run(tmp_path):
    # C is best on test, D on devel: the choice is made on devel
    rows = [make_record(main="A", aux=aux, seed=1, test_f1=f1, devel_f1=devel,
                        test_token_macro_f1=f1)
            for aux, f1, devel in [([], 0.70, 0.70), (["B"], 0.69, 0.69), (["C"], 0.75, 0.71),
                                   (["D"], 0.72, 0.74)]]
    (tmp_path / "results.jsonl").write_text("".join(r.to_json() + "\n" for r in rows))
    assert ablation.best_partner(str(tmp_path), "A") == "D"
    with pytest.raises(InputError, match="no pairwise results for main corpus Z"):
        ablation.best_partner(str(tmp_path), "Z")


def test_fractions_are_checked():
    args = argparse.Namespace(removed="0,1", fractions=None)
    with pytest.raises(InputError, match=r"must be in \(0, 1\]"):
        ablation.fractions_from(args)


def test_group_members_keep_only_the_class():
    args = argparse.Namespace(corpora="Linnaeus,BioNLP13CG,BC2GM,BC5CDR-chem",
                              all_corpora=False, entity_class="Species")
    assert groups.members(args) == ("Species", ["Linnaeus", "BioNLP13CG@Species"])
    args.entity_class = "Chemical"
    assert groups.members(args) == ("Chemical", ["BioNLP13CG@Chemical", "BC5CDR-chem"])
    args.all_corpora = True
    assert groups.members(args)[1] == ["Linnaeus", "BioNLP13CG", "BC2GM", "BC5CDR-chem"]


def test_group_runs_each_member_alone_and_with_the_group(tmp_path, capsys):
    out = tmp_path / "group"
    assert run(groups.main, ["--class", "Disease", "--corpora", "NCBI-disease,BC5CDR",
                             "--out", str(out), *TINY]) == 0
    cells = sorted((r.main, tuple(r.aux)) for r in records(out))
    assert cells == [("BC5CDR@Disease", ()), ("BC5CDR@Disease", ("NCBI-disease",)),
                     ("NCBI-disease", ()), ("NCBI-disease", ("BC5CDR@Disease",))]
    assert "group Disease" in capsys.readouterr().out
    assert run(groups.main, ["--class", "Cell", "--corpora", "NCBI-disease,BioNLP13CG",
                             "--out", str(tmp_path / "x")]) == 2
    assert "a group needs at least two" in capsys.readouterr().err


def test_tong_table_3_compares_two_models_alone_and_scores_the_auxiliary_heads(
        tmp_path, small_bert_dir, capsys):
    """bert-tong against bert at one fraction, both on the main corpus alone, paired by seed;
    each auxiliary head's own accuracy is in bert-tong's record and in aux_heads.csv."""
    out = tmp_path / "tong"
    assert run(ablation.main, [
        "--main", "NCBI-disease", "--model", "bert-tong", "--against", "bert", "--fractions",
        "0.02", "--steps", "3", "--set", f"encoder={small_bert_dir}", "--set", "max_length=48",
        "--set", "devel_limit=20", "--set", "test_limit=20", "--seeds", "1", "--no-progress",
        "--out", str(out)]) == 0
    found = {r.model: r for r in records(out)}
    assert sorted(found) == ["bert", "bert-tong"]
    assert all(r.aux == [] and r.train_fraction == 0.02 and r.seed == 1
               for r in found.values())
    assert found["bert"].aux_heads is None
    heads = found["bert-tong"].aux_heads
    assert sorted(heads) == ["bCLS", "mCLS", "mtCLS"]
    assert all(0.0 <= heads[k][split] <= 1.0 for k in heads for split in ("devel", "test"))
    printed = capsys.readouterr().out
    assert "bert-tong against bert" in printed and "auxiliary heads of bert-tong" in printed
    lines = (out / "aux_heads.csv").read_text().splitlines()
    assert lines[0].startswith("fraction,seeds,bCLS,bCLS_std,mCLS") and len(lines) == 2
    header = (out / "ablation.csv").read_text().splitlines()[0]
    assert "bert" in header and "bert-tong" in header


def test_against_itself_is_refused(tmp_path, capsys):
    assert run(ablation.main, ["--main", "NCBI-disease", "--model", "bert", "--against", "bert",
                               "--out", str(tmp_path / "x")]) == 2
    assert "--against bert is --model itself" in capsys.readouterr().err


def test_rodriguez_table_5_cuts_the_partner_to_the_same_share(tmp_path, capsys):
    """--cut-partner: at each fraction the partner keeps the same share of its training
    sentences (the corpus NAME%P, the same sentences in every run); single-task cells as
    before."""
    from bioner_mtl.data.corpora import load_corpus

    out = tmp_path / "cut"
    assert run(ablation.main, ["--main", "Ex-PTM", "--partner", "BioNLP13PC", "--fractions",
                               "0.5", "--cut-partner", "--out", str(out), *TINY]) == 0
    single, multi = sorted(records(out), key=lambda r: len(r.aux))
    assert single.aux == [] and multi.aux == ["BioNLP13PC%50"]
    whole = len(load_corpus("BioNLP13PC").train)
    assert multi.train_sentences["BioNLP13PC%50"] == round(whole / 2)
    assert multi.train_sentences["Ex-PTM"] == single.train_sentences["Ex-PTM"]
    assert "cut to the same share" in capsys.readouterr().out


def test_a_shrunk_corpus_keeps_the_same_sentences_and_is_not_its_parent():
    from bioner_mtl.data import corpora

    half = corpora.load_corpus("BC5CDR-chem%50")
    parent = corpora.load_corpus("BC5CDR-chem")
    assert half.train == corpora.load_corpus.__wrapped__("BC5CDR-chem%50").train
    assert len(half.train) == round(len(parent.train) / 2) and half.test == parent.test
    assert half.entity_types == parent.entity_types
    assert corpora.shrunk_name("BC5CDR", 0.25) == "BC5CDR%25"
    assert corpora.shrunk_name("BC5CDR", 1.0) == "BC5CDR"
    assert corpora.duplicates(["BC5CDR", "BC5CDR%50"]) is None
    assert corpora.duplicates(["BC5CDR%50", "BC5CDR%50.0"]) == ("BC5CDR%50", "BC5CDR%50.0")
    with pytest.raises(InputError, match=r"BC5CDR%100: after % give the percentage"):
        corpora.spec_for("BC5CDR%100")
