from bioner_mtl.experiments import adversarial
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile
from tests.helpers import scripted_cells

TINY = ["--steps", "20", "--train-fraction", "0.05", "--set", "lstm=8", "--set", "projection=8",
        "--set", "char_filters=4", "--set", "char_dim=4", "--set", "vector_dim=8",
        "--set", "vector_corpora=run", "--set", "devel_limit=30",
        "--set", "test_limit=60", "--seeds", "1", "--no-progress"]


def test_alpha_beta_grid_runs_each_pair_and_names_the_best_on_devel(tmp_path, capsys,
                                                                    monkeypatch):
    # scripted cells (test_models trains the adversarial model through the harness): the
    # pair alpha 0.1 scores best on devel
    scripted_cells(monkeypatch, lambda r: 0.5 + r.model_options["adversarial_weight"])
    out = tmp_path / "adv"
    args = ["--main", "Ex-PTM", "--aux", "BioNLP13PC", "--alphas", "0,0.1", "--betas", "0.01",
            "--out", str(out), *TINY]
    assert run(adversarial.main, args) == 0
    records = ResultsFile(out / "results.jsonl").records()
    assert sorted((r.model_config["adversarial_weight"],
                   r.model_config["orthogonality_weight"]) for r in records) == [
        (0.0, 0.01), (0.1, 0.01)]
    assert all(r.model == "adversarial" and r.aux == ["BioNLP13PC"] for r in records)
    best = max(records, key=lambda r: r.devel_f1)
    printed = capsys.readouterr().out
    assert best.model_config["adversarial_weight"] == 0.1
    assert "best pair on devel: alpha=0.1, beta=0.01" in printed


def test_grid_refuses_other_models(tmp_path, capsys):
    assert run(adversarial.main, ["--main", "Ex-PTM", "--aux", "BC2GM", "--model", "mlp",
                                  "--out", str(tmp_path)]) == 2
    assert "for the adversarial model" in capsys.readouterr().err
