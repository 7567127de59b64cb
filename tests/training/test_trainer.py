"""The training harness: model selection, the results record, constrained decoding, data
ablation and one-line errors for impossible runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioner_mtl.data import tags as tagging
from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.fit.batches import make_batch
from bioner_mtl.training.fit.results import RunRecord
from bioner_mtl.training.fit.trainer import Trainer, train
from bioner_mtl.training.spec.config import RunConfig, TrainConfig, replace

MAIN, AUX = "NCBI-disease", "Ex-PTM"
STEPS, EVERY = 300, 30


def fit_with_snapshots(trainer: Trainer) -> tuple[RunRecord, list[list[np.ndarray]]]:
    """fit(), keeping the model's weights as they were at each devel evaluation."""
    snapshots, selection_f1 = [], trainer.selection_f1

    def spy(task, split, viterbi):
        snapshots.append(trainer.model.get_weights())
        return selection_f1(task, split, viterbi)

    trainer.selection_f1 = spy
    try:
        record = trainer.fit()
    finally:
        del trainer.selection_f1
    return record, snapshots[: len(record.history)]


def same_weights(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="session")
def trained(tiny_run):
    trainer = Trainer(tiny_run(MAIN, (AUX,), steps=STEPS, eval_every=EVERY), progress=False)
    record, snapshots = fit_with_snapshots(trainer)
    return trainer, record, snapshots


def test_best_devel_weights_are_kept(trained):
    trainer, record, snapshots = trained
    history = record.history
    main_batches = [h["main_batches"] for h in history]  # evaluations count main batches
    assert all(m % EVERY == 0 for m in main_batches[:-1]) and main_batches == sorted(main_batches)
    # train.steps counts main-corpus batches: the partner's batches come on top
    assert history[-1]["main_batches"] == record.main_batches == STEPS and len(history) >= 2
    assert history[-1]["step"] == record.steps > STEPS
    best = max(history, key=lambda h: h["devel_f1"])  # the first of equal maxima
    assert record.devel_f1 == best["devel_f1"] > 0
    assert record.best_step == best["step"]
    assert same_weights(trainer.model.get_weights(), snapshots[history.index(best)])
    assert trainer.evaluate(MAIN, "devel", viterbi=True).f1 == best["devel_f1"]


