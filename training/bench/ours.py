"""bioner-mtl's side of experiments/bench.py: each function runs in its own process (so
peak memory is its own) and returns one JSON-able record.

Both sides of a comparison read the same sentences: the trainer cuts the training split with
`data.ablation.subsample`, as `training.bench.measure.slice_of` does for the peers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bioner_mtl.training.bench.measure import in_fresh_process, memory, timed


def _trainer(spec: dict):
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.spec.presets import resolve

    run = resolve(spec["corpus"], spec["model"], "paper",
                  run={"seed": spec["seed"], "train_fraction": spec["fraction"],
                       "test_limit": spec["test_sentences"], "devel_limit": 1,
                       "vector_dim": spec.get("vector_dim", 100),
                       **({"tag_scheme": spec["tag_scheme"]} if "tag_scheme" in spec else {}),
                       **spec.get("run", {})},
                  train={"batch_size": spec["batch_size"], "learning_rate": spec["learning_rate"],
                         "steps": spec["steps"], "epochs": None, "eval_every": None},
                  model_options=spec.get("model_options", {}))
    return Trainer(run, progress=False)


def _step_flops(trainer, inputs: dict) -> int:
    from bioner_mtl.training.bench import flops

    config, model = trainer.model_config, trainer.run.model
    labels = max(len(t.tagset.labels) for t in trainer.tasks.values())
    batch, length = inputs["token_ids"].shape
    if model == "bert":
        backbone = trainer.model.backbone
        forward = flops.bert_forward(batch, length, int(inputs["tag_mask"].size),
                                     layers=backbone.num_layers, hidden=backbone.hidden_dim,
                                     intermediate=backbone.intermediate_dim, labels=labels)
    else:
        forward = flops.bilstm_crf_forward(
            batch, length, inputs["char_ids"].shape[2],
            word_dim=trainer.featurizer.features.word_vectors.shape[1],
            char_dim=config.char_dim, char_filters=config.char_filters,
            char_width=config.char_width, lstm=config.lstm, projection=config.projection,
            labels=labels)
    return flops.train_step(forward)


def train_and_tag(spec: dict) -> dict:
    """Train `steps` steps on the slice, then tag the test slice; throughput and F1."""
    import tensorflow as tf

    from bioner_mtl.training.fit.batches import BatchStream
    from bioner_mtl.training.fit.evaluation import evaluate
    from bioner_mtl.training.fit.trainer import Trainer  # noqa: F401  (the framework, imported before reading)

    if spec["model"] == "bert":
        import keras_hub  # noqa: F401  (as the peer imports transformers before reading)
    import_rss = memory()["rss_mb"]
    trainer = _trainer(spec)
    corpus = spec["corpus"]
    task = trainer.tasks[corpus]
    stream = BatchStream(task.train, spec["batch_size"], np.random.default_rng(spec["seed"]))
    batches = [next(stream) for _ in range(spec["steps"])]
    loss = trainer.train_step(corpus, *batches[0])  # the first step compiles: not timed
    float(loss)
    with timed() as clock:
        for inputs, tags in batches[1:]:
            loss = trainer.train_step(corpus, inputs, tags)
        float(loss)  # wait for the last step
    train_seconds = clock.seconds
    timed_inputs = [inputs for inputs, _ in batches[1:]]  # counted after the clock stops
    words = sum(int(inputs["tag_mask"].sum()) for inputs in timed_inputs)
    real = sum(int(inputs["padding_mask"].sum()) for inputs in timed_inputs)
    padded = sum(int(inputs["padding_mask"].size) for inputs in timed_inputs)
    work = sum(_step_flops(trainer, inputs) for inputs in timed_inputs)
    test = task.test.sentences  # tagged from tokens: featurising is part of the timed work
    trainer.predict(corpus, trainer.featurizer.encode(test[:8], None), viterbi=True)  # compile
    with timed() as clock:
        predicted = trainer.predict(corpus, trainer.featurizer.encode(test, None), viterbi=True)
    evaluation = evaluate([list(s.tags) for s in test], predicted)
    sentences = len(test)
    return {
        "train_words_per_second": words / train_seconds,
        "train_steps": len(batches) - 1, "train_seconds": train_seconds,
        "padding_share": 1 - real / padded,
        "flops_per_second": work / train_seconds,
        "inference_sentences_per_second": sentences / clock.seconds,
        "test_sentences": sentences, "mention_f1": evaluation.f1,
        "import_rss_mb": import_rss, **memory(),
        **_device(tf), "precision": _precision(trainer),
        "parameters": int(sum(np.prod(v.shape) for v in trainer.model.trainable_variables)),
    }


def _precision(trainer) -> str:
    if trainer.run.model != "bert":
        return "float32"
    from bioner_mtl.training.fit.subword_features import backbone_dtype

    return backbone_dtype(trainer.model_config.precision)  # mixed bfloat16 on a GPU


def _device(tf) -> dict:
    if not tf.config.list_physical_devices("GPU"):
        return {"device": "CPU"}
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return {"device": "GPU", "gpu_peak_mb": peak / 2**20}


def matmul_rate(spec: dict) -> dict:
    """The machine's own dense float32 matmul rate in TensorFlow, the ceiling of a step."""
    import tensorflow as tf

    n, repeats = spec["size"], spec["repeats"]
    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))

    @tf.function
    def chain(a, b):
        c = a
        for _ in range(repeats):
            c = tf.matmul(c, b) * 1e-3
        return c

    chain(a, b).numpy()  # compile
    best = float("inf")
    for _ in range(3):
        with timed() as clock:
            chain(a, b).numpy()
        best = min(best, clock.seconds)
    return {"flops_per_second": 2 * n ** 3 * repeats / best, "size": n, "repeats": repeats}


