"""bench.py --only tagging and --only memory (issue 28): what the ratios and inputs mean.
Timings are never asserted."""

from __future__ import annotations

import sys

import pytest

from bioner_mtl.experiments import bench
from bioner_mtl.training.bench import bulk


def test_memory_rows_set_the_large_input_against_the_small_one():
    def record(mb, end, workers, peak, rate):
        return {"megabytes": mb, "sentence_end": end, "workers": workers,
                "peak_process_mb": peak, "peak_tree_mb": peak * workers,
                "megabytes_per_second": rate}

    found = {f"ours-predict-memory:{mb}-{end}-{w}": record(mb, end == "end", w, peak, rate)
             for mb, end, w, peak, rate in [(1, "end", 1, 500.0, 1.0), (50, "end", 1, 550.0, 1.2),
                                            (1, "end", 2, 400.0, 1.0),
                                            (50, "end", 2, 420.0, 2.0)]}
    rows = {r["measure"]: r for r in bench.rows_for("memory", found)}
    key = ("sentences, --workers 1: peak MB of largest process, 50 MB vs 1 MB input (lower is "
           "better; 1.00x is bounded)")
    assert rows[key]["ratio"] == pytest.approx(1.1)
    speed = rows["sentences, 50 MB input: MB/s, --workers 2 vs --workers 1"]
    assert speed["ratio"] == pytest.approx(2.0 / 1.2)


def test_tagging_rows_pair_each_bundle_with_its_peer():
    found = {"ours-tag:bilstm-crf": {"inference_sentences_per_second": 300.0,
                                     "peak_rss_mb": 600.0, "mention_f1": 0.8},
             "flair-tag": {"inference_sentences_per_second": 100.0, "peak_rss_mb": 900.0,
                           "mention_f1": 0.75}}
    rows = bench.rows_for("tagging", found)
    pair = [r for r in rows if r["comparison"] == "bulk tagging: our bilstm-crf vs flair "
                                                  "SequenceTagger"]
    assert [r["ratio"] for r in pair] == pytest.approx([3.0, 600 / 900, 0.8 / 0.75])
    assert all(r["ratio"] is None for r in rows if "bert" in r["comparison"])  # not measured


def test_generated_inputs_have_the_size_and_shape_asked_for(tmp_path):
    with_ends = bulk.make_text(tmp_path / "a.txt", 0.05)
    without = bulk.make_text(tmp_path / "b.txt", 0.05, sentence_end=False)
    for path in (with_ends, without):
        assert 0.05 * 2**20 <= path.stat().st_size < 0.06 * 2**20
    assert "\n\n" in with_ends.read_text() and " . " in with_ends.read_text()
    text = without.read_text()
    assert "\n" not in text and not {" . ", " ! ", " ? "} & {text[i:i + 3] for i in
                                                            range(len(text) - 2)}


def test_the_cpu_line_and_a_measured_command():
    assert "cores" in bulk.cpu_line()
    record = bulk.run_measured([sys.executable, "-c", "import time; x = bytearray(50 * 2**20); "
                                "x[::4096] = b\"\\1\" * len(x[::4096]); time.sleep(0.5)"],
                               every=0.01)
    assert record["peak_process_mb"] >= 50 and record["seconds"] > 0
    small = bulk.run_measured([sys.executable, "-c", "pass"], every=0.01)
    assert small["peak_process_mb"] < 40  # each command's own peak, not the largest so far
    with pytest.raises(RuntimeError, match="failed"):
        bulk.run_measured([sys.executable, "-c", "raise SystemExit(3)"])