def test_record_fields(trained):
    trainer, record, _ = trained
    for key in ("main", "aux", "model", "schedule", "seed", "train_fraction", "steps",
                "best_step", "scores", "parameters", "wall_seconds", "versions", "config"):
        assert hasattr(record, key), key
    run = trainer.run
    assert (record.main, record.aux, record.model) == (MAIN, [AUX], "window-cnn")
    assert (record.schedule, record.seed) == (run.schedule, run.seed)
    assert record.train_fraction == run.train_fraction
    for split in ("devel", "test"):
        for decoding in ("constrained", "unconstrained"):
            scores = record.scores[split][decoding]
            assert {"strict", "default", "token"} <= set(scores), (split, decoding)
            assert 0 <= scores["strict"]["f1"] <= 1
    assert record.test_f1 == record.scores["test"]["constrained"]["f1"]
    assert 0 < record.parameters["trainable"] < record.parameters["total"]
    assert record.wall_seconds >= 0
    assert {"python", "tensorflow", "keras", "numpy"} <= set(record.versions)
    assert record.config["train"]["steps"] == STEPS
    passes = STEPS / -(-len(trainer.tasks[MAIN].train.token_ids) // run.train.batch_size)
    assert record.main_epochs == round(passes, 4)  # what the main corpus got, as epochs


def test_record_is_json(trained):
    _, record, _ = trained
    again = json.loads(record.to_json())
    assert again["scores"] == record.scores and again["history"] == record.history
    assert RunConfig(**{**again["config"], "aux": tuple(again["config"]["aux"]),
                        "train": TrainConfig(**again["config"]["train"])}) == trained[0].run


def test_viterbi_uses_only_training_transitions(trained):
    trainer = trained[0]
    task = trainer.tasks[MAIN]
    predicted = trainer.predict(MAIN, task.devel, viterbi=True)
    assert [len(p) for p in predicted] == [len(s) for s in task.devel.sentences]
    assert any(t != "O" for p in predicted for t in p)
    for tags in predicted:
        assert tagging.iob2_violation(tags) is None, tags
        assert task.transitions.allows(task.tagset.ids(tags)), tags


def test_patience_stops_and_restores_the_best(tiny_run):
    trainer = Trainer(tiny_run(MAIN, (AUX,), steps=300, eval_every=10, patience=1),
                      progress=False)
    record, snapshots = fit_with_snapshots(trainer)
    f1s = [h["devel_f1"] for h in record.history]
    assert record.steps == record.history[-1]["step"]
    assert all(h["main_batches"] % 10 == 0 for h in record.history[:-1])
    # the rule: stop once 2 evaluations in a row gain nothing, counted from the first
    # evaluation that finds a devel entity (F1 above 0)
    top, stale, stop = -1.0, 0, None
    for i, f1 in enumerate(f1s):
        top, stale = (f1, 0) if f1 > top else (top, stale + (top > 0))
        if stale > 1:
            stop = i
            break
    if stop is None:
        assert record.main_batches == 300 and record.stopped == "cap"
        assert record.improving_at_cap == (stale <= 1)
    else:
        assert stop == len(f1s) - 1
        assert record.stopped == "patience" and not record.improving_at_cap
    best = f1s.index(max(f1s))
    assert record.best_step == record.history[best]["step"]
    assert same_weights(trainer.model.get_weights(), snapshots[best])
    if best < len(f1s) - 1:  # weights moved after the best evaluation, and were put back
        assert not same_weights(snapshots[best], snapshots[-1])


def test_train_fraction_halves_main_with_a_seeded_subsample(tiny_run):
    record = train(tiny_run(MAIN, (AUX,), steps=2, eval_every=1, train_fraction=0.5),
                   progress=False)
    assert record.train_sentences == {MAIN: len(load_corpus(MAIN).train) // 2,
                                      AUX: len(load_corpus(AUX).train)}

    def kept(seed):
        run = tiny_run(MAIN, (AUX,), train_fraction=0.5, seed=seed)
        return Trainer(run, progress=False).tasks[MAIN].train.sentences

    same = kept(1)
    assert same == kept(1) != kept(2)
    assert len(same) == record.train_sentences[MAIN]


@pytest.mark.parametrize("changes, needle", [
    ({"main": "NCBI-disese"}, "NCBI-disese"),
    ({"aux": ("Nope",)}, "Nope"),
    ({"model": "transformer-xl"}, "transformer-xl"),
    ({"schedule": "zigzag"}, "zigzag"),
    ({"aux": (MAIN,)}, "own auxiliary"),
    ({"aux": (AUX, AUX)}, "twice"),
    ({"train_fraction": 0.0}, "fraction"),
    ({"train_fraction": 1.5}, "fraction"),
    ({"loss_weights": {"BC2GM": 2.0}}, "BC2GM"),
    ({"model_options": {"filterz": 3}}, "filterz"),
])
def test_bad_runs_raise_one_line_errors(changes, needle):
    run = RunConfig(**{"main": MAIN, "aux": (AUX,), **changes})
    with pytest.raises(InputError) as err:
        Trainer(run, progress=False)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_unknown_optimizer_and_setting(tiny_run):
    with pytest.raises(InputError, match="adagrad"):
        Trainer(tiny_run(MAIN, (AUX,), optimizer="adagrad"), progress=False)
    with pytest.raises(InputError, match="stepz"):
        replace(TrainConfig(), stepz=3)


def test_loss_weights_scale_the_update(tiny_run):
    """A task weighted 0 is never trained: its steps leave every weight as it was."""
    trainer = Trainer(tiny_run(MAIN, (AUX,), loss_weights={AUX: 0.0}, optimizer="sgd"),
                      progress=False)
    inputs, tags = make_batch(trainer.tasks[AUX].train, np.arange(8))
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    loss = float(trainer.train_step(AUX, inputs, tags))
    after = [v.numpy() for v in trainer.model.trainable_variables]
    assert loss > 0 and all(np.array_equal(b, a) for b, a in zip(before, after))


def test_a_cell_still_improving_at_its_cap_is_marked(tiny_run):
    record = train(tiny_run(MAIN, steps=40, eval_every=10, patience=100), progress=False)
    f1s = [h["devel_f1"] for h in record.history]
    assert record.stopped == "cap"
    assert record.improving_at_cap  # patience 100 never ran out: it would have gone on
    record = train(tiny_run(MAIN, steps=40, eval_every=10), progress=False)  # no patience
    assert [h["devel_f1"] for h in record.history] == f1s  # the same training
    # gained at the end, or found nothing yet (it has not started to stall)
    assert record.improving_at_cap == (f1s[-1] > max(f1s[:-1]) or max(f1s) == 0)
    # a rate decayed to zero at the cap: the length is the schedule's, so nothing is unfinished
    record = train(tiny_run(MAIN, steps=40, eval_every=40, warmup=0.1), progress=False)
    assert record.stopped == "cap" and len(record.history) == 1
    assert not record.improving_at_cap


def test_record_keeps_per_sentence_counts_of_the_test_split(trained):
    trainer, record, _ = trained
    counts = record.unit_counts["test"]
    strict = record.scores["test"]["constrained"]["strict"]
    assert counts["unit"] == "sentence"
    assert len(counts["tp"]) == len(trainer.tasks[MAIN].test.sentences)
    assert sum(counts["tp"]) == strict["tp"]
    assert sum(counts["pred"]) == strict["tp"] + strict["fp"]
    assert sum(counts["gold"]) == strict["tp"] + strict["fn"]


def test_learning_rate_decays_by_three_percent_per_epoch(tiny_run):
    """WANG: the rate "decays at the rate of 3%" (their code: lr *= 0.97 each epoch)."""
    trainer = Trainer(tiny_run(MAIN, epochs=3, steps=None, lr_decay=0.03, eval_every=None,
                               train_fraction=0.02), progress=False)
    rates, step = [], trainer.train_step

    def spy(task, inputs, tags):
        rates.append(float(np.asarray(trainer.optimizer.learning_rate)))
        return step(task, inputs, tags)

    trainer.train_step = spy
    trainer.fit()
    first = trainer.run.train.learning_rate
    assert sorted(set(np.round(rates, 10)), reverse=True) == pytest.approx(
        [first, first * 0.97, first * 0.97 ** 2])


def test_a_multi_task_record_scores_every_head(trained):
    trainer, record, _ = trained
    assert set(record.heads) == {MAIN, AUX}
    assert record.heads[MAIN]["test"]["f1"] == record.test_f1
    aux_test = trainer.evaluate(AUX, "test", viterbi=True).to_dict()
    assert record.heads[AUX]["test"] == aux_test  # the partner's head on its own test


@pytest.mark.parametrize("changes, needle", [
    ({"train": TrainConfig(steps=0)}, "--steps 0"),  # was read as 'not set'
    ({"train": TrainConfig(steps=-5)}, "--steps -5"),
    ({"train": TrainConfig(epochs=0)}, "--epochs 0"),  # was read as 'not set'
    ({"train": TrainConfig(epochs=None)}, "no training length"),
    ({"train": TrainConfig(batch_size=0)}, "train.batch_size=0"),
    ({"train": TrainConfig(eval_every=-1)}, "train.eval_every=-1"),
    ({"train": TrainConfig(eval_every=0, patience=2)}, "early stopping needs devel evaluations"),
    ({"train": TrainConfig(patience=-1)}, "train.patience=-1"),  # stopped at the first one
    ({"train": TrainConfig(learning_rate=-1.0)}, "train.learning_rate=-1.0"),
    ({"devel_limit": 0}, "devel_limit=0"),  # was the whole split
    ({"devel_limit": -1}, "devel_limit=-1"),  # dropped the last sentence
    ({"test_limit": 0}, "test_limit=0"),
    ({"vector_dim": 0}, "vector_dim=0"),
    ({"gpus": 0}, "--gpus 0"),
    ({"seed": -1}, "--seed -1"),
    ({"loss_weights": {AUX: -1.0}}, "loss weight -1.0"),
    ({"model_options": {"dropout": 1.5}}, "dropout=1.5"),
    ({"main": "GENIA-POS", "aux": ()}, "part-of-speech corpus, not an NER corpus"),
    ({"model": "cross-sharing", "aux": (AUX, "BC5CDR")}, "gates exactly two corpora"),
    ({"model": "cross-sharing", "aux": ()}, "but got 0 auxiliaries (none)"),
    ({"model": "bert", "model_options": {"max_length": 1}}, "max_length=1"),
])
def test_impossible_settings_raise_one_line_errors_before_loading(changes, needle):
    run = RunConfig(**{"main": MAIN, "aux": (AUX,), **changes})
    with pytest.raises(InputError) as err:
        Trainer(run, progress=False)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_subword_featurizer_refuses_a_max_length_without_room_for_a_word():
    from bioner_mtl.models.configs import BertConfig
    from bioner_mtl.training.fit.subword_features import SubwordFeaturizer

    with pytest.raises(InputError, match=r"max_length 2: .*\[CLS\], one subword and \[SEP\]"):
        SubwordFeaturizer(BertConfig(max_length=2))  # before the encoder is loaded
