"""bioner-mtl against the tools a user would otherwise pick, side by side in one run, as ratios.

    python experiments/bench.py --quick                 # a few minutes on a laptop CPU
    python experiments/bench.py                         # full slices and epochs
    python experiments/bench.py --quick --only bert,machine

Comparisons (the same sentences, dimensions, batch size, steps and test text on both sides):
  bilstm     our BiLSTM-CNN-CRF vs flair's SequenceTagger (our word2vec vectors in a gensim
             file, character features, BiLSTM 256, CRF), each with its own optimiser defaults;
  bert       our BERT tagger vs transformers' BertForTokenClassification, both from the same
             local MiniLM (or --encoder) directory, same max length, learning rate, schedule;
  multihead  one N-head model vs N single-task models (N = 1, 3, 6): tagging time, disk size;
  machine    the floating point rate of our BERT and BiLSTM training steps against the
             machine's dense matmul rate measured in this run;
  tagging    bulk tagging of the same 10,000 sentences by our window-CNN, BiLSTM-CRF and
             BERT bundles, flair's SequenceTagger and transformers' token-classification
             pipeline (each trained first, in its own process): sentences/s, peak memory, F1;
             our bundles twice: in one process after a warm-up, and by predict.py --workers N
             (the cores) on the sentences as a CoNLL file, timed from start to exit;
  levers     one BERT tagging lever at a time (XLA with length buckets, bfloat16) against
             the current float32 path, in one process taking turns: rate and tags kept;
  memory     predict.py's peak memory (and MB/s) on a large generated input against a 1 MB
             one, with and without sentence ends, with 1 and 2 workers (no peers);
  profile    one BERT tagging pass of the same sentences by our bundle and by transformers'
             BertForTokenClassification (same MiniLM, batches of 64), each under its
             framework's profiler: seconds and share in matmuls, attention, softmax, layer
             norm, GELU, gathers, featurising, decoding and the rest, side by side.
Every side runs in its own process (its peak memory is its own; the first step, which
compiles or allocates, is not timed). Peers install from requirements-bench.txt. Writes
bench.json and bench.md (ratios ours / peer and this command line) to --out.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from bioner_mtl.data.atomic import write_text
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.bench.bulk import cpu_line
from bioner_mtl.training.cli import ArgumentParser, run

COMPARISONS = ("bilstm", "bert", "multihead", "machine", "tagging", "levers", "memory",
               "profile")
PEERS = {"bilstm": "flair", "bert": "transformers"}
MULTIHEAD_CORPORA = ["BC5CDR", "NCBI-disease", "BC2GM", "Linnaeus", "BioNLP09", "Ex-PTM"]
INSTALL = "pip install torch==2.13.0 && pip install -r requirements-bench.txt"

SETTINGS = {
    "quick": {
        "bilstm": {"corpus": "NCBI-disease", "fraction": 0.2, "epochs": 2, "batch_size": 16,
                   "test_sentences": 400, "hidden": 256},
        "bert": {"corpus": "NCBI-disease", "fraction": 0.3, "epochs": 1, "batch_size": 16,
                 "max_length": 128, "learning_rate": 1e-4, "test_sentences": 400},
        "multihead": {"models": ["bilstm-crf", "bert"], "heads": [1, 3, 6], "sentences": 300},
        "machine": {"size": 1024, "repeats": 8},
        "tagging": {"corpus": "NCBI-disease", "fraction": 0.1, "sentences": 1000,
                    "max_length": 128, "epochs": {"window-cnn": 2, "bilstm-crf": 1, "bert": 1},
                    "batch_size": {"window-cnn": 8, "bilstm-crf": 16, "bert": 16},
                    "learning_rate": {"window-cnn": 1e-3, "bilstm-crf": 1e-3, "bert": 1e-4}},
        "levers": {"sentences": 500},
        "profile": {"corpus": "NCBI-disease", "sentences": 200, "max_length": 128},
        "memory": {"megabytes": [1, 5], "workers": [1, 2]},
    },
    "full": {
        "bilstm": {"corpus": "NCBI-disease", "fraction": 1.0, "epochs": 5, "batch_size": 16,
                   "test_sentences": 10**6, "hidden": 256},
        "bert": {"corpus": "NCBI-disease", "fraction": 1.0, "epochs": 1, "batch_size": 32,
                 "max_length": 128, "learning_rate": 5e-5, "test_sentences": 10**6},
        "multihead": {"models": ["window-cnn", "bilstm-crf", "bert"], "heads": [1, 3, 6],
                      "sentences": 1000},
        "machine": {"size": 2048, "repeats": 8},
        "tagging": {"corpus": "NCBI-disease", "fraction": 1.0, "sentences": 10_000,
                    "max_length": 128, "epochs": {"window-cnn": 5, "bilstm-crf": 5, "bert": 1},
                    "batch_size": {"window-cnn": 8, "bilstm-crf": 16, "bert": 32},
                    "learning_rate": {"window-cnn": 1e-3, "bilstm-crf": 1e-3, "bert": 5e-5}},
        "levers": {"sentences": 3000},
        "profile": {"corpus": "NCBI-disease", "sentences": 500, "max_length": 128},
        "memory": {"megabytes": [1, 50], "workers": [1, 2]},
    },
}

WORKERS = {  # name -> (module, function); each runs in a fresh process
    "ours-bilstm": ("bioner_mtl.training.bench.ours", "train_and_tag"),
    "ours-bert": ("bioner_mtl.training.bench.ours", "train_and_tag"),
    "ours-multihead": ("bioner_mtl.training.bench.ours", "multihead"),
    "ours-matmul": ("bioner_mtl.training.bench.ours", "matmul_rate"),
    "flair-bilstm": ("bioner_mtl.training.bench.peers", "flair_bilstm"),
    "transformers-bert": ("bioner_mtl.training.bench.peers", "hf_bert"),
    "torch-matmul": ("bioner_mtl.training.bench.peers", "matmul_rate"),
    "ours-predict-memory": ("bioner_mtl.training.bench.bulk", "predict_memory"),
    "ours-lever": ("bioner_mtl.training.bench.tagging", "lever"),
    "ours-train": ("bioner_mtl.training.bench.tagging", "train_bundle"),
    "ours-tag": ("bioner_mtl.training.bench.tagging", "tag_bundle"),
    "ours-predict": ("bioner_mtl.training.bench.tagging", "tag_with_predict"),
    "ours-profile": ("bioner_mtl.training.bench.profile", "profile_ours"),
    "transformers-profile": ("bioner_mtl.training.bench.profile", "profile_transformers"),
    "flair-train": ("bioner_mtl.training.bench.peers", "flair_bilstm"),
    "transformers-train": ("bioner_mtl.training.bench.peers", "hf_bert"),
    "flair-tag": ("bioner_mtl.training.bench.peers", "flair_tag"),
    "transformers-tag": ("bioner_mtl.training.bench.peers", "hf_pipeline_tag"),
}
TAGGERS = ("window-cnn", "bilstm-crf", "bert")
# our model -> the peer it is set beside in the tagging table
TAGGING_PAIRS = (("bilstm-crf", "flair"), ("bert", "transformers"), ("window-cnn", "flair"),
                 ("window-cnn", "transformers"))


def steps_for(settings: dict, seed: int) -> int:
    from bioner_mtl.training.bench.measure import slice_of

    train, _ = slice_of(settings["corpus"], settings["fraction"], seed, 0)
    return settings["epochs"] * -(-len(train) // settings["batch_size"])


def specs(comparison: str, settings: dict, seed: int, workdir: Path,
          encoder: str | None) -> dict[str, dict]:
    """The spec each side of a comparison runs with: shared fields plus each side's own."""
    if comparison == "machine":
        return {"ours-matmul": settings, "torch-matmul": settings}
    if comparison == "tagging":
        return tagging_specs(settings, seed, workdir, encoder)
    if comparison == "profile":  # the bundle --only tagging trained, else an untrained one
        trained = workdir / "tagging-bert"
        return {"ours-profile": {**settings, "workdir": str(workdir), "encoder": encoder,
                                 "bundle": str(trained) if trained.is_dir() else None},
                "transformers-profile": {**settings, "seed": seed,
                                         "encoder_dir": encoder or str(default_encoder())}}
    if comparison == "levers":  # the BERT bundle --only tagging trained, else an untrained one
        trained = workdir / "tagging-bert"
        return {f"ours-lever:{name}": {"lever": name, "corpus": "NCBI-disease",
                                       "sentences": settings["sentences"],
                                       "bundle": str(trained) if trained.is_dir() else None,
                                       "workdir": str(workdir)}
                for name in ("xla-buckets", "bfloat16")}
    if comparison == "memory":
        return {f"ours-predict-memory:{mb}-{end}-{workers}": {
                    "megabytes": mb, "sentence_end": end == "end", "workers": workers,
                    "workdir": str(workdir)}
                for end in ("end", "no-end") for workers in settings["workers"]
                for mb in settings["megabytes"]}
    if comparison == "multihead":
        return {f"ours-multihead:{m}": {"model": m, "heads": settings["heads"],
                                         "corpora": MULTIHEAD_CORPORA,
                                         "sentences": settings["sentences"]}
                for m in settings["models"]}
    shared = {"corpus": settings["corpus"], "fraction": settings["fraction"], "seed": seed,
              "batch_size": settings["batch_size"], "steps": steps_for(settings, seed),
              "test_sentences": settings["test_sentences"]}
    if comparison == "bilstm":
        return {
            # WANG's recipe on our side (RMSprop 1e-3), flair's trainer default on its side.
            "ours-bilstm": {**shared, "model": "bilstm-crf", "learning_rate": 1e-3,
                            "vector_dim": 100, "model_options": {"lstm": settings["hidden"]}},
            "flair-bilstm": {**shared, "learning_rate": 0.1, "hidden": settings["hidden"],
                             "vectors_file": str(gensim_vectors(workdir))},
        }
    encoder_dir = encoder or str(default_encoder())
    both = {**shared, "learning_rate": settings["learning_rate"],
            "max_length": settings["max_length"]}
    return {"ours-bert": {**both, "model": "bert", "tag_scheme": "IOB2",
                          "model_options": {"max_length": settings["max_length"],
                                            **({"encoder": encoder} if encoder else {})}},
            "transformers-bert": {**both, "encoder_dir": encoder_dir}}


