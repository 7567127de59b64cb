"""bench.py --only tagging, our side: train a bundle (one process), then tag the same
sentences with it twice: in one process as predict.py's workers do (`tag_bundle`: its peak
memory is tagging's own, the clock started after a warm-up), and by predict.py itself, as a
user tags bulk text (`tag_with_predict`: a process tree of its own, timed from start to exit).

Both steps of every side (ours and the peers in training/bench/peers.py) read the same
sentences: the training slice `measure.slice_of` cuts, and the test split repeated until there
are `sentences` of them (its F1 is the split's F1: every side tags every copy alike).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioner_mtl.training.bench.measure import memory, slice_of, timed

WARM_UP = 64  # sentences tagged before the clock starts (compilation, allocation): every side
CHUNK = 1000  # sentences per call, as predict.py's default --chunk


def bulk_sentences(corpus: str, count: int):
    """The test split, repeated (whole copies, then part of one) to `count` sentences."""
    _, test = slice_of(corpus, 1.0, 1, 10**9)
    return [test[i % len(test)] for i in range(count)]


def train_bundle(spec: dict) -> dict:
    """Train `steps` steps of `model` on the slice (as bench's other sides) and save a
    bundle to spec["save_to"] (no temperature fitting: tags do not depend on it)."""
    from bioner_mtl.training.bench.ours import _trainer
    from bioner_mtl.training.fit.batches import BatchStream
    from bioner_mtl.training.product.bundle import save_bundle

    path = Path(spec["save_to"])
    if (path / "bundle.json").is_file():  # a repeat: trained already
        return {"bundle": str(path), "trained": False}
    trainer = _trainer(spec)
    task = trainer.tasks[spec["corpus"]]
    stream = BatchStream(task.train, spec["batch_size"], np.random.default_rng(spec["seed"]))
    with timed() as clock:
        for _ in range(spec["steps"]):
            loss = trainer.train_step(spec["corpus"], *next(stream))
        float(loss)
    save_bundle(trainer, path, calibrate=False)
    return {"bundle": str(path), "trained": True, "train_seconds": clock.seconds}


def tag_bundle(spec: dict) -> dict:
    """Tag the bulk sentences with a saved bundle, in chunks: sentences/s (featurising and
    decoding included, the warm-up excluded), peak memory, mention F1."""
    import json

    import keras  # noqa: F401  (the framework, imported before the baseline reading)

    from bioner_mtl.training.fit.evaluation import evaluate
    from bioner_mtl.training.product.bundle import load

    if json.loads((Path(spec["bundle"]) / "bundle.json").read_text())["model"] == "bert":
        import keras_hub  # noqa: F401  (as the peer imports transformers before reading)
    import_rss = memory()["rss_mb"]
    sentences = bulk_sentences(spec["corpus"], spec["sentences"])
    words = [list(s.tokens) for s in sentences]
    tagger = load(spec["bundle"])
    head = [spec["corpus"]]
    tagger.tag_sentences(words[:WARM_UP], head)
    predicted: list[list[str]] = []
    with timed() as clock:
        for start in range(0, len(words), CHUNK):
            predicted += tagger.tag_sentences(words[start:start + CHUNK], head)[head[0]][0]
    return {"inference_sentences_per_second": len(words) / clock.seconds,
            "tag_seconds": clock.seconds, "test_sentences": len(words),
            "mention_f1": evaluate([list(s.tags) for s in sentences], predicted).f1,
            "import_rss_mb": import_rss, **memory()}



# ----- the same sentences through predict.py, as a user tags bulk text ---------------------
STARTUP_PER_WORKER = 2  # sentences per worker in the start-up run (every worker gets some)


def write_conll(path: Path, sentences) -> Path:
    """The sentences as predict.py reads CoNLL: a token a line, a blank line after each."""
    with path.open("w", encoding="utf-8") as out:
        for sentence in sentences:
            out.write("".join(f"{token}\n" for token in sentence.tokens) + "\n")
    return path


def conll_tags(path: Path) -> list[list[str]]:
    """Per sentence, the second column of what predict.py --format conll wrote (a token and
    one tag column per head, in --heads order: with one head, its tags)."""
    sentences, current = [], []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if fields != [""]:
                current.append(fields[1])
            elif current:
                sentences.append(current)
                current = []
    return sentences + ([current] if current else [])


def tag_with_predict(spec: dict) -> dict:
    """The bulk sentences written once as a CoNLL file and tagged by `bioner-mtl predict`
    (experiments/predict.py) --format conll --heads CORPUS --workers N --chunk CHUNK, run as
    a process tree of its own (bulk.run_measured): seconds from start to exit, so Python and
    TensorFlow starting and the bundle loading in every worker are inside the time, and no
    warm-up is possible (the in-process side tags WARM_UP sentences before its clock); the
    peak of the tree's resident memory summed and of its largest process; mention F1 of the
    tags it wrote against the gold ones. The start-up is measured apart: the same command on
    STARTUP_PER_WORKER x N sentences (with --chunk 1 where the big input is handed to
    workers, so every worker starts and loads the bundle as there; else one chunk, which
    predict.py tags in its own process, as it does the big input then), and the rate with
    that time taken off is reported beside the whole one."""
    import shlex
    import shutil
    import sys

    from bioner_mtl.training.bench.bulk import cpu_line, run_measured
    from bioner_mtl.training.fit.evaluation import evaluate

    workdir, workers = Path(spec["workdir"]), spec["workers"]
    chunk = spec.get("chunk", CHUNK)
    sentences = bulk_sentences(spec["corpus"], spec["sentences"])
    pooled = workers > 1 and len(sentences) > chunk  # one chunk: tagged in predict's process

    def predict(part: list, name: str, chunk_size: int) -> tuple[dict, list[str], Path]:
        source = workdir / f"{name}-{spec['corpus']}-{len(part)}.conll"
        if not source.is_file():  # written once, read by every bundle's side
            write_conll(source, part)
        out = workdir / f"predict-{Path(spec['bundle']).name}-{name}"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-m", "bioner_mtl", "predict", "--model", spec["bundle"],
                   str(source), "--format", "conll", "--heads", spec["corpus"], "--out",
                   str(out), "--workers", str(workers), "--chunk", str(chunk_size)]
        return run_measured(command), command, out / source.name

    tiny = sentences[:STARTUP_PER_WORKER * workers]
    startup, _, _ = predict(tiny, "startup", 1 if pooled else chunk)
    record, command, written = predict(sentences, "bulk", chunk)
    predicted = conll_tags(written)
    if [len(p) for p in predicted] != [len(s) for s in sentences]:
        raise RuntimeError(f"{written}: {len(predicted)} sentences written for "
                           f"{len(sentences)} read, or their lengths differ")
    tagging = record["seconds"] - startup["seconds"]
    return {"inference_sentences_per_second": len(sentences) / record["seconds"],
            "after_startup_sentences_per_second": (len(sentences) / tagging if tagging > 0
                                                   else None),
            "seconds": record["seconds"], "startup_seconds": startup["seconds"],
            "startup_sentences": len(tiny),
            "peak_tree_mb": record["peak_tree_mb"], "peak_process_mb": record["peak_process_mb"],
            "processes": record["processes"], "workers": workers, "pooled": pooled,
            "chunk": chunk, "test_sentences": len(sentences),
            "mention_f1": evaluate([list(s.tags) for s in sentences], predicted).f1,
            "command": shlex.join(["bioner-mtl", *command[3:]]), "cpu": cpu_line()}

# ----- bench.py --only levers: one BERT inference lever against the current path ----------
LEVERS = ("xla-buckets", "bfloat16")
BUCKET = 32  # xla-buckets: sentence lengths padded up to a multiple of this many pieces


def _xla_buckets(tagger) -> None:
    """The tagger's passes compiled by XLA, each batch padded to a length bucket so XLA
    compiles a few shapes, not one per batch (padding is masked: the same tags)."""
    import tensorflow as tf

    from bioner_mtl.training.fit import inference

    build = inference.compile_pass

    def compile_pass(model, heads, decodings, signature):
        jit = tf.function(build(model, heads, decodings, signature).python_function,
                          jit_compile=True)

        def padded(inputs, temperatures):
            return jit({k: np.pad(v, [(0, 0), (0, -v.shape[1] % BUCKET)]
                                  + [(0, 0)] * (v.ndim - 2)) if v.ndim > 1 else v
                        for k, v in inputs.items()}, temperatures)
        return padded

    predictor = tagger.predictor
    original = predictor.predict

    def predict(*args, **kwargs):  # a pass is made on first use: make it through XLA
        saved, inference.compile_pass = inference.compile_pass, compile_pass
        try:
            return original(*args, **kwargs)
        finally:
            inference.compile_pass = saved
    predictor.predict = predict


def _bfloat16_copy(bundle: str, directory: Path) -> Path:
    """The bundle with its encoder computing in bfloat16 (weights kept float32)."""
    import json
    import shutil

    copy = directory / "bfloat16"
    shutil.copytree(bundle, copy)
    meta = json.loads((copy / "bundle.json").read_text())
    meta["model_config"]["precision"] = "bfloat16"
    (copy / "bundle.json").write_text(json.dumps(meta))
    return copy


def lever(spec: dict) -> dict:
    """One lever against the current path in one process: both load the same bundle and tag
    the same sentences, taking turns (`repeats` each, the fastest kept); the ratio of rates and
    the share of tokens whose tag the lever keeps."""
    import tempfile

    from bioner_mtl.training.bench.bulk import untrained_bundle
    from bioner_mtl.training.product.bundle import load

    sentences = bulk_sentences(spec["corpus"], spec["sentences"])
    words = [list(s.tokens) for s in sentences]
    trained = spec.get("bundle") is not None
    if not trained:
        spec = {**spec, "bundle": str(untrained_bundle(Path(spec["workdir"]), "bert"))}
    with tempfile.TemporaryDirectory() as tmp:
        current = load(spec["bundle"])
        if spec["lever"] == "bfloat16":
            changed = load(_bfloat16_copy(spec["bundle"], Path(tmp)))
        else:
            changed = load(spec["bundle"])
            _xla_buckets(changed)
        taggers = {"current": current, "lever": changed}
        head = [next(iter(current.heads_for(None)))]
        for tagger in taggers.values():
            tagger.tag_sentences(words, head)  # compile every shape: not timed
        best, tags = {}, {}
        for turn in range(spec.get("repeats", 3)):
            for name in (list(taggers) if turn % 2 == 0 else list(taggers)[::-1]):
                with timed() as clock:
                    tags[name] = taggers[name].tag_sentences(words, head)[head[0]][0]
                best[name] = min(best.get(name, float("inf")), clock.seconds)
    same = sum(a == b for x, y in zip(tags["current"], tags["lever"]) for a, b in zip(x, y))
    return {"lever": spec["lever"], "test_sentences": len(words), "trained": trained,
            "current_sentences_per_second": len(words) / best["current"],
            "lever_sentences_per_second": len(words) / best["lever"],
            "tags_kept": same / sum(len(x) for x in tags["current"])}
