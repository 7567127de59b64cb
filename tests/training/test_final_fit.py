"""Final models trained on train + devel for a fixed length (WANG, KHAN, TONG), the length
read from a devel-selected run, and weights selected on the mean devel F1 over every head."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from bioner_mtl.data.ablation import subsample
from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import (
    ResultsFile,
    RunRecord,
    cell_key,
    epochs_from,
    steps_per_epoch,
)
from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.spec.config import replace
from tests.helpers import make_record

MAIN, AUX = "NCBI-disease", "Ex-PTM"
SMALL = "Ex-PTM"  # the smallest bundled corpus: train.py end to end


def batches(sentences: int, size: int = 16) -> int:
    return -(-sentences // size)


def source_records(run_config, best_steps: dict[int, int], **changes) -> list[RunRecord]:
    """Devel-selected records of `run_config`'s settings (one per seed), as a grid writes them:
    250 main and 100 partner training sentences, batches of 16 -> 16 + 7 batches a pass."""
    train = {k: changes.pop(k) for k in list(changes) if hasattr(run_config.train, k)}
    selected = replace(run_config, train_on="train", length_from=None,
                       train=replace(run_config.train, **train), **changes)
    return [make_record(main=selected.main, aux=list(selected.aux), model=selected.model,
                        schedule=selected.schedule, seed=seed, best_step=step,
                        train_sentences={selected.main: 250, **{a: 100 for a in selected.aux}},
                        config=replace(selected, seed=seed).to_dict())
            for seed, step in best_steps.items()]


def write(path, records) -> str:
    for r in records:
        ResultsFile(path).append(r)
    return str(path)


def test_steps_per_epoch_is_the_recorded_one_else_the_plan_by_hand(tiny_run):
    one = source_records(tiny_run(MAIN, (AUX,), schedule="alternate"), {1: 48})[0]
    assert steps_per_epoch(one) == 16 * 2  # alternate: a main batch, then a partner batch
    shuffled = source_records(tiny_run(MAIN, (AUX,), schedule="shuffled"), {1: 48})[0]
    assert steps_per_epoch(shuffled) == 16 + 7  # every batch of both once
    assert steps_per_epoch(dataclasses.replace(shuffled, steps_per_epoch=5)) == 5  # recorded


def test_epochs_from_a_devel_selected_run_mean_over_its_seeds(tiny_run, tmp_path):
    final = tiny_run(MAIN, (AUX,), schedule="alternate", train_on="train+devel",
                     eval_every=None, devel_limit=None, steps=None, epochs=1.0)
    # best steps 48 and 64 of 32-step epochs: 1.5 and 2 epochs, mean 1.75 (patience and
    # evaluation of the source are its own: they differ from the final run's, and may)
    path = write(tmp_path / "results.jsonl",
                 source_records(final, {1: 48, 2: 64}, patience=3, eval_every=20)
                 + [make_record(main="BC2GM", config={})])  # another cell: passed over
    epochs, where = epochs_from(path, final)
    assert epochs == 1.75
    assert "best step 48 / 32 steps per epoch = 1.5" in where and "mean 1.75" in where
    assert epochs_from(tmp_path, final)[0] == 1.75  # the run directory works too


@pytest.mark.parametrize("records, needle", [
    (lambda final: [make_record(main="BC2GM", config={})],
     f"no devel-selected run of {MAIN} with {AUX}, model window-cnn in"),
    (lambda final: source_records(final, {1: 48}, learning_rate=0.01),
     f"results.jsonl:1: that run of {MAIN} with {AUX}, model window-cnn has other "
     "settings (train.learning_rate=0.01, this run: 0.003)"),
    (lambda final: source_records(final, {1: 48}, schedule="random"),
     "(schedule=random, this run: alternate)"),
    (lambda final: [dataclasses.replace(r, config={**r.config, "train_on": "train+devel"})
                    for r in source_records(final, {1: 48})], "no devel-selected run"),
    (lambda final: source_records(final, {1: 48}, patience=3)
     + source_records(final, {2: 64}, patience=5), "2 devel-selected cells"),
])
def test_epochs_from_refuses_a_file_without_the_matching_run(tiny_run, tmp_path, records,
                                                             needle):
    final = tiny_run(MAIN, (AUX,), schedule="alternate", train_on="train+devel",
                     eval_every=None, devel_limit=None, steps=None, epochs=1.0)
    path = write(tmp_path / "results.jsonl", records(final))
    with pytest.raises(InputError) as err:
        epochs_from(path, final)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_train_plus_devel_trains_the_fixed_length_on_both_splits_and_scores_test(tiny_run):
    final = tiny_run(MAIN, (AUX,), train_on="train+devel", eval_every=None, devel_limit=None,
                     steps=None, epochs=0.5, train_fraction=0.05, test_limit=100,
                     schedule="alternate", length_from="by hand")
    trainer = Trainer(final, progress=False)
    main, aux = load_corpus(MAIN), load_corpus(AUX)
    kept = subsample(main.train, 0.05, final.seed)  # the devel-selected run's cut, then devel
    assert trainer.tasks[MAIN].train.sentences == [*kept, *main.devel]
    assert trainer.tasks[AUX].train.sentences == [*aux.train, *aux.devel]
    scored, evaluate = [], trainer.evaluate

    def spy(task, split, viterbi):
        scored.append(split)
        return evaluate(task, split, viterbi)

    trainer.evaluate = spy
    record = trainer.fit()
    # alternate: an epoch is a main batch then a partner batch, for every merged main batch
    assert record.steps_per_epoch == 2 * batches(len(kept) + len(main.devel))
    assert record.steps == round(0.5 * record.steps_per_epoch) == record.best_step
    assert scored == ["test"]  # the partner's head on test; devel never scored
    assert record.stopped == "fixed" and not record.improving_at_cap
    assert all("devel_f1" not in h for h in record.history) and record.history
    assert math.isnan(record.devel_f1) and set(record.scores) == set(record.unit_counts) == {
        "test"}
    assert {split for head in record.heads.values() for split in head} == {"test"}
    assert record.config["train_on"] == "train+devel"
    assert (record.config["length_from"], record.config["train"]["epochs"]) == ("by hand", 0.5)
    line = record.to_json()
    assert json.loads(line)["devel_f1"] is None  # null in the file, not NaN
    again = RunRecord.from_json(json.loads(line), "here")
    assert math.isnan(again.devel_f1) and again.test_f1 == record.test_f1


def test_a_length_from_a_trained_run_reaches_the_merged_run(tmp_path):
    """train.py end to end: a devel-selected run, then --train-on train+devel --epochs-from
    it: the final run makes as many passes (best step / steps per epoch of the first)."""
    from bioner_mtl.experiments import train as train_cli

    tiny = ["--train-fraction", "0.05", "--set", "filters=4", "--set", "hidden=8",
            "--set", "vector_dim=8", "--set", "vector_corpora=run", "--set", "test_limit=60",
            "--no-progress"]
    selected, final = tmp_path / "selected", tmp_path / "final"
    assert run(train_cli.main, ["--main", SMALL, "--out", str(selected), "--steps", "30",
                                "--set", "train.eval_every=3", "--set", "devel_limit=40",
                                *tiny]) == 0
    [source] = ResultsFile(selected / "results.jsonl").records()
    assert run(train_cli.main, ["--main", SMALL, "--out", str(final), "--train-on",
                                "train+devel", "--epochs-from", str(selected), *tiny]) == 0
    [merged] = ResultsFile(final / "results.jsonl").records()
    epochs = round(source.best_step / steps_per_epoch(source), 4)
    assert merged.config["train"]["epochs"] == epochs and merged.config["train"]["steps"] is None
    assert str(selected / "results.jsonl") in merged.config["length_from"]
    assert f"best step {source.best_step}" in merged.config["length_from"]
    train_sentences = merged.train_sentences[SMALL]
    assert train_sentences == source.train_sentences[SMALL] + len(load_corpus(SMALL).devel)
    assert source.steps_per_epoch == batches(source.train_sentences[SMALL], 32)  # quick: 32
    assert merged.steps_per_epoch == batches(train_sentences, 32)  # alternate, one corpus
    assert merged.steps == max(1, round(epochs * merged.steps_per_epoch))
    assert merged.config["train"]["patience"] is None  # the preset's early stopping dropped
    assert merged.config["devel_limit"] is None and math.isnan(merged.devel_f1)
    assert merged.cell != source.cell


def test_new_settings_at_their_default_keep_an_old_records_cell(tiny_run):
    config = tiny_run(MAIN).to_dict()
    old = {k: v for k, v in config.items() if k not in ("train_on", "select_on", "length_from")}
    assert cell_key(config) == cell_key(old)  # a resume does not train old cells again
    final = tiny_run(MAIN, train_on="train+devel", eval_every=None, devel_limit=None)
    assert cell_key(final) != cell_key(old)
    assert cell_key(final) == cell_key(replace(final, length_from="elsewhere"))
    assert cell_key(tiny_run(MAIN, select_on="mean")) != cell_key(old)


def test_selection_on_the_mean_over_heads_picks_the_means_best(tiny_run):
    """A scripted devel sequence: the main corpus peaks at the 2nd evaluation, the mean over
    both heads at the 3rd; patience 1 stops after two evaluations without a mean gain (the
    5th), where the main corpus alone would have stopped at the 4th."""
    main_f1 = [0.50, 0.90, 0.60, 0.40, 0.30]
    aux_f1 = [0.10, 0.20, 0.90, 0.95, 0.50]  # means .30 .55 .75 .675 .40
    trainer = Trainer(tiny_run(MAIN, (AUX,), steps=300, eval_every=5, patience=1,
                               select_on="mean"), progress=False)
    script = {MAIN: iter(main_f1), AUX: iter(aux_f1)}
    calls, snapshots, selection_f1 = [], [], trainer.selection_f1

    def scripted(task, split, viterbi):
        if split == "devel" and len(calls) < 2 * len(main_f1):  # during training
            calls.append(task)
            if task == MAIN:
                snapshots.append(trainer.model.get_weights())
            return next(script[task])
        return selection_f1(task, split, viterbi)

    trainer.selection_f1 = scripted
    record = trainer.fit()
    assert calls == [MAIN, AUX] * 5  # every evaluation scores each head
    history = record.history
    assert [h["devel_f1"] for h in history] == main_f1
    assert [h["devel_heads_f1"] for h in history] == [
        {MAIN: m, AUX: a} for m, a in zip(main_f1, aux_f1)]
    means = [h["devel_mean_f1"] for h in history]
    assert means == pytest.approx([0.30, 0.55, 0.75, 0.675, 0.40])
    assert record.best_step == history[int(np.argmax(means))]["step"] != history[1]["step"]
    assert record.stopped == "patience" and record.steps == history[4]["step"]
    assert all(np.array_equal(a, b) for a, b in zip(trainer.model.get_weights(), snapshots[2]))
    assert record.config["select_on"] == "mean"
    assert set(record.heads) == {MAIN, AUX} and all(
        set(h) == {"devel", "test"} for h in record.heads.values())


@pytest.mark.parametrize("changes, needle", [
    ({"patience": 3}, "drop --set train.patience=3 (no early stopping)"),
    ({"eval_every": 50}, "drop --set train.eval_every=50 (no devel evaluations)"),
    ({"min_main_batches": 100}, "drop --set train.min_main_batches=100"),
    ({"devel_limit": 10}, "drop --set devel_limit=10"),
    ({"select_on": "mean"}, "drop --select-on mean"),
    ({"train_on": "devel"}, "--set train_on=devel: choose one of train, train+devel"),
    ({"select_on": "max", "train_on": "train"}, "--set select_on=max: choose one of main, mean"),
])
def test_settings_that_make_no_sense_with_train_plus_devel_are_refused(tiny_run, changes,
                                                                        needle):
    from bioner_mtl.training.spec.presets import check_run

    base = {"train_on": "train+devel", "eval_every": None, "devel_limit": None}
    with pytest.raises(InputError) as err:
        check_run(tiny_run(MAIN, **{**base, **changes}))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_corpus_without_devel_sentences_is_refused(tiny_run, tmp_path, monkeypatch):
    """A TSV corpus's empty devel.tsv is refused when read; a corpus split otherwise (documents
    by fraction) may still come without devel sentences: the trainer refuses it."""
    from bioner_mtl.data import corpora

    real = corpora.load_corpus
    monkeypatch.setattr(corpora, "load_corpus", lambda name: dataclasses.replace(
        real(name), devel=[]) if name == AUX else real(name))
    final = tiny_run(MAIN, (AUX,), train_on="train+devel", eval_every=None, devel_limit=None)
    with pytest.raises(InputError, match=f"^{AUX}: no devel sentences to train on; --train-on "
                                         "train\\+devel needs a corpus with a devel split$"):
        Trainer(final, progress=False)


def test_report_keeps_train_plus_devel_cells_apart(tmp_path):
    """A train+devel cell never sits, nor is tested, beside cells selected on devel; its
    heads have no devel scores, and the heads table says what selected each model."""
    from bioner_mtl.experiments import report

    def rec(aux=(), seed=1, test=0.7, **config):
        heads = {MAIN: {"test": {"f1": test}}, **{a: {"test": {"f1": test - 0.1}} for a in aux}}
        if config.get("train_on") != "train+devel":
            heads = {h: {**s, "devel": {"f1": test}} for h, s in heads.items()}
        return make_record(main=MAIN, aux=list(aux), seed=seed, test_f1=test, preset="paper",
                           test_token_macro_f1=test, heads=heads if aux else {}, config=config,
                           devel_f1=math.nan if config.get("train_on") else test)

    final = {"train_on": "train+devel"}
    records = ([rec(seed=s, test=t) for s, t in ((1, 0.60), (2, 0.62))]  # STM on devel
               + [rec((AUX,), seed=s, test=t, **final) for s, t in ((1, 0.80), (2, 0.81))]
               + [rec((AUX,), seed=s, test=t, select_on="mean")
                  for s, t in ((1, 0.66), (2, 0.70))])
    (tmp_path / "r").mkdir()
    write(tmp_path / "r" / "results.jsonl", records)
    out = tmp_path / "report.md"
    assert run(report.main, [str(tmp_path / "r"), "--out", str(out)]) == 0
    text = out.read_text()
    selected = text.split("### Window-CNN family vs CRICHTON tables 9 and 2 (paper preset, full "
                          "training data)")[1].split("###")[0]
    assert "68.00" in selected and "80.50" not in selected  # the devel-selected MO-MTM
    fixed = text.split("full training data, trained on train+devel for a fixed length (no "
                       "devel selection))")[1].split("##")[0]
    assert f"80.50 ± 0.71 (2) with {AUX}" in fixed and "61.00" not in fixed
    assert "MO-MTM vs STM" not in fixed  # no single-task train+devel cell: no test
    heads = text.split("## Every head of multi-head models")[1].split("## ")[0]
    rows = [line for line in heads.splitlines() if line.startswith(f"| {MAIN} |")]
    assert any(r.endswith("| 80.50 ± 0.71 | – | none (train+devel) |") for r in rows)
    assert any(r.endswith("| 68.00 ± 2.83 | 68.00 ± 2.83 | mean devel |") for r in rows)
    assert "## Pairwise grids" in text and "80.50" not in text.split("## Pairwise grids")[1].split(
        "## Every head")[0]


def test_patience_counts_only_after_the_first_devel_entity(tiny_run):
    """Evaluations at devel F1 0 (a model still tagging everything O) do not count toward
    patience: with patience 1 the run outlives four zero evaluations, then stops two after
    its best (a sparse corpus such as Linnaeus used to stop at 0.00 this way)."""
    script = iter([0.0, 0.0, 0.0, 0.0, 0.2, 0.3, 0.1, 0.1, 0.9])
    trainer = Trainer(tiny_run(MAIN, steps=300, eval_every=5, patience=1), progress=False)
    selection_f1, seen = trainer.selection_f1, []

    def scripted(task, split, viterbi):
        if split == "devel" and len(seen) < 8:
            seen.append(task)
            return next(script)
        return selection_f1(task, split, viterbi)

    trainer.selection_f1 = scripted
    record = trainer.fit()
    assert record.stopped == "patience"
    assert [h["devel_f1"] for h in record.history] == [0.0, 0.0, 0.0, 0.0, 0.2, 0.3, 0.1, 0.1]
    assert record.best_step == record.history[5]["step"]