def tagging_specs(settings: dict, seed: int, workdir: Path, encoder: str | None
                  ) -> dict[str, dict]:
    """Every side trains first (bilstm-crf and flair the same steps, bert and transformers
    the same steps), saving its model; then every side tags the same bulk sentences, ours
    also through predict.py with --workers the cores (its default, passed as a number)."""
    from bioner_mtl.training.product.bulk import default_workers

    sides, tags = {}, {}
    steps = {m: steps_for({"corpus": settings["corpus"], "fraction": settings["fraction"],
                           "epochs": settings["epochs"][m],
                           "batch_size": settings["batch_size"][m]}, seed) for m in TAGGERS}
    for model in TAGGERS:
        shared = {"corpus": settings["corpus"], "fraction": settings["fraction"], "seed": seed,
                  "batch_size": settings["batch_size"][model], "steps": steps[model],
                  "learning_rate": settings["learning_rate"][model], "test_sentences": 1}
        options = {"window-cnn": {}, "bilstm-crf": {"lstm": 256},
                   "bert": {"max_length": settings["max_length"],
                            **({"encoder": encoder} if encoder else {})}}[model]
        sides[f"ours-train:{model}"] = {
            **shared, "model": model, "model_options": options, "vector_dim": 100,
            "save_to": str(workdir / f"tagging-{model}"),
            **({"tag_scheme": "IOB2"} if model == "bert" else {})}
        tags[f"ours-tag:{model}"] = {"bundle": str(workdir / f"tagging-{model}"),
                                     "corpus": settings["corpus"],
                                     "sentences": settings["sentences"]}
        tags[f"ours-predict:{model}"] = {**tags[f"ours-tag:{model}"], "workdir": str(workdir),
                                         "workers": default_workers()}
    peers = specs("bilstm", {**settings, "epochs": settings["epochs"]["bilstm-crf"],
                             "batch_size": settings["batch_size"]["bilstm-crf"],
                             "test_sentences": 1, "hidden": 256}, seed, workdir, encoder)
    sides["flair-train"] = {**peers["flair-bilstm"], "save_to": str(workdir / "flair.pt")}
    peers = specs("bert", {**settings, "epochs": settings["epochs"]["bert"],
                           "batch_size": settings["batch_size"]["bert"], "test_sentences": 1,
                           "learning_rate": settings["learning_rate"]["bert"]},
                  seed, workdir, encoder)
    sides["transformers-train"] = {**peers["transformers-bert"],
                                   "save_to": str(workdir / "transformers")}
    for peer, path in (("flair", "flair.pt"), ("transformers", "transformers")):
        tags[f"{peer}-tag"] = {"model_path": str(workdir / path), "seed": seed,
                               "corpus": settings["corpus"], "sentences": settings["sentences"]}
    return {**sides, **tags}


