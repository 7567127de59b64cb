"""bench.py --only profile (issue 28): where one BERT tagging pass spends its time, on our side
and on transformers', in the same categories, so the two can be set side by side.

Each side runs in its own process and tags the same sentences (the test split, repeated to
`sentences`) in batches of 64 sorted by length: ours through a bundle as predict.py does
(`Tagger.tag_sentences`), transformers' `BertForTokenClassification` on the same MiniLM
weights the way bench.py's `bert` comparison tags (one tokenizer call per sentence, padded
batches, argmax). One untimed pass first (every shape seen, every kernel picked), then the
fastest of `repeats` passes without a profiler, then one pass under the framework's profiler.

How a profiled pass is divided, on both sides, so that the categories sum to the pass:
- the pass, featurising (word pieces, ids, padded batches), the model call and decoding are
  marked spans (TensorFlow: `tf.profiler.experimental.Trace`; PyTorch: `record_function`);
- inside the model calls, every op event is classified by its op and its scope (`CATEGORIES`),
  and the model call's wall time is shared out among the ops running at each instant (two ops
  running at once on TensorFlow's inter-op threads take half of that instant each); time with
  no op running is the framework's own (dispatch, executor, the Python of a module's forward);
- the pass less its marked stages is the rest: Python around them (the batching loop, putting
  tags back into sentences).
TensorFlow's trace is the XSpace protocol buffer that `tf.profiler.experimental.start` writes
offline, parsed with the proto module TensorFlow ships (no TensorBoard plugin needed); PyTorch's
is `torch.profiler`'s op events (what `key_averages` sums), each op directly inside the model
call (or inside a self-attention module, marked by a hook) counted whole by its name.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from bioner_mtl.training.bench.bulk import cpu_line
from bioner_mtl.training.bench.measure import timed
from bioner_mtl.training.bench.tagging import bulk_sentences

CATEGORIES = (  # key -> label, in table order
    ("featurise", "tokenise and featurise (word pieces, ids, padded batches)"),
    ("gather", "embedding and word-position gathers"),
    ("dense", "dense matmuls and their bias (Q/K/V/output, feed-forward, head)"),
    ("attention", "attention scores and context (batched matmuls, head transposes)"),
    ("softmax", "attention softmax and its mask (transformers: fused into attention)"),
    ("layer_norm", "layer norm"),
    ("activation", "GELU"),
    ("other_ops", "other ops (residual adds, reshapes, casts, the head's softmax)"),
    ("overhead", "framework time in the model call with no op running"),
    ("decoding", "decoding (Viterbi or argmax)"),
    ("python", "the rest: Python around the stages"),
)
BATCH = 64  # sentences per batch on both sides (our eval_batches; bench's transformers side)
ENV = ("TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
       "OMP_NUM_THREADS")  # settings a reader of the table needs to know


def share_out(windows, ops) -> tuple[list[float], float]:
    """Seconds of each of `ops` [(start, end, ...)] inside the `windows` [(start, end)]: each
    instant is shared equally among the ops running then (clipped to the window), and the
    seconds with none running ("overhead"). Together they sum to the windows' length."""
    own, idle = [0.0] * len(ops), 0.0
    for low, high in windows:
        edges = sorted([(max(op[0], low), 1, i) for i, op in enumerate(ops)
                        if op[0] < high and op[1] > low]
                       + [(min(op[1], high), -1, i) for i, op in enumerate(ops)
                          if op[0] < high and op[1] > low])
        running: set[int] = set()
        last = low
        for time, change, i in edges + [(high, 0, -1)]:
            if running:
                for j in running:
                    own[j] += (time - last) / len(running)
            else:
                idle += time - last
            last = time
            if change > 0:
                running.add(i)
            elif change < 0:
                running.discard(i)
    return own, idle


def breakdown(total: tuple[float, float], spans: dict[str, list[tuple[float, float]]],
              ops: list[tuple[float, float, str, str]]) -> tuple[dict[str, float], list]:
    """Seconds of every category of one pass from its marked spans (times in seconds): the
    featurise and decoding spans, the model spans shared out among the ops [(start, end,
    category, op name)], the rest Python; and the 12 op names that took longest (layer
    numbers dropped, so the same op of every layer counts as one), with their seconds."""
    seconds = {key: 0.0 for key, _ in CATEGORIES}
    for stage in ("featurise", "decoding"):
        seconds[stage] = sum(e - s for s, e in spans.get(stage, []))
    own, seconds["overhead"] = share_out(spans.get("model", []), ops)
    by_name: dict[tuple[str, str], float] = {}
    for (_, _, category, name), value in zip(ops, own):
        seconds[category] += value
        key = (re.sub(r"_\d+", "", name), category)
        by_name[key] = by_name.get(key, 0.0) + value
    seconds["python"] = (total[1] - total[0]) - sum(seconds.values())
    top = sorted(by_name.items(), key=lambda item: -item[1])[:12]
    return seconds, [[name, category, value] for (name, category), value in top]


