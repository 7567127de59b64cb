"""Runs from a file (--config run.toml) and every recorded run written back as one: a record,
printed as TOML by train.py --from-record ... --print-config and run with train.py --config,
is the same cell (its identity and key); flags on the command line override the file. No
training: the grid's run_cells is stopped on entry (the cells it is given are keyed before any
training)."""

from __future__ import annotations

import json
import sys

import pytest

from bioner_mtl.experiments import train as train_cli
from bioner_mtl.training.fit.results import cell_key, identity
from bioner_mtl.training.spec.config import replace
from bioner_mtl.training.spec.presets import resolve
from tests.helpers import make_record

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

MAIN, AUX = "NCBI-disease", "BC5CDR-chem"


def recorded_runs() -> list[tuple[str, object]]:
    """(preset, resolved run) for runs as different as the commands make them."""
    quick = resolve(MAIN, "window-cnn", "quick", run={"devel_limit": 100, "train_fraction": 0.5},
                    model_options={"filter_widths": (3, 5)},
                    train={"learning_rate": 1e-3, "eval_every": 50})
    partnered = replace(quick, aux=(AUX,), loss_weights={AUX: 0.3}, seed=4, select_on="mean",
                        save_bundle="/somewhere/model", tensorboard="/somewhere/tb")
    final = resolve("Ex-PTM", "bilstm-crf", "paper", run={"train_on": "train+devel"},
                    train={"patience": None, "eval_every": None, "min_main_batches": 0,
                           "epochs": 3.25})
    bert = resolve(MAIN, "bert", "quick", train={"steps": 40}, run={"viterbi": False})
    return [("quick", quick), ("quick", partnered),
            ("paper", replace(final, length_from="runs/x/results.jsonl")), ("quick", bert)]


def write_results(path, runs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        make_record(main=r.main, aux=list(r.aux), model=r.model, seed=r.seed,
                    config=r.to_dict(), cell=cell_key(r), preset=preset,
                    command="pairwise").to_json() + "\n" for preset, r in runs))


def printed(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert train_cli.main(list(argv)) is None
    return capsys.readouterr().out


class Handed(Exception):
    """What train.py handed the grid to train."""


def trained_cells(monkeypatch, tmp_path, *argv: str) -> list:
    """The runs train.py gives the grid for `argv` (the grid stops there: nothing trains)."""
    from bioner_mtl.training.grids import grid

    def run_cells(runs, results, **_):
        raise Handed(runs)

    monkeypatch.setattr(grid, "run_cells", run_cells)
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    with pytest.raises(Handed) as handed:
        train_cli.main([*argv, "--out", str(out), "--no-progress"])
    return handed.value.args[0]


def comparable(config) -> dict:
    return json.loads(json.dumps(identity(config), default=str))


def test_a_record_written_back_as_toml_runs_as_the_same_cell(tmp_path, capsys, monkeypatch):
    runs = recorded_runs()
    results = tmp_path / "grid" / "results.jsonl"
    write_results(results, runs)
    for line, (preset, run) in enumerate(runs, 1):
        text = printed(capsys, "--from-record", f"{results}:{line}", "--print-config")
        assert f"cell {cell_key(run)}" in text.splitlines()[0]
        data = tomllib.loads(text)
        assert data["preset"] == preset and data["seed"] == run.seed
        assert "save_bundle" not in text and "tensorboard" not in text  # where, not what
        path = tmp_path / f"run-{line}.toml"
        path.write_text(text)
        # the file prints back as itself, and train.py runs it as the record's cell
        again = printed(capsys, "--config", str(path), "--print-config")
        assert again.splitlines()[2:] == text.splitlines()[2:]
        (cell,) = trained_cells(monkeypatch, tmp_path, "--config", str(path))
        assert cell_key(cell) == cell_key(run)
        assert comparable(cell) == comparable(run)
    partnered = tomllib.loads((tmp_path / "run-2.toml").read_text())
    assert partnered["aux"] == [AUX] and partnered["aux_weight"] == 0.3
    assert partnered["select_on"] == "mean" and partnered["train_fraction"] == 0.5
    assert partnered["set"]["filter_widths"] == [3, 5]
    assert partnered["set"]["train"] == {"learning_rate": 0.001, "eval_every": 50}
    final = tomllib.loads((tmp_path / "run-3.toml").read_text())
    assert final["train_on"] == "train+devel" and final["epochs"] == 3.25  # its length: a flag
    # the record can be trained again directly, as the same cell
    (cell,) = trained_cells(monkeypatch, tmp_path, "--from-record", f"{results}:2")
    assert cell_key(cell) == cell_key(runs[1][1])


def test_a_bundle_written_back_runs_as_its_run_s_cell(tmp_path, capsys, monkeypatch):
    _, run = recorded_runs()[1]
    bundle = tmp_path / "model"
    bundle.mkdir()
    (bundle / "bundle.json").write_text(json.dumps({"format": 1, "run": run.to_dict()}))
    text = printed(capsys, "--from-record", str(bundle), "--print-config")
    assert tomllib.loads(text)["preset"] == "quick"  # not recorded: the one needing fewest
    (tmp_path / "run.toml").write_text(text)
    (cell,) = trained_cells(monkeypatch, tmp_path, "--config", str(tmp_path / "run.toml"))
    assert cell_key(cell) == cell_key(run)


def test_flags_on_the_command_line_override_the_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "run.toml"
    path.write_text(f'main = "{MAIN}"\naux = "{AUX}"\ntrain-fraction = 0.25\nseeds = 2\n'
                    'steps = 30\n[set]\nhidden = 40\ndevel_limit = 50\n')
    data = tomllib.loads(printed(capsys, "--config", str(path), "--train-fraction", "0.5",
                                 "--set", "hidden=20", "--epochs", "2", "--print-config"))
    assert data["train_fraction"] == 0.5 and data["seeds"] == 2 and data["aux"] == [AUX]
    assert data["set"]["hidden"] == 20 and data["set"]["devel_limit"] == 50
    assert data["set"]["train"]["epochs"] == 2.0 and "steps" not in data  # --epochs wins
    cells = trained_cells(monkeypatch, tmp_path, "--config", str(path), "--seed", "7")
    assert [r.seed for r in cells] == [7, 8] and cells[0].train_fraction == 0.25
    assert {r.model_options["hidden"] for r in cells} == {40}


def test_a_command_line_printed_as_a_file_runs_as_the_same_cells(tmp_path, capsys,
                                                                monkeypatch):
    argv = ["--main", MAIN, "--aux", AUX, "--set", "window=5", "--set", "train.batch_size=16",
            "--no-viterbi", "--aux-weight", "0.5", "--seeds", "2"]
    path = tmp_path / "run.toml"
    path.write_text(printed(capsys, *argv, "--print-config"))
    given = trained_cells(monkeypatch, tmp_path, *argv)
    from_file = trained_cells(monkeypatch, tmp_path, "--config", str(path))
    assert [cell_key(r) for r in from_file] == [cell_key(r) for r in given]
    assert len(given) == 2
