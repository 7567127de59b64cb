"""experiments/bench.py: the parts that decide what a ratio means. Timings are never
asserted; peers (flair, transformers) are not installed in CI, their tests skip there."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from seqeval.metrics.sequence_labeling import get_entities

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.experiments import bench
from bioner_mtl.training.bench import ours as bench_ours
from bioner_mtl.training.bench import peers as bench_peers
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.batches import BatchStream, EncodedSplit


def test_spans_round_trip_the_corpus_tags_and_match_seqeval():
    for sentence in load_corpus("BC5CDR").test[:300]:
        spans = bench_peers._mentions(sentence.tags)
        assert bench_peers._tags_of(len(sentence), spans) == list(sentence.tags)
        assert [(k, s, e - 1) for k, s, e in spans] == get_entities(list(sentence.tags))


def test_the_peer_trains_on_the_batches_our_trainer_draws():
    lengths = np.random.default_rng(0).integers(1, 60, size=203)
    # Row i holds the value i + 2 everywhere, so a padded batch names its rows.
    split = EncodedSplit([], [np.full(n, i + 2, np.int32) for i, n in enumerate(lengths)],
                         None, None)
    stream = BatchStream(split, 16, np.random.default_rng(7))
    ours = [sorted(next(stream)[0]["token_ids"][:, 0] - 2) for _ in range(30)]
    peer = [sorted(batch) for batch in bench_peers._bucketed(list(lengths), 16, 30, 7)]
    assert ours == peer


def test_ratios_and_the_markdown_table_come_from_the_records():
    found = {"ours-bert": {"train_words_per_second": 300.0, "mention_f1": 0.6,
                           "peak_rss_mb": 900.0, "import_rss_mb": 500.0,
                           "inference_sentences_per_second": 50.0, "padding_share": 0.1,
                           "flops_per_second": 2e10},
             "transformers-bert": {"train_words_per_second": 200.0, "mention_f1": 0.5,
                                   "peak_rss_mb": 700.0, "import_rss_mb": 200.0,
                                   "inference_sentences_per_second": 100.0,
                                   "padding_share": 0.2, "flops_per_second": 1e10},
             "ours-matmul": {"flops_per_second": 4e10},
             "torch-matmul": {"flops_per_second": 8e10}}
    rows = {r["measure"]: r for r in bench.rows_for("bert", found)}
    assert rows["training words/s"]["ratio"] == pytest.approx(1.5)
    assert rows["inference sentences/s"]["ratio"] == pytest.approx(0.5)
    assert rows["memory above the framework's import MB (lower is better)"]["ours"] == 400.0
    assert rows["memory above the framework's import MB (lower is better)"]["ratio"] == \
        pytest.approx(0.8)
    found["ours-multihead:bert"] = {"sentences": 10, "rows": [
        {"heads": 3, "multi_head_seconds": 1.0, "single_models_seconds": 2.5,
         "multi_head_bytes": 2**20, "single_models_bytes": 3 * 2**20}]}
    multihead = bench.rows_for("multihead", found)  # other comparisons' records ignored
    assert [(r["ours"], r["peer"], r["ratio"]) for r in multihead] == [
        (1.0, 2.5, pytest.approx(0.4)), (1.0, 3.0, pytest.approx(1 / 3))]
    machine = bench.rows_for("machine", found)
    assert machine[0]["ratio"] == pytest.approx(0.5)  # TensorFlow's matmul vs PyTorch's
    # each step against the best matmul rate either library reached on this machine
    assert [r["ratio"] for r in machine[1:]] == [pytest.approx(0.25), pytest.approx(0.125)]
    table = bench.markdown({"command": "python experiments/bench.py --quick", "date": "d",
                            "machine": "m", "device": "CPU", "measurements": found,
                            "rows": bench.rows_for("bert", found)})
    assert "| BERT tagger vs transformers BertForTokenClassification | training words/s | " \
           "300 | 200 | 1.50x |" in table


def test_repeats_are_reduced_to_medians_per_number_and_per_table_row():
    runs = [{"train_words_per_second": w, "device": "CPU", "versions": {"numpy": "2"},
             "rows": [{"heads": 3, "multi_head_seconds": s}]}
            for w, s in ((10.0, 1.0), (30.0, 5.0), (20.0, 2.0))]
    merged = bench.median_record([*runs, {"error": "a side that failed once"}])
    assert merged["train_words_per_second"] == 20.0
    assert merged["rows"] == [{"heads": 3, "multi_head_seconds": 2.0}]  # equal ints stay ints
    assert merged["device"] == "CPU" and merged["versions"] == {"numpy": "2"}
    assert len(merged["repeats"]) == 3
    assert bench.median_record([{"error": "x"}]) == {"error": "x"}


def test_unknown_comparison_and_missing_peers_are_one_line_errors(capsys, monkeypatch):
    assert run(bench.main, ["--only", "speed"]) == 2
    assert "--only speed: unknown comparison" in capsys.readouterr().err
    assert run(bench.main, ["--repeats", "0"]) == 2
    assert "--repeats 0" in capsys.readouterr().err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "flair" else real(name, *a))
    assert run(bench.main, ["--only", "bilstm"]) == 2
    err = capsys.readouterr().err
    assert "flair" in err and "requirements-bench.txt" in err and len(err.splitlines()) == 1


def test_our_side_trains_tags_and_reports(tiny_run):
    spec = {"model": "bilstm-crf", "corpus": "NCBI-disease", "fraction": 0.05, "seed": 1,
            "batch_size": 8, "steps": 4, "test_sentences": 30, "learning_rate": 1e-3,
            "run": {"vector_dim": 16, "vector_corpora": "run"},
            "model_options": {"lstm": 8, "projection": 8, "char_dim": 4, "char_filters": 4}}
    record = bench_ours.train_and_tag(spec)
    assert record["train_steps"] == 3 and record["test_sentences"] == 30
    assert 0.0 <= record["mention_f1"] <= 1.0 and 0.0 <= record["padding_share"] < 1.0
    assert record["peak_rss_mb"] >= record["import_rss_mb"] > 0
    assert record["train_words_per_second"] > 0 and record["flops_per_second"] > 0


def test_multihead_bundles_are_measured_for_each_n(tmp_path):
    spec = {"model": "window-cnn", "heads": [1, 2], "corpora": ["NCBI-disease", "BC5CDR"],
            "sentences": 20, "run": {"vector_dim": 16, "vector_corpora": "run",
                                     "train_fraction": 0.05},
            "model_options": {"filters": 8, "hidden": 16}}
    record = bench_ours.multihead(spec)
    one, two = record["rows"]
    assert (one["heads"], two["heads"], record["sentences"]) == (1, 2, 20)
    # one 2-head model is smaller on disk than the two single-task models it replaces
    assert two["multi_head_bytes"] < two["single_models_bytes"]
    assert one["multi_head_bytes"] == one["single_models_bytes"]


def test_a_side_runs_in_its_own_process_and_failures_name_their_log(tmp_path):
    record = bench.run_worker("ours-matmul", {"size": 32, "repeats": 2}, tmp_path, tmp_path)
    assert record["flops_per_second"] > 0 and "tensorflow" in record["versions"]
    failed = bench.run_worker("ours-matmul", {"size": 32}, tmp_path, tmp_path)
    assert "KeyError" in failed["error"] and str(tmp_path / "ours-matmul.log") in \
        failed["error"]


@pytest.mark.skipif(importlib.util.find_spec("flair") is None
                    or importlib.util.find_spec("transformers") is None,
                    reason="peers not installed (requirements-bench.txt)")
def test_the_quick_comparison_runs_end_to_end_with_peers(tmp_path):
    assert run(bench.main, ["--quick", "--only", "bilstm", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert {"ours-bilstm", "flair-bilstm"} <= set(report["measurements"])
    # flair packs its sequences, so only the padding row has no ratio
    assert [r["measure"] for r in report["rows"] if r["ratio"] is None] == [
        "padded share of training positions (lower is better)"]


TINY_HEADS = {"model": "window-cnn", "corpora": ["NCBI-disease", "BC5CDR"], "batches": 3,
              "run": {"vector_dim": 16, "vector_corpora": "run", "train_fraction": 0.05},
              "model_options": {"filters": 8, "hidden": 16}}


def test_training_one_n_head_model_against_n_single_task_models():
    """KHAN section 5.2: each model trains in a process of its own on the same batches of
    each corpus; the single-task models are measured once and summed for every N."""
    record = bench_ours.multihead_training({**TINY_HEADS, "heads": [1, 2]})
    one, two = record["rows"]
    assert (one["heads"], two["heads"]) == (1, 2)
    assert one["multi_head_seconds"] == one["single_models_seconds"]  # N = 1: the same model
    assert two["single_models_peak_mb"] > two["largest_single_peak_mb"] > 0
    assert two["multi_head_peak_mb"] > two["multi_head_added_mb"] > 0
    assert two["multi_head_seconds"] > 0 and two["batches_per_corpus"] == 3


def test_one_model_trains_its_batches_of_every_corpus():
    record = bench_ours.train_heads(TINY_HEADS)
    assert record["steps"] == 6 and record["corpora"] == ["NCBI-disease", "BC5CDR"]
    assert record["peak_rss_mb"] >= record["import_rss_mb"] > 0


def test_inference_speed_train_prints_the_ratios(monkeypatch, capsys):
    from bioner_mtl.experiments import inference_speed

    row = {"heads": 3, "multi_head_seconds": 30.0, "single_models_seconds": 60.0,
           "multi_head_peak_mb": 1500.0, "single_models_peak_mb": 4500.0,
           "largest_single_peak_mb": 1400.0, "multi_head_added_mb": 500.0,
           "single_models_added_mb": 1200.0}
    asked = []
    monkeypatch.setattr(bench_ours, "multihead_training",
                        lambda spec: asked.append(spec) or {"rows": [row]})
    assert run(inference_speed.main, ["--train", "--models", "bert", "--heads", "3",
                                      "--batches", "7"]) == 0
    out = capsys.readouterr().out
    assert "| bert | 3 | 30.0 | 60.0 | 0.50 | 1,500 | 4,500; 1,400 | 0.33 | 500 / 1,200 |" in out
    assert asked[0]["batches"] == 7 and asked[0]["heads"] == [3]