def tags_digest(tags: list[list[str]]) -> str:
    """A short fingerprint of a pass's tags: two settings that agree on it tagged alike."""
    import hashlib

    return hashlib.sha256("\n".join(" ".join(t) for t in tags).encode()).hexdigest()[:16]


def record(sentences: int, divided: tuple[dict[str, float], list], plain: float, method: str,
           tags: list[list[str]], **extra) -> dict:
    seconds, top = divided
    total = sum(seconds.values())
    return {"test_sentences": sentences, "batch_size": BATCH, "pass_seconds": total,
            "unprofiled_seconds": plain, "seconds": seconds,
            "shares": {k: v / total for k, v in seconds.items()}, "top_ops": top,
            "tags_digest": tags_digest(tags), "method": method, "cpu": cpu_line(),
            "environment": {k: os.environ[k] for k in ENV if k in os.environ}, **extra}


# ----- our side: TensorFlow -----------------------------------------------------------------
_OP = re.compile(r"^([^:\s]+):([A-Za-z_]\w*)$")  # "scope/.../name:OpType", TF's op events
_CALLS = {"PartitionedCall", "StatefulPartitionedCall"}  # would hold the ops they run


def tf_category(name: str) -> str | None:
    """The category of a TensorFlow op event ("bert_backbone/transformer_layer_0/
    self_attention_layer/query/einsum/Einsum:_MklEinsum"); None for what is not an op."""
    match = _OP.match(name)
    if not match or match[2] in _CALLS or name.startswith("bench:"):
        return None
    path, kind = match[1].lower() + "/", match[2]
    if "layer_norm" in path:
        return "layer_norm"
    if "gather" in kind.lower():
        return "gather"
    if "fusedmatmul" in kind.lower():  # oneDNN's matmul with its bias and activation fused in
        return "dense"
    if "/gelu" in path or kind in ("Gelu", "Erf", "Erfc"):
        return "activation"
    if "self_attention" in path:
        if re.search(r"/(query|key|value|attention_output)(_\d+)?/", path):
            return "dense"
        return "softmax" if "softmax" in path else "attention"
    if "matmul" in kind.lower() or "einsum" in kind.lower() or kind == "BiasAdd":
        return "dense"
    return "other_ops"


def _tf_events(directory: str) -> tuple[dict[str, list], list[tuple[float, float, str, str]]]:
    """Marked spans ({"pass": [...], "model": [...], ...}, seconds) and classified op events
    from the XSpace file the TensorFlow profiler wrote under `directory`."""
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # where TensorFlow moved its profiler protos
        try:
            from tsl.profiler.protobuf import xplane_pb2
        except ImportError:
            raise RuntimeError("this TensorFlow ships no XSpace proto module "
                               "(tensorflow.tsl.profiler.protobuf.xplane_pb2): the profile "
                               "cannot read its trace") from None
    files = sorted(Path(directory).rglob("*.xplane.pb"))
    if not files:
        raise RuntimeError(f"the TensorFlow profiler wrote no trace under {directory}")
    space = xplane_pb2.XSpace()
    space.ParseFromString(files[-1].read_bytes())
    spans: dict[str, list] = {}
    ops = []
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                start = line.timestamp_ns * 1e-9 + event.offset_ps * 1e-12
                end = start + event.duration_ps * 1e-12
                if name.startswith("bench:"):
                    spans.setdefault(name[len("bench:"):], []).append((start, end))
                elif (category := tf_category(name)) is not None:
                    ops.append((start, end, category, name))
    return spans, ops


@contextlib.contextmanager
def _stages_marked(tagger, mark):
    """Mark the featurising, model-call and decoding spans of `tagger.tag_sentences` with
    `mark(stage)` (the bundle's own code unchanged: its functions are wrapped, then restored)."""
    from bioner_mtl.training.fit import inference

    featurizer, encode = tagger.featurizer, tagger.featurizer.encode
    predict, decode = inference.predict, inference.decode_sentences

    def marked_encode(*args, **kwargs):
        with mark("featurise"):
            split = encode(*args, **kwargs)
        batch = split.batch

        def marked_batch(*args, **kwargs):  # padding a batch's rows is featurising too
            with mark("featurise"):
                return batch(*args, **kwargs)
        split.batch = marked_batch
        return split

    def marked_predict(fn, *args, **kwargs):
        def marked_fn(*inputs):
            with mark("model"):
                return fn(*inputs)  # eager call of a tf.function: returns when computed
        return predict(marked_fn, *args, **kwargs)

    def marked_decode(*args, **kwargs):
        with mark("decoding"):
            return decode(*args, **kwargs)

    featurizer.encode, inference.predict, inference.decode_sentences = (
        marked_encode, marked_predict, marked_decode)
    try:
        yield
    finally:
        del featurizer.encode
        inference.predict, inference.decode_sentences = predict, decode


