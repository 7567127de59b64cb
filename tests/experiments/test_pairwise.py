import json

import pytest

from experiments import pairwise
from experiments.cli import run
from training import grid

TINY = ["--steps", "16", "--train-fraction", "0.05", "--set", "filters=4", "--set", "hidden=8",
        "--set", "vector_dim=8", "--set", "vector_corpora=run", "--set", "devel_limit=40",
        "--set", "test_limit=60", "--set", "train.eval_every=8", "--no-progress"]


def pairwise_cli(*args):
    return run(pairwise.main, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--main", "BC2G"], "unknown corpus 'BC2G'; did you mean 'BC2GM'"),
        (["--main", "Ex-PTM", "--model", "cnn3"], "unknown model 'cnn3'; valid models: mlp"),
        (["--main", "Ex-PTM", "--aux", "Ex-PTM,BC2GM"], "lists the main corpus Ex-PTM as its own"),
        (["--main", "Ex-PTM", "--train-fraction", "0"], "fraction 0.0 must be in (0, 1]"),
        (["--main", "Ex-PTM", "--train-fraction", "1.5"], "fraction 1.5 must be in (0, 1]"),
        (["--main", "Ex-PTM", "--set", "hiden=3"], "--set hiden: not a setting"),
        (["--main", "Ex-PTM", "--aux-group", "Genes"], "unknown entity class 'Genes'"),
    ],
)
def test_bad_arguments_stop_with_one_line(capsys, tmp_path, args, message):
    assert pairwise_cli(*args, "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err
    assert "\n" not in err and "Traceback" not in err


def test_grid_resumes_without_recomputing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid"
    args = ["--main", "Ex-PTM", "--aux", "BioNLP13PC,NCBI-disease", "--out", str(out), *TINY]
    from training import trainer

    calls, kill = [], {"at": 2}
    real_train = trainer.train

    def counting_train(run_config, progress=True):
        calls.append(run_config.aux)
        if len(calls) == kill["at"]:
            raise KeyboardInterrupt  # killed in the middle of the second cell
        return real_train(run_config, progress)

    monkeypatch.setattr(trainer, "train", counting_train)
    assert pairwise_cli(*args) == 130
    results = out / "results.jsonl"
    assert len(results.read_text().splitlines()) == 1  # the finished cell survived

    assert pairwise_cli(*args) == 2  # without --resume a used directory is refused
    assert "pass --resume" in capsys.readouterr().err

    calls.clear()
    kill["at"] = None
    assert pairwise_cli(*args, "--resume") == 0
    assert calls == [("BioNLP13PC",), ("NCBI-disease",)]  # the baseline was not retrained
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["aux"] for r in records] == [[], ["BioNLP13PC"], ["NCBI-disease"]]
    assert {r["cell"] for r in records} == {grid.cell_key(r) for r in pairwise.build_runs(
        pairwise.parser().parse_args(args))}

    calls.clear()
    assert pairwise_cli(*args, "--resume") == 0
    assert calls == []  # nothing left to do
    printed = capsys.readouterr().out
    assert "best partner for Ex-PTM" in printed
    assert (out / "pairwise.csv").exists() and (out / "gains_Ex-PTM.png").exists()


def record(main, aux, seed, f1):
    return {"main": main, "aux": [aux] if aux else [], "seed": seed, "test_f1": f1,
            "test_token_macro_f1": f1 + 0.1}


def test_summary_gains_and_t_test_by_hand():
    records = [record("A", None, s, f) for s, f in [(1, 0.70), (2, 0.72), (3, 0.74)]]
    records += [record("A", "B", s, f) for s, f in [(1, 0.80), (2, 0.81), (3, 0.82)]]
    records += [record("A", "C", s, f) for s, f in [(1, 0.69), (2, 0.73), (3, 0.71)]]
    rows = pairwise.summarise(records)["A"]
    assert [r["partner"] for r in rows] == [pairwise.BASELINE, "B", "C"]
    b = rows[1]
    assert b["f1"] == pytest.approx(0.81) and b["f1_std"] == pytest.approx(0.01)
    assert b["gain"] == pytest.approx(0.09)
    # Welch t: diff 0.09, se = sqrt(0.02^2/3 + 0.01^2/3) = 0.012910; t = 6.971, df = 2.94
    assert b["p_value"] == pytest.approx(0.0064, abs=5e-4) and b["significant"]
    c = rows[2]
    assert c["gain"] == pytest.approx(-0.01) and not c["significant"]