def default_encoder() -> Path:
    from bioner_mtl.models.bert_encoder import default_encoder_dir

    return default_encoder_dir()


def gensim_vectors(workdir: Path) -> Path:
    """Our word2vec vectors (100-d, as the BiLSTM side trains with) as a gensim file flair
    loads; the same rows, original and normalised keys. Written afresh for every run."""
    from gensim.models import KeyedVectors

    from bioner_mtl.training.fit.word_features import word_vectors
    from bioner_mtl.training.spec.config import RunConfig

    vectors = word_vectors(RunConfig(main="NCBI-disease", vector_dim=100), ("NCBI-disease",))
    path = workdir / "word2vec-100d.kv"
    keyed = KeyedVectors(vectors.dim)
    keyed.add_vectors(vectors.words, vectors.matrix)
    keyed.save(str(path))
    return path


def run_worker(name: str, spec: dict, workdir: Path, log_dir: Path) -> dict:
    """One side in a fresh process; its record, or {"error": last line} if it failed."""
    result = workdir / f"{name.replace(':', '-')}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name.split(":")[0],
               "--spec", json.dumps(spec), "--result", str(result)]
    # transformers imports TensorFlow too when both are installed: keep peers on PyTorch only.
    peer = {} if name.startswith("ours-") else {"USE_TF": "0", "USE_TORCH": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **peer})
    if done.returncode != 0:
        log = log_dir / f"{name.replace(':', '-')}.log"
        log.write_text(done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": f"{lines[-1] if lines else done.returncode} (full output: {log})"}
    return json.loads(result.read_text())


def worker_main(name: str, spec: str, result: str) -> None:
    module, function = WORKERS[name]
    record = getattr(importlib.import_module(module), function)(json.loads(spec))
    record["versions"] = package_versions()
    Path(result).write_text(json.dumps(record))


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "keras-hub", "torch", "flair", "transformers", "numpy"):
        if name.replace("-", "_") in sys.modules or name in sys.modules:
            found[name] = metadata.version(name)
    return found