def untrained_bert(directory: Path, max_length: int, encoder: str | None = None) -> Path:
    """An untrained BERT bundle of the quick preset on `encoder` (None: MiniLM), rows of up to
    `max_length` pieces as the peer's: time does not depend on the weights."""
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import save_bundle
    from bioner_mtl.training.spec.presets import resolve

    path = directory / f"untrained-bert-{max_length}"
    if not (path / "bundle.json").is_file():
        run = resolve("NCBI-disease", "bert", "quick", run={"test_limit": 1, "devel_limit": 1},
                      model_options={"max_length": max_length,
                                     **({"encoder": encoder} if encoder else {})})
        save_bundle(Trainer(run, progress=False), path, calibrate=False)
    return path


def profile_ours(spec: dict) -> dict:
    """One tagging pass of a BERT bundle (spec["bundle"], else an untrained one in
    spec["workdir"]) over the bulk sentences, profiled by TensorFlow's profiler."""
    import tensorflow as tf

    from bioner_mtl.training.product.bundle import load

    words = [list(s.tokens) for s in bulk_sentences(spec["corpus"], spec["sentences"])]
    tagger = load(spec.get("bundle") or untrained_bert(Path(spec["workdir"]),
                                                       spec["max_length"], spec.get("encoder")))
    head = [next(iter(tagger.heads_for(None)))]

    def one_pass():
        # A pass of new text tokenises its words: empty the bundle's word-piece cache (the
        # warm-up filled it; transformers' tokenizer keeps none).
        getattr(tagger.featurizer, "_pieces", {}).clear()
        return tagger.tag_sentences(words, head)[head[0]][0]

    one_pass()  # compiles the pass, meets every batch shape: not measured
    plain = float("inf")
    for _ in range(spec.get("repeats", 2)):
        with timed() as clock:
            one_pass()
        plain = min(plain, clock.seconds)
    with tempfile.TemporaryDirectory() as trace:
        tf.profiler.experimental.start(trace)
        try:
            with _stages_marked(tagger, lambda stage: tf.profiler.experimental.Trace(
                    f"bench:{stage}")):
                with tf.profiler.experimental.Trace("bench:pass"):
                    tags = one_pass()
        finally:
            tf.profiler.experimental.stop()
        spans, ops = _tf_events(trace)
    if len(spans.get("pass", [])) != 1:
        raise RuntimeError("the TensorFlow trace lacks the marked pass: cannot divide it")
    return record(len(words), breakdown(spans["pass"][0], spans, ops), plain,
                  "TensorFlow profiler trace (XSpace), op events shared out by instant", tags,
                  ops=len(ops), intra_op_threads=_tf_threads(
                      tf.config.threading.get_intra_op_parallelism_threads(),
                      "TF_NUM_INTRAOP_THREADS"),
                  inter_op_threads=_tf_threads(
                      tf.config.threading.get_inter_op_parallelism_threads(),
                      "TF_NUM_INTEROP_THREADS"))


def _tf_threads(configured: int, variable: str) -> int:
    """TensorFlow's thread count: as configured, else as its variable asks, else 0 (its
    default: the cores)."""
    asked = os.environ.get(variable, "")
    return configured or (int(asked) if asked.isdigit() else 0)


# ----- the peer: transformers on PyTorch ----------------------------------------------------
def torch_category(name: str, in_attention: bool) -> str:
    """The category of an op directly inside the model call or a self-attention module."""
    if name in ("aten::linear", "aten::addmm", "aten::mm") or (
            name == "aten::matmul" and not in_attention):
        return "dense"
    if in_attention:  # scaled_dot_product_attention fuses scores, softmax and context
        return "softmax" if "softmax" in name else "attention"
    if name in ("aten::layer_norm", "aten::native_layer_norm"):
        return "layer_norm"
    if name in ("aten::gelu", "aten::gelu_"):
        return "activation"
    if name in ("aten::embedding", "aten::index_select", "aten::gather"):
        return "gather"
    return "other_ops"


