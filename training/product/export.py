"""A bundle as a TensorFlow SavedModel: tokens in, every head's IOB2 tags out, all in the graph.

`export_bundle(bundle, out)` wraps the bundle's own model (its `scores_many` and heads: no
model is re-implemented here) in a `tf.Module` whose `serving_default` signature does what
`Tagger.tag_sentences` does, so a server needs TensorFlow only:

- word models (window CNN, MLP, dependent CNN, the BiLSTM family) take `tokens` (string
  [B, N], padded with anything past each sentence's length) and `lengths` (int32 [B]); the
  word (and character) vocabulary lookups are `tf.lookup` tables built from the bundle's
  featurizer state, as `training.batches` encodes: exact strings, 0 padding, 1 unknown, the
  first 20 characters of a token (Unicode code points);
- BERT models take `token_ids` (int32 [B, S]: [CLS] pieces [SEP], any padding), `lengths`
  (int32 [B], subwords per row), `word_positions` (int32 [B, W]: the subword that predicts
  each word, its first or last piece as the description's `label_on` says) and
  `word_counts` (int32 [B]), the arrays `training.subword_features` builds.

Outputs, per head: `<head>/tags` (string [B, N], IOB2 as `TagSet.decode` gives it, or plain
labels for a POS head; "" past each length) and `<head>/confidences` (float32 [B, N], 0 past
each length: the chosen tag's probability, as `Tagger.tag_sentences` returns it: softmax or
CRF marginal at the head's temperature). Decoding is the bundle's: softmax heads with the
max-product Viterbi over the transitions seen in training (`constrained_viterbi`, the graph
twin of `training.decoding.viterbi_decode`) or argmax, CRF heads with their own in-graph
Viterbi, constrained or free.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from bioner_mtl.data.atomic import check_new_directory, write_directory
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.tags import OUTSIDE, split_tag
from bioner_mtl.training.fit.batches import TagSet
from bioner_mtl.training.fit.decoding import Transitions
from bioner_mtl.training.fit.inference import token_probabilities
from bioner_mtl.training.fit.subword_alignment import predicts_from_last
from bioner_mtl.training.product.bundle import Tagger

CHAR_WIDTH = 20  # characters per token, as training.batches.encode pads and truncates them
LOG_PROB_FLOOR = -1e30  # training.decoding's floor: probability-0 tokens stay feasible
DESCRIPTION = "bioner_export.json"  # in the SavedModel's assets.extra: what the inputs are


def first_argmax(x: tf.Tensor) -> tf.Tensor:
    """int32 index of the maximum over the last axis, ties to the lowest index as numpy's
    argmax (tf.argmax leaves ties unspecified); all -inf gives 0."""
    size = tf.shape(x)[-1]
    top = tf.reduce_max(x, axis=-1, keepdims=True)
    return tf.reduce_min(tf.where(tf.equal(x, top), tf.range(size), size), axis=-1)


def constrained_viterbi(log_probs: tf.Tensor, lengths: tf.Tensor,
                        transitions: Transitions) -> tf.Tensor:
    """`training.decoding.viterbi_decode` in TensorFlow ops: the best path [B, N] (int32, 0
    past each length) whose start, pairs and end were all seen in training, scoring the sum of
    the tokens' log-probabilities in float64 (floored at -1e30); a sentence with no allowed
    path, or of length 0, gets its per-token argmax. `N` must be at least 1."""
    log_probs = tf.convert_to_tensor(log_probs)
    lengths = tf.cast(lengths, tf.int32)
    width = tf.shape(log_probs)[1]
    valid = tf.sequence_mask(lengths, width)
    argmax_path = tf.where(valid, first_argmax(log_probs), 0)

    def additive(allowed: np.ndarray) -> tf.Tensor:
        return tf.constant(np.where(allowed, 0.0, -np.inf), tf.float64)

    start, pairs, end = (additive(transitions.start), additive(transitions.pairs),
                         additive(transitions.end))
    steps = tf.transpose(tf.maximum(tf.cast(log_probs, tf.float64), LOG_PROB_FLOOR), [1, 0, 2])
    first = steps[0] + start[None]
    # row t: per tag at t, the best tag at t - 1 (row 0 unused)
    pointers = tf.TensorArray(tf.int32, size=width).write(0, tf.zeros_like(first, tf.int32))

    def forward(t, score, pointers):
        candidates = score[:, :, None] + pairs[None]  # [B, previous, next]
        stepped = tf.reduce_max(candidates, axis=1) + steps[t]
        pointers = pointers.write(t, first_argmax(tf.transpose(candidates, [0, 2, 1])))
        # finished sentences keep their score: the end constraint meets their own last tag
        return t + 1, tf.where((t < lengths)[:, None], stepped, score), pointers

    _, score, pointers = tf.while_loop(lambda t, *_: t < width, forward,
                                       (tf.constant(1), first, pointers))
    final = score + end[None]
    last = first_argmax(final)
    feasible = tf.math.is_finite(tf.reduce_max(final, axis=-1))

    def backward(t, current, path):
        active = t < lengths
        path = path.write(t, tf.where(active, current, 0))
        previous = tf.gather(pointers.read(t), current, batch_dims=1)
        return t - 1, tf.where(active & (t > 0), previous, current), path

    _, _, path = tf.while_loop(lambda t, *_: t >= 0, backward,
                               (width - 1, last, tf.TensorArray(tf.int32, size=width)))
    path = tf.transpose(path.stack())
    return tf.where((feasible & (lengths > 0))[:, None], path, argmax_path)


def iob2_tags(tagset: TagSet, path: tf.Tensor) -> tf.Tensor:
    """Tag strings of id paths [B, N], as `TagSet.decode` gives them: labels as they are, or
    an IOBES path as IOB2 with the lenient reader's mentions (`data.tags.
    iobes_to_iob2_repaired`: an I-X or E-X continues a mention only after B-X or I-X)."""
    labels = list(tagset.labels)
    if tagset.scheme in ("plain", "IOB2"):
        return tf.gather(tf.constant(labels), path)
    parts = [split_tag(label) for label in labels]
    begin = [label if prefix == OUTSIDE else f"B-{kind}" for label, (prefix, kind)
             in zip(labels, parts)]
    inside = [label if prefix == OUTSIDE else f"I-{kind}" for label, (prefix, kind)
              in zip(labels, parts)]
    # continues[i, j]: tag j after tag i goes on with i's mention; row len(labels): the start
    continues = np.zeros((len(labels) + 1, len(labels)), bool)
    for j, (prefix, kind) in enumerate(parts):
        if prefix in ("I", "E"):
            continues[:-1, j] = [p in ("B", "I") and k == kind for p, k in parts]
    previous = tf.concat([tf.fill([tf.shape(path)[0], 1], len(labels)), path[:, :-1]], axis=1)
    goes_on = tf.gather_nd(tf.constant(continues), tf.stack([previous, path], axis=-1))
    return tf.where(goes_on, tf.gather(tf.constant(inside), path),
                    tf.gather(tf.constant(begin), path))


def checked(values: tf.Tensor, lengths: tf.Tensor, name: str) -> tf.Tensor:
    """`values` [B, N] after checking that `lengths` [B] match its rows and none exceeds N."""
    longest = tf.reduce_max(tf.concat([lengths, [0]], 0))
    with tf.control_dependencies([
            tf.debugging.assert_equal(tf.shape(lengths)[0], tf.shape(values)[0], message=(
                f"`{name}` and its lengths give different batch sizes")),
            tf.debugging.assert_less_equal(longest, tf.shape(values)[1], message=(
                f"a length exceeds the width of `{name}`")),
            tf.debugging.assert_non_negative(lengths, message="a length is negative")]):
        return tf.identity(values)


def lookup_table(items) -> tf.lookup.StaticHashTable:
    """Exact string -> id, unknown 1 (`training.batches.Vocabulary.ids`)."""
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(list(items), tf.string), tf.range(len(items), dtype=tf.int64)),
        default_value=1)


class TaggerModule(tf.Module):
    """The bundle's model, its vocabularies and its decoding as one saveable module;
    `tag(...)` is the serving signature."""

    def __init__(self, tagger: Tagger):
        super().__init__(name="bioner_tagger")
        self.model = tagger.model
        # Keras variables are saved through a plain list on the module (as keras.export does)
        self.model_variables = list(tagger.model.variables)
        self.names = tuple(tagger.heads)
        self.viterbi = bool(tagger.viterbi)
        self.transitions = {n: h.transitions for n, h in tagger.heads.items()}
        self.tagsets = {n: h.tagset for n, h in tagger.heads.items()}
        self.temperatures = {n: float(tagger.predictor.temperatures.get(n, 1.0))
                             for n in self.names}
        self.subwords = tagger.meta["featurizer"] == "subwords"
        if self.subwords:
            self.tag = tf.function(self._tag_subwords, input_signature=[
                tf.TensorSpec([None, None], tf.int32, "token_ids"),
                tf.TensorSpec([None], tf.int32, "lengths"),
                tf.TensorSpec([None, None], tf.int32, "word_positions"),
                tf.TensorSpec([None], tf.int32, "word_counts")])
            return
        featurizer = tagger.featurizer
        self.words = lookup_table(featurizer.words.items)
        self.chars = lookup_table(featurizer.chars.items) if featurizer.chars else None
        self.tag = tf.function(self._tag_words, input_signature=[
            tf.TensorSpec([None, None], tf.string, "tokens"),
            tf.TensorSpec([None], tf.int32, "lengths")])

    def _tag_words(self, tokens, lengths):
        tokens = checked(tokens, lengths, "tokens")
        width = tf.reduce_max(tf.concat([lengths, [1]], 0))  # at least one column
        tokens = tf.pad(tokens, [[0, 0], [0, 1]])[:, :width]
        mask = tf.sequence_mask(lengths, width)
        ids = tf.where(mask, tf.cast(self.words.lookup(tokens), tf.int32), 0)
        inputs = {"token_ids": ids, "padding_mask": mask, "tag_mask": mask}
        if self.chars is not None:
            pieces = tf.strings.unicode_split(tokens, "UTF-8")  # [B, N, (chars)]
            ids = tf.ragged.map_flat_values(self.chars.lookup, pieces)
            ids = tf.cast(ids.to_tensor(0, shape=[None, None, CHAR_WIDTH]), tf.int32)
            inputs["char_ids"] = tf.where(mask[..., None], ids, 0)
        return self._decode(inputs)

    def _tag_subwords(self, token_ids, lengths, word_positions, word_counts):
        token_ids = checked(token_ids, lengths, "token_ids")
        word_positions = checked(word_positions, word_counts, "word_positions")
        padding = tf.sequence_mask(lengths, tf.shape(token_ids)[1])
        words = tf.reduce_max(tf.concat([word_counts, [1]], 0))
        tag_mask = tf.sequence_mask(word_counts, words)
        word_positions = tf.where(tag_mask, tf.pad(word_positions, [[0, 0], [0, 1]])[:, :words],
                                  0)
        inside = (word_positions >= 0) & (word_positions < lengths[:, None])
        with tf.control_dependencies([tf.debugging.assert_equal(
                inside | ~tag_mask, True,
                message="a word position lies outside its row's subwords (0 to length - 1)")]):
            word_positions = tf.identity(word_positions)
        inputs = {"token_ids": tf.where(padding, token_ids, 0), "padding_mask": padding,
                  "segment_ids": tf.zeros_like(token_ids), "word_positions": word_positions,
                  "tag_mask": tag_mask}
        return self._decode(inputs)

    def _decode(self, inputs):
        """Every head's tags and confidences; an empty batch gives empty outputs (the models
        need at least one row)."""
        mask = inputs["tag_mask"]

        def empty():
            shape = [0, tf.shape(mask)[1]]
            return {key: tf.zeros(shape, tf.string if key.endswith("/tags") else tf.float32)
                    for name in self.names for key in (f"{name}/tags", f"{name}/confidences")}

        return tf.cond(tf.shape(mask)[0] > 0, lambda: self._heads(inputs), empty)

    def _heads(self, inputs):
        """As training.inference: one pass of `scores_many` for every head, then each head's
        path under the bundle's decoding, its tag strings and the chosen tags' confidences
        (`token_probabilities` at the head's temperature)."""
        scores = self.model.scores_many(inputs, self.names, training=False)
        mask = inputs["tag_mask"]
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        out = {}
        for name in self.names:
            head, transitions = self.model.heads[name], self.transitions[name]
            allowed = transitions if self.viterbi else Transitions.all_allowed(
                transitions.num_tags)
            log_probs = tf.nn.log_softmax(tf.cast(scores[name], tf.float32), axis=-1)
            if head.decodes_itself:
                path = head.decode(scores[name], mask, allowed=allowed)
            elif self.viterbi:
                path = constrained_viterbi(log_probs, lengths, transitions)
            else:
                path = first_argmax(log_probs)
            path = tf.where(mask, tf.cast(path, tf.int32), 0)
            probabilities = token_probabilities(
                head, scores[name], mask, tf.constant(self.temperatures[name], tf.float32),
                allowed if head.decodes_itself else None)
            chosen = tf.gather(tf.cast(probabilities, tf.float32), path, batch_dims=2)
            out[f"{name}/tags"] = tf.where(mask, iob2_tags(self.tagsets[name], path), "")
            out[f"{name}/confidences"] = tf.where(mask, chosen, 0.0)
        return out


def description(tagger: Tagger) -> dict:
    """What a caller needs to know to feed the signature (assets.extra/bioner_export.json)."""
    meta = tagger.meta
    out = {"model": meta["model"], "main": meta["main"], "heads": list(tagger.heads),
           "decoding": "constrained" if tagger.viterbi else "free",
           "schemes": {n: h.tagset.scheme for n, h in tagger.heads.items()}}
    if getattr(tagger, "precision", None):  # what a BERT encoder computes in, in the graph
        out["precision"] = tagger.precision
    if meta["featurizer"] == "subwords":
        encoder = tagger.featurizer.encoder
        out["inputs"] = ["token_ids", "lengths", "word_positions", "word_counts"]
        out["subwords"] = {"vocabulary": "vocab.txt", "lowercase": bool(encoder.lowercase),
                           "cls_id": int(encoder.cls_id), "sep_id": int(encoder.sep_id),
                           "max_length": int(tagger.featurizer.max_length),
                           # the piece whose index word_positions holds (every-last: last)
                           "label_on": "last" if predicts_from_last(
                               tagger.featurizer.config.label_on) else "first"}
    else:
        out["inputs"] = ["tokens", "lengths"]
    return out


def export_bundle(bundle: str | Path, out: str | Path) -> Path:
    """Write the bundle in directory `bundle` as a SavedModel in `out` (new or empty)."""
    check_new_directory(Path(out))
    return export_tagger(Tagger(bundle, precision="float32"), out)


def export_tagger(tagger: Tagger, out: str | Path) -> Path:
    """Write a loaded bundle as a SavedModel in `out` (new or empty), decoding as
    `tagger.tag_sentences` does."""
    out = Path(out)
    check_new_directory(out)
    module = TaggerModule(tagger)
    # written beside --out and renamed into place whole: a failure half way leaves no half
    # SavedModel
    write_directory(out, lambda building: _save(tagger, module, building, out))
    return out


def _save(tagger: Tagger, module: TaggerModule, out: Path, shown: Path) -> None:
    # TensorFlow's notes while saving (inner input names renamed, "Assets written") say
    # nothing a user can act on
    loggers = [logging.getLogger(name) for name in ("absl", "tensorflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        tf.saved_model.save(module, str(out), signatures={"serving_default": module.tag})
    except tf.errors.OpError as err:  # TensorFlow's own error for a full disk or a lost path
        raise InputError(f"--out {shown}: cannot write the SavedModel ({err.message}); check "
                         "the free space and permissions") from None
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    extra = out / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / DESCRIPTION).write_text(json.dumps(description(tagger), indent=1) + "\n",
                                     encoding="utf-8")
    vocabulary = Path(tagger.featurizer.encoder.source) / "vocab.txt" if module.subwords else None
    if vocabulary is not None and vocabulary.is_file():
        shutil.copy(vocabulary, extra)