def median_record(records: list[dict]) -> dict:
    """One side over repeats: the median of every number (of every row of multi-head
    tables), the first record's other fields, and the repeats' own values."""
    good = [r for r in records if "error" not in r]
    if not good:
        return records[-1]

    def combine(values: list):
        first = values[0]
        if all(v == first for v in values) or isinstance(first, bool) or not isinstance(
                first, (int, float, list, dict)):
            return first
        if isinstance(first, (int, float)):
            return float(statistics.median(values))
        if isinstance(first, list):
            return [combine(list(items)) for items in zip(*values)]
        return {k: combine([v[k] for v in values]) for k in first}

    merged = combine(good)
    if len(good) > 1:
        merged["repeats"] = good
    return merged


# ----- the report --------------------------------------------------------------------------
def ratio(ours: float | None, peer: float | None) -> float | None:
    return None if not ours or not peer else ours / peer


def rows_for(comparison: str, found: dict[str, dict]) -> list[dict]:
    """Table rows: measure, ours, peer, ours / peer (higher is better unless noted)."""
    if comparison in PEERS:
        ours = found.get(f"ours-{comparison}", {})
        peer = found.get(f"{PEERS[comparison]}-{comparison}", {})
        measures = [("training words/s", "train_words_per_second", 0),
                    ("inference sentences/s", "inference_sentences_per_second", 0),
                    ("peak memory MB (lower is better)", "peak_rss_mb", 0),
                    ("memory above the framework's import MB (lower is better)", "added_mb", 0),
                    ("peak GPU memory MB (lower is better)", "gpu_peak_mb", 0),
                    ("mention F1 (test slice)", "mention_f1", 4),
                    ("padded share of training positions (lower is better)", "padding_share",
                     3)]
        name = {"bilstm": "BiLSTM-CRF vs flair SequenceTagger",
                "bert": "BERT tagger vs transformers BertForTokenClassification"}[comparison]
        def value(side: dict, key: str) -> float | None:
            if key == "added_mb" and "peak_rss_mb" in side:
                return side["peak_rss_mb"] - side["import_rss_mb"]
            return side.get(key)

        return [{"comparison": name, "measure": label, "ours": value(ours, key),
                 "peer": value(peer, key), "ratio": ratio(value(ours, key), value(peer, key)),
                 "digits": digits}
                for label, key, digits in measures
                if key != "gpu_peak_mb" or key in ours or key in peer]  # GPU runs only
    if comparison == "memory":
        return memory_rows(found)
    if comparison == "profile":
        return profile_rows(found)
    if comparison == "tagging":
        return tagging_rows(found)
    if comparison == "levers":
        return [row for key, r in found.items() if key.startswith("ours-lever:") for row in (
            {"comparison": "BERT tagging lever vs the current float32 path",
             "measure": f"{r['lever']}: sentences/s", "ours": r["lever_sentences_per_second"],
             "peer": r["current_sentences_per_second"],
             "ratio": ratio(r["lever_sentences_per_second"],
                            r["current_sentences_per_second"]), "digits": 1},
            {"comparison": "BERT tagging lever vs the current float32 path",
             "measure": f"{r['lever']}: share of tokens whose tag it keeps"
                        + ("" if r.get("trained", True) else " (untrained bundle: not "
                                                             "meaningful)"),
             "ours": r["tags_kept"], "peer": 1.0, "ratio": r["tags_kept"], "digits": 4})]
    if comparison == "multihead":
        rows = []
        for key, record in found.items():
            if not key.startswith("ours-multihead:"):
                continue
            model = key.split(":")[1]
            for r in record.get("rows", []):
                label = f"{model}, N={r['heads']}"
                rows += [{"comparison": "one N-head model vs N single-task models",
                          "measure": f"{label}: seconds to tag {record['sentences']} sentences "
                                     "(lower is better)",
                          "ours": r["multi_head_seconds"], "peer": r["single_models_seconds"],
                          "ratio": ratio(r["multi_head_seconds"], r["single_models_seconds"]),
                          "digits": 2},
                         {"comparison": "one N-head model vs N single-task models",
                          "measure": f"{label}: MB on disk (lower is better)",
                          "ours": r["multi_head_bytes"] / 2**20,
                          "peer": r["single_models_bytes"] / 2**20,
                          "ratio": ratio(r["multi_head_bytes"], r["single_models_bytes"]),
                          "digits": 1}]
        return rows
    tf_rate = found.get("ours-matmul", {}).get("flops_per_second")
    torch_rate = found.get("torch-matmul", {}).get("flops_per_second")
    machine = max(tf_rate or 0, torch_rate or 0) or None  # the best either library reaches
    rows = [{"comparison": "closeness to the machine", "measure": "dense float32 matmul "
             "GFLOP/s: TensorFlow vs PyTorch", "ours": gflops(tf_rate),
             "peer": gflops(torch_rate), "ratio": ratio(tf_rate, torch_rate), "digits": 1}]
    for side, label in (("ours-bert", "our BERT step"), ("transformers-bert",
                                                           "transformers BERT step"),
                        ("ours-bilstm", "our BiLSTM-CRF step")):
        rate = found.get(side, {}).get("flops_per_second")
        if rate:
            rows.append({"comparison": "closeness to the machine",
                         "measure": f"{label} GFLOP/s vs the machine's matmul GFLOP/s",
                         "ours": gflops(rate), "peer": gflops(machine),
                         "ratio": ratio(rate, machine), "digits": 1})
    return rows