def multihead(spec: dict) -> dict:
    """One N-head bundle against N single-task bundles tagging the same text: seconds and
    bytes on disk. Speed does not depend on the weights, so the bundles are untrained."""
    from bioner_mtl.data.corpora import load_corpus
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import load, save_bundle
    from bioner_mtl.training.spec.presets import resolve

    sentences = [list(s.tokens) for s in load_corpus("BC5CDR").test[: spec["sentences"]]]

    def bundle(tasks: list[str], directory: Path) -> Path:
        run = resolve(tasks[0], spec["model"], "paper", run={
            "aux": tuple(tasks[1:]), "test_limit": 1, "devel_limit": 1, **spec.get("run", {})},
            model_options=spec.get("model_options", {}))
        path = directory / "+".join(tasks)
        save_bundle(Trainer(run, progress=False), path)
        return path

    def seconds(path: Path) -> float:
        tagger = load(path)
        tagger.tag_sentences(sentences)  # compile, and build kernels for every batch shape
        best = float("inf")
        for _ in range(2):  # the faster of two passes: a background hiccup is not the model
            with timed() as clock:
                tagger.tag_sentences(sentences)
            best = min(best, clock.seconds)
        return best

    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    rows, singles = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in spec["heads"]:
            tasks = spec["corpora"][:n]
            multi = bundle(tasks, Path(tmp))
            for name in tasks:
                if name not in singles:
                    path = bundle([name], Path(tmp))
                    singles[name] = (seconds(path), size(path))
            rows.append({"heads": n, "corpora": tasks,
                         "multi_head_seconds": seconds(multi), "multi_head_bytes": size(multi),
                         "single_models_seconds": sum(singles[t][0] for t in tasks),
                         "single_models_bytes": sum(singles[t][1] for t in tasks)})
    return {"sentences": len(sentences), "rows": rows}


def train_heads(spec: dict) -> dict:
    """Train one model with a head per corpus of spec["corpora"] on spec["batches"] batches
    of each corpus, in KHAN's mixed order (every corpus's batches shuffled together, seeded):
    seconds from building the model to the last step, model building, featurising and
    compilation included (a user waits for them too), and this process's peak memory. Meant
    to run in a process of its own (`in_fresh_process`)."""
    import tensorflow as tf

    from bioner_mtl.training.fit.batches import BatchStream
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.spec.presets import resolve

    if spec["model"].startswith("bert"):
        import keras_hub  # noqa: F401  (the framework, imported before the baseline reading)
    import_rss = memory()["rss_mb"]
    corpora, seed = spec["corpora"], spec.get("seed", 1)
    with timed() as clock:
        run = resolve(corpora[0], spec["model"], "paper", run={
            "aux": tuple(corpora[1:]), "seed": seed, "test_limit": 1, "devel_limit": 1,
            **spec.get("run", {})}, model_options=spec.get("model_options", {}))
        trainer = Trainer(run, progress=False)
        rng = np.random.default_rng(seed)
        streams = {name: BatchStream(trainer.tasks[name].train, run.train.batch_size, rng)
                   for name in corpora}
        order = [name for name in corpora for _ in range(spec["batches"])]
        rng.shuffle(order)
        for name in order:
            loss = trainer.train_step(name, *next(streams[name]))
        float(loss)  # wait for the last step
    return {"corpora": list(corpora), "seconds": clock.seconds, "steps": len(order),
            "import_rss_mb": import_rss, **memory(), **_device(tf)}


def multihead_training(spec: dict, measure=in_fresh_process) -> dict:
    """KHAN section 5.2: training one N-head model against N single-task models on the same
    batches (N = each of spec["heads"]): seconds and peak memory of each, every model in a
    process of its own. The N single-task models are summed as trained side by side (their
    seconds and their peaks add up; one after another takes the same time and the largest
    peak, also given)."""
    singles: dict[str, dict] = {}
    rows = []
    for n in spec["heads"]:
        tasks = spec["corpora"][:n]
        shared = {k: spec[k] for k in ("model", "batches", "run", "model_options", "seed")
                  if k in spec}
        multi = measure(train_heads, {**shared, "corpora": tasks})
        for name in tasks:
            if name not in singles:
                singles[name] = multi if n == 1 else measure(train_heads,
                                                            {**shared, "corpora": [name]})
        alone = [singles[name] for name in tasks]
        rows.append({
            "heads": n, "corpora": tasks, "batches_per_corpus": spec["batches"],
            "multi_head_seconds": multi["seconds"],
            "single_models_seconds": sum(s["seconds"] for s in alone),
            "multi_head_peak_mb": multi["peak_rss_mb"],
            "single_models_peak_mb": sum(s["peak_rss_mb"] for s in alone),
            "largest_single_peak_mb": max(s["peak_rss_mb"] for s in alone),
            "multi_head_added_mb": multi["peak_rss_mb"] - multi["import_rss_mb"],
            "single_models_added_mb": sum(s["peak_rss_mb"] - s["import_rss_mb"]
                                          for s in alone),
            "device": multi["device"]})
    return {"rows": rows}
