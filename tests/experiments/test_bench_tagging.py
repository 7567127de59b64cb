"""bench.py --only tagging and --only memory (issue 28): what the ratios and inputs mean, and
predict.py's side tagging as the in-process side does. Timings are never asserted."""

from __future__ import annotations

import sys

import pytest

from bioner_mtl.experiments import bench
from bioner_mtl.training.bench import bulk, tagging
from bioner_mtl.training.product.bulk import default_workers

CORPUS = "NCBI-disease"


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


def test_predict_rows_set_the_whole_run_and_its_start_up_beside_the_peer():
    found = {"ours-predict:bert": {"inference_sentences_per_second": 150.0,
                                   "after_startup_sentences_per_second": 200.0,
                                   "startup_seconds": 8.0, "peak_tree_mb": 1800.0,
                                   "peak_process_mb": 900.0, "mention_f1": 0.8,
                                   "workers": 2, "pooled": True},
             "transformers-tag": {"inference_sentences_per_second": 100.0,
                                  "peak_rss_mb": 1200.0, "mention_f1": 0.8}}
    rows = {r["measure"]: r for r in bench.rows_for("tagging", found)
            if r["comparison"] == "bulk tagging: our bert via predict.py --workers 2 vs "
                                  "transformers pipeline"}
    assert [r["ratio"] for r in rows.values()] == pytest.approx(
        [1.5, 2.0, None, 1.5, 0.75, 1.0])
    assert rows["peak memory MB, largest process (lower is better)"]["ours"] == 900.0
    # the in-process rows stay as they were
    assert any(r["comparison"] == "bulk tagging: our bert vs transformers pipeline"
               and r["ours"] is None for r in bench.rows_for("tagging", found))
    found["ours-predict:bert"]["pooled"] = False  # one chunk: no workers started
    assert any("one chunk: tagged in predict.py's own process" in r["comparison"]
               for r in bench.rows_for("tagging", found))


def test_tagging_specs_add_a_predict_side_per_bundle_with_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "gensim_vectors", lambda workdir: workdir / "vectors.kv")
    monkeypatch.setattr(bench, "default_encoder", lambda: tmp_path / "encoder")
    sides = bench.specs("tagging", bench.SETTINGS["quick"]["tagging"], 1, tmp_path, None)
    for model in bench.TAGGERS:
        spec = sides[f"ours-predict:{model}"]
        assert spec["bundle"] == sides[f"ours-tag:{model}"]["bundle"]
        assert spec["workers"] == default_workers() and spec["workdir"] == str(tmp_path)
    assert bench.WORKERS["ours-predict"][1] == "tag_with_predict"


@pytest.fixture(scope="session")
def bundle(tiny_run, tmp_path_factory):
    """A small window CNN that finds entities."""
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import save_bundle

    path = tmp_path_factory.mktemp("bundle") / "tagging-window-cnn"
    trainer = Trainer(tiny_run(CORPUS, steps=300, eval_every=300), progress=False)
    trainer.fit()
    save_bundle(trainer, path, calibrate=False)
    return path


def test_predict_side_tags_what_the_in_process_side_tags(bundle, tmp_path):
    """predict.py with 2 workers (chunks of 10, so the pool runs) writes the tags the bundle
    gives in one process, so both sides score the same F1."""
    from bioner_mtl.training.product.bundle import load

    spec = {"bundle": str(bundle), "corpus": CORPUS, "sentences": 30}
    record = bench.run_worker("ours-predict", {**spec, "workdir": str(tmp_path),
                                               "workers": 2, "chunk": 10},
                              tmp_path, tmp_path)
    assert "error" not in record, record.get("error")
    assert record["pooled"] and record["processes"] >= 3  # predict.py and its 2 workers
    assert record["test_sentences"] == 30 and record["startup_sentences"] == 4
    assert record["peak_tree_mb"] >= record["peak_process_mb"] > 0
    assert record["seconds"] > 0 and record["startup_seconds"] > 0
    written = tagging.conll_tags(tmp_path / "predict-tagging-window-cnn-bulk"
                                 / f"bulk-{CORPUS}-30.conll")
    words = [list(s.tokens) for s in tagging.bulk_sentences(CORPUS, 30)]
    assert written == load(bundle).tag_sentences(words, [CORPUS])[CORPUS][0]
    assert sum(t.startswith("B-") for s in written for t in s) > 3  # the check has substance
    assert record["mention_f1"] == tagging.tag_bundle(spec)["mention_f1"]


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