def _torch_ops(events) -> tuple[dict[str, list], list[tuple[float, float, str, str]]]:
    """Marked spans and classified ops (seconds) from torch.profiler's events."""
    spans: dict[str, list] = {}
    ops = []
    for event in events:
        start, end = event.time_range.start * 1e-6, event.time_range.end * 1e-6
        if event.name.startswith("bench:"):
            if event.name != "bench:attention":
                spans.setdefault(event.name[len("bench:"):], []).append((start, end))
            continue
        parent = event.cpu_parent
        if parent is not None and parent.name in ("bench:model", "bench:attention"):
            inside = parent.name == "bench:attention"
            ops.append((start, end, torch_category(event.name, inside),
                        event.name + (" (in self-attention)" if inside else "")))
    return spans, ops


@contextlib.contextmanager
def _attention_marked(model, record_function):
    """Each self-attention module's forward inside a `bench:attention` span (hooks)."""
    open_spans, handles = [], []

    def enter(module, args):
        open_spans.append(record_function("bench:attention").__enter__())

    def leave(module, args, output):
        open_spans.pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        if name.endswith("attention.self"):
            handles += [module.register_forward_pre_hook(enter),
                        module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def profile_transformers(spec: dict) -> dict:
    """The same pass by transformers' BertForTokenClassification (untrained classifier on the
    encoder in spec["encoder_dir"]), profiled by torch.profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function
    from transformers import BertForTokenClassification, BertTokenizerFast

    from bioner_mtl.training.bench.peers import _torch_setup

    device = _torch_setup(spec.get("seed", 1))  # every core, as bench.py's peers
    asked = os.environ.get("OMP_NUM_THREADS", "")
    if asked.isdigit() and int(asked) > 0:  # unless a thread count is asked for
        torch.set_num_threads(int(asked))
    sentences = bulk_sentences(spec["corpus"], spec["sentences"])
    labels = sorted({t for s in sentences for t in s.tags})
    tokenizer = BertTokenizerFast.from_pretrained(spec["encoder_dir"])
    model = BertForTokenClassification.from_pretrained(
        spec["encoder_dir"], num_labels=len(labels)).to(device).eval()
    no_mark = contextlib.nullcontext

    def one_pass(mark=lambda stage: no_mark()):
        """bench.py's transformers tagging (peers.hf_bert), its stages marked."""
        encoded = []
        with mark("featurise"):
            for sentence in sentences:
                row = tokenizer(list(sentence.tokens), is_split_into_words=True,
                                truncation=True, max_length=spec["max_length"])
                first, previous = [], None
                for position, word in enumerate(row.word_ids()):
                    if word is not None and word != previous:
                        first.append(position)
                    previous = word
                encoded.append((row["input_ids"], first))
        order = np.argsort([len(ids) for ids, _ in encoded], kind="stable")
        predicted: list[list[str]] = [[] for _ in sentences]
        with torch.inference_mode():
            for start in range(0, len(order), BATCH):
                index = order[start:start + BATCH]
                with mark("featurise"):
                    width = max(len(encoded[i][0]) for i in index)
                    ids = torch.tensor([encoded[i][0] + [tokenizer.pad_token_id]
                                        * (width - len(encoded[i][0])) for i in index],
                                       device=device)
                    attention = torch.tensor([[1] * len(encoded[i][0]) + [0]
                                              * (width - len(encoded[i][0])) for i in index],
                                             device=device)
                with mark("model"):
                    logits = model(input_ids=ids, attention_mask=attention).logits
                with mark("decoding"):
                    best = logits.argmax(-1).cpu().numpy()
                    for row, i in enumerate(index):
                        tags = [labels[best[row, p]] for p in encoded[i][1]]
                        predicted[i] = tags + ["O"] * (len(sentences[i]) - len(tags))
        return predicted

    one_pass()
    plain = float("inf")
    for _ in range(spec.get("repeats", 2)):
        with timed() as clock:
            one_pass()
        plain = min(plain, clock.seconds)
    with _attention_marked(model, record_function), profile(
            activities=[ProfilerActivity.CPU]) as profiler:
        with record_function("bench:pass"):
            tags = one_pass(lambda stage: record_function(f"bench:{stage}"))
    spans, ops = _torch_ops(profiler.events())
    if len(spans.get("pass", [])) != 1:
        raise RuntimeError("the PyTorch profile lacks the marked pass: cannot divide it")
    return record(len(sentences), breakdown(spans["pass"][0], spans, ops), plain,
                  "torch.profiler op events directly inside the model call, shared out by "
                  "instant", tags, ops=len(ops), intra_op_threads=torch.get_num_threads(),
                  attention=getattr(model.config, "_attn_implementation", "unknown"))