# predict.py's side: (measure, its key, the peer's key, digits); the peer's rate and memory
# are of one process tagging after a warm-up, its loading untimed
PREDICT_MEASURES = (
    ("sentences/s, start to exit (Python, TensorFlow and the bundle loading in every worker "
     "included; no warm-up)", "inference_sentences_per_second",
     "inference_sentences_per_second", 0),
    ("sentences/s less start-up (the time of the same command on a tiny input taken off)",
     "after_startup_sentences_per_second", "inference_sentences_per_second", 0),
    ("start-up s (the same command on a tiny input; lower is better; the peer's load is not "
     "timed)", "startup_seconds", None, 1),
    ("peak memory MB, all processes summed (lower is better)", "peak_tree_mb", "peak_rss_mb",
     0),
    ("peak memory MB, largest process (lower is better)", "peak_process_mb", "peak_rss_mb", 0),
    ("mention F1", "mention_f1", "mention_f1", 4))


def tagging_rows(found: dict[str, dict]) -> list[dict]:
    """Each of our bundles beside a peer tagging the same sentences: in one process, then
    through predict.py (a process tree timed from start to exit)."""
    from bioner_mtl.training.product.bulk import default_workers

    rows = []
    for model, peer in TAGGING_PAIRS:
        ours, theirs = found.get(f"ours-tag:{model}", {}), found.get(f"{peer}-tag", {})
        name = {"flair": "flair SequenceTagger", "transformers": "transformers pipeline"}[peer]
        for label, key, digits in (("sentences/s", "inference_sentences_per_second", 0),
                                   ("peak memory MB (lower is better)", "peak_rss_mb", 0),
                                   ("mention F1", "mention_f1", 4)):
            rows.append({"comparison": f"bulk tagging: our {model} vs {name}",
                         "measure": label, "ours": ours.get(key), "peer": theirs.get(key),
                         "ratio": ratio(ours.get(key), theirs.get(key)), "digits": digits})
        tool = found.get(f"ours-predict:{model}", {})
        comparison = (f"bulk tagging: our {model} via predict.py --workers "
                      f"{tool.get('workers', default_workers())} vs {name}"
                      + (" (one chunk: tagged in predict.py's own process)"
                         if tool.get("pooled") is False and tool.get("workers", 1) > 1
                         else ""))
        for label, key, peer_key, digits in PREDICT_MEASURES:
            mine, theirs_value = tool.get(key), theirs.get(peer_key) if peer_key else None
            rows.append({"comparison": comparison, "measure": label, "ours": mine,
                         "peer": theirs_value, "ratio": ratio(mine, theirs_value),
                         "digits": digits})
    return rows


