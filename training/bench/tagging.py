"""bench.py --only tagging, our side: train a bundle (one process), then tag the same
sentences with it as predict.py does (another process, so its peak memory is tagging's own).

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
