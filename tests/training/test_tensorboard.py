"""--tensorboard DIR: a grid of two tiny cells (train.py, two seeds) writes one TensorBoard
run folder per cell (named by its cell) with the curves of the trainer's history, read back
from the event files; the setting leaves the cells' identity alone (a resume without it skips
them), and a run without it gets no logger."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner_mtl.experiments import train as train_cli
from bioner_mtl.training.fit.results import ResultsFile, cell_key
from bioner_mtl.training.fit.tensorboard import open_logger, run_folder
from bioner_mtl.training.spec.config import RunConfig, replace

MAIN, AUX = "NCBI-disease", "BC5CDR-chem"
TINY = ["--main", MAIN, "--aux", AUX, "--train-fraction", "0.05", "--select-on", "mean",
        "--seeds", "2", "--steps", "20", "--no-progress", "--set", "devel_limit=40",
        "--set", "test_limit=40", "--set", "vector_dim=8", "--set", "vector_corpora=run",
        "--set", "vector_epochs=1", "--set", "filters=8", "--set", "hidden=16",
        "--set", "train.eval_every=10", "--set", "train.batch_size=16",
        "--set", "train.warmup=0"]  # a constant rate: its curve is checked point by point


def curves(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> (step, value) of every scalar in a run folder's event files, as TensorBoard's
    scalars plugin reads them (a float32 scalar tensor marked 'scalars')."""
    import tensorflow as tf

    found: dict[str, list] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "scalars", value.tag
                found.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    return found


def test_a_grid_writes_each_cell_s_curves_under_its_cell(tmp_path):
    logs, out = tmp_path / "tb", tmp_path / "out"
    train_cli.main([*TINY, "--tensorboard", str(logs), "--out", str(out)])
    records = ResultsFile(out / "results.jsonl").records()
    assert len(records) == 2
    folders = sorted(p.name for p in logs.iterdir())
    assert folders == sorted(f"{MAIN}+{AUX}-window-cnn-seed{r.seed}-{r.cell}" for r in records)
    for record in records:
        found = curves(logs / f"{MAIN}+{AUX}-window-cnn-seed{record.seed}-{record.cell}")
        assert set(found) == {f"loss/{MAIN}", f"loss/{AUX}", f"devel_f1/{MAIN}",
                              f"devel_f1/{AUX}", "devel_f1/mean", "learning_rate",
                              "steps_per_second"}
        steps = [h["step"] for h in record.history]
        assert len(steps) >= 2
        for tag, points in found.items():
            assert [step for step, _ in points] == steps, tag
        assert [v for _, v in found[f"devel_f1/{MAIN}"]] == pytest.approx(
            [h["devel_f1"] for h in record.history])
        assert [v for _, v in found["devel_f1/mean"]] == pytest.approx(
            [h["devel_mean_f1"] for h in record.history])
        assert all(v > 0 for _, v in found[f"loss/{MAIN}"] + found["steps_per_second"])
        rate = record.config["train"]["learning_rate"]
        assert [v for _, v in found["learning_rate"]] == pytest.approx([rate] * len(steps))
        assert record.config["tensorboard"] == str(logs.resolve())
    # the same cells without --tensorboard: a resume finds them done and trains nothing
    train_cli.main([*TINY, "--out", str(out), "--resume"])
    assert len(ResultsFile(out / "results.jsonl").records()) == 2


def test_tensorboard_is_not_part_of_a_cell_and_costs_nothing_when_off(tmp_path):
    run = RunConfig(main=MAIN, aux=(AUX,))
    logged = replace(run, tensorboard=str(tmp_path))
    assert cell_key(logged) == cell_key(run)
    assert run_folder(logged).endswith(cell_key(run))
    assert open_logger(run, optimizer=None) is None