def profile_rows(found: dict[str, dict]) -> list[dict]:
    """One row per category of the profiled pass: seconds on each side, their shares of the
    pass, ours / peer of the seconds (lower is faster); then the whole pass, profiled and not."""
    from bioner_mtl.training.bench.profile import CATEGORIES

    ours, peer = found.get("ours-profile", {}), found.get("transformers-profile", {})
    if not ours and not peer:
        return []
    name = (f"one tagging pass of {ours.get('test_sentences') or peer.get('test_sentences')} "
            "sentences profiled: our BERT bundle vs transformers BertForTokenClassification")
    rows = [{"comparison": name, "measure": label, "ours": ours.get("seconds", {}).get(key),
             "peer": peer.get("seconds", {}).get(key),
             "ratio": ratio(ours.get("seconds", {}).get(key), peer.get("seconds", {}).get(key)),
             "shares": [ours.get("shares", {}).get(key), peer.get("shares", {}).get(key)],
             "digits": 3} for key, label in CATEGORIES]
    for label, key in (("the whole pass, profiled", "pass_seconds"),
                       ("the same pass without the profiler (fastest of the repeats)",
                        "unprofiled_seconds")):
        rows.append({"comparison": name, "measure": label, "ours": ours.get(key),
                     "peer": peer.get(key), "ratio": ratio(ours.get(key), peer.get(key)),
                     "shares": [1.0 if ours.get(key) else None, 1.0 if peer.get(key) else None],
                     "digits": 3})
    return rows


def memory_rows(found: dict[str, dict]) -> list[dict]:
    """predict.py on the largest input against the smallest (peak memory: 1.00x is
    bounded), and 2 workers against 1 on the largest (MB/s)."""
    runs = {("end" if v["sentence_end"] else "no-end", v["workers"], v["megabytes"]): v
            for k, v in found.items() if k.startswith("ours-predict-memory:")}
    rows = []
    for kind, label in (("end", "sentences"), ("no-end", "no sentence end")):
        for workers in sorted({w for k, w, _ in runs if k == kind}):
            sizes = sorted(mb for k, w, mb in runs if k == kind and w == workers)
            if len(sizes) < 2:
                continue
            small, big = runs[(kind, workers, sizes[0])], runs[(kind, workers, sizes[-1])]
            for key, what in (("peak_process_mb", "largest process"),
                              ("peak_tree_mb", "all processes")):
                rows.append({"comparison": "predict.py memory, large vs small input",
                             "measure": f"{label}, --workers {workers}: peak MB of {what}, "
                                        f"{sizes[-1]:g} MB vs {sizes[0]:g} MB input (lower is "
                                        "better; 1.00x is bounded)",
                             "ours": big[key], "peer": small[key],
                             "ratio": ratio(big[key], small[key]), "digits": 0})
        both = sorted({w for k, w, _ in runs if k == kind})
        big = max(mb for k, _, mb in runs if k == kind) if both else None
        if len(both) > 1 and all((kind, w, big) in runs for w in both[:2]):
            one, more = runs[(kind, both[0], big)], runs[(kind, both[-1], big)]
            rows.append({"comparison": "predict.py memory, large vs small input",
                         "measure": f"{label}, {big:g} MB input: MB/s, --workers {both[-1]} vs "
                                    f"--workers {both[0]}",
                         "ours": more["megabytes_per_second"],
                         "peer": one["megabytes_per_second"],
                         "ratio": ratio(more["megabytes_per_second"],
                                        one["megabytes_per_second"]), "digits": 2})
    return rows


def gflops(rate: float | None) -> float | None:
    return None if rate is None else rate / 1e9


def markdown(report: dict) -> str:
    def number(value, digits):
        return "n/a" if value is None else f"{value:,.{digits}f}"

    lines = [f"`{report['command']}`", "",
             f"{report['date']}, {report['machine']}, device {report['device']}"
             + (f"; CPU: {report['cpu']}" if report.get("cpu") else "")
             + (f"; medians of {report['repeats']} runs per side"
                if report.get("repeats", 1) > 1 else ""), ""]
    if not report["rows"] or any("shares" not in row for row in report["rows"]):
        lines += ["| comparison | measure | bioner-mtl | peer | ours / peer |",
                  "|---|---|---|---|---|"]
    for row in report["rows"]:
        if "shares" in row:  # the profile: a table of its own, below
            continue
        r = row["ratio"]
        lines.append(f"| {row['comparison']} | {row['measure']} | "
                     f"{number(row['ours'], row['digits'])} | "
                     f"{number(row['peer'], row['digits'])} | "
                     f"{'n/a' if r is None else f'{r:.2f}x'} |")
    lines += profile_table(report)
    for name, record in report["measurements"].items():
        if "error" in record:
            lines.append(f"\n{name} failed: {record['error']}")
    return "\n".join(lines) + "\n"


def profile_table(report: dict) -> list[str]:
    """The profile's rows as their own table: seconds and share on each side, the ratio of
    seconds (ours / transformers: below 1.00x ours is faster), the CPU line above it."""
    rows = [r for r in report["rows"] if "shares" in r]
    if not rows:
        return []

    def cell(value, digits):
        return "n/a" if value is None else f"{value:,.{digits}f}"

    def share(value):
        return "n/a" if value is None else f"{value:.1%}"

    record = report["measurements"].get("ours-profile", {})
    peer = report["measurements"].get("transformers-profile", {})
    threads = (f"threads: TensorFlow intra-op {record.get('intra_op_threads') or 'default'}, "
               f"inter-op {record.get('inter_op_threads') or 'default'}; PyTorch "
               f"{peer.get('intra_op_threads', 'n/a')}")
    methods = "; ".join(f"{side}: {report['measurements'][key].get('method', '?')}"
                        for side, key in (("ours", "ours-profile"),
                                          ("transformers", "transformers-profile"))
                        if key in report["measurements"])
    lines = ["", f"**{rows[0]['comparison']}**; CPU: {record.get('cpu') or report.get('cpu')}"
             + f"; {threads}"
             + (f"; environment {record['environment']}" if record.get("environment") else "")
             + f" ({methods})", "",
             "| category | bioner-mtl s | share | transformers s | share | ours / peer "
             "(time; below 1.00x ours is faster) |", "|---|---|---|---|---|---|"]
    for row in rows:
        r = row["ratio"]
        lines.append(f"| {row['measure']} | {cell(row['ours'], row['digits'])} | "
                     f"{share(row['shares'][0])} | {cell(row['peer'], row['digits'])} | "
                     f"{share(row['shares'][1])} | {'n/a' if r is None else f'{r:.2f}x'} |")
    return lines


def check_peers(chosen: list[str]) -> None:
    needed = {"bilstm": ["torch", "flair"], "bert": ["torch", "transformers"],
              "machine": ["torch"], "tagging": ["torch", "flair", "transformers"],
              "profile": ["torch", "transformers"]}
    missing = sorted({m for c in chosen for m in needed.get(c, [])
                      if importlib.util.find_spec(m) is None})
    if missing:
        raise InputError(f"the peers {', '.join(missing)} are not installed: {INSTALL} "
                         "(or --only multihead,memory, which need none)")


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small slices: a few minutes on a CPU")
    p.add_argument("--only", default=",".join(COMPARISONS),
                   help=f"comma-separated comparisons among {', '.join(COMPARISONS)}")
    p.add_argument("--encoder", help="local BERT directory for both BERT sides (default MiniLM)")
    p.add_argument("--out", default="runs/bench", help="directory for bench.json and bench.md")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1,
                   help="run every side N times, alternating which goes first; report "
                        "medians (a noisy machine)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.spec, args.result)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(COMPARISONS))
    if unknown:
        raise InputError(f"--only {', '.join(unknown)}: unknown comparison; choose among "
                         f"{', '.join(COMPARISONS)}")
    if args.repeats < 1:
        raise InputError(f"--repeats {args.repeats}: run each side at least once (1)")
    if args.encoder and not Path(args.encoder).is_dir():
        raise InputError(f"--encoder {args.encoder}: no such directory")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out}: a file, not a directory; give a directory for "
                         "bench.json and bench.md")
    check_peers(chosen)
    settings = SETTINGS["quick" if args.quick else "full"]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"--out {args.out}: a file is in the way of this directory; give "
                         "another directory for bench.json and bench.md") from None
    # machine compares against the step rates measured by bilstm and bert: run it last.
    order = sorted(chosen, key=COMPARISONS.index)
    found: dict[str, dict] = {}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for comparison in order:
            sides = specs(comparison, settings[comparison], args.seed, Path(tmp),
                          args.encoder)
            runs: dict[str, list[dict]] = {name: [] for name in sides}
            for repeat in range(args.repeats):
                # Alternate which side goes first, so a drifting machine favours neither.
                for name in (list(sides) if repeat % 2 == 0 else list(sides)[::-1]):
                    if repeat and "-train" in name:  # models are trained once, then tag N times
                        continue
                    print(f"[{comparison}] {name} ({repeat + 1}/{args.repeats}) ...",
                          flush=True)
                    runs[name].append(run_worker(name, sides[name], Path(tmp), out))
                    if "error" in runs[name][-1]:
                        print(f"  failed: {runs[name][-1]['error']}", flush=True)
            found.update({name: median_record(records) for name, records in runs.items()})
            rows += rows_for(comparison, {k: v for k, v in found.items()
                                          if "error" not in v})
    devices = {r.get("device") for r in found.values() if r.get("device")}
    report = {
        "command": "python experiments/bench.py " + shlex.join(argv if argv is not None
                                                                else sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "cpu": cpu_line(),  # model and instruction sets: a ratio on one CPU is not another's
        "device": ", ".join(sorted(devices)) or "CPU",
        "settings": {c: settings[c] for c in order}, "seed": args.seed,
        "repeats": args.repeats,
        "measurements": found, "rows": rows,
    }
    write_text(out / "bench.json", json.dumps(report, indent=2))
    write_text(out / "bench.md", markdown(report))
    print("\n" + markdown(report))
    print(f"written: {out / 'bench.json'}, {out / 'bench.md'}")


if __name__ == "__main__":
    sys.exit(run(main))
