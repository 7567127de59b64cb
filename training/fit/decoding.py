"""Viterbi decoding restricted to tag transitions observed in training data.

Crichton et al. (2017) decode independent per-token softmax outputs with a Viterbi search that
may only use transitions seen in the training labels (including from sentence start and to
sentence end). This keeps the decoder free of learned parameters while ruling out structurally
invalid outputs such as ``O`` followed by ``I-X`` in IOB2, which per-token argmax can produce.

Everything here is numpy-only so it can run on model outputs outside any TensorFlow graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Transitions", "viterbi_decode"]

# Floor for per-token log-probabilities: keeps log(0) = -inf tokens finite so that "feasible but
# very unlikely" paths stay distinguishable from "forbidden" paths, which alone score -inf.
_LOG_PROB_FLOOR = -1e30


def _as_bool_array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Copy into a read-only bool array so a frozen ``Transitions`` really is immutable."""
    raw = np.asarray(value)
    if raw.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {raw.shape}")
    if raw.size and not np.isin(raw, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0/1 or booleans")
    array = np.array(raw, dtype=bool, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Transitions:
    """Which tag transitions are allowed; a forbidden transition makes a whole path invalid."""

    start: np.ndarray
    pairs: np.ndarray
    end: np.ndarray

    def __post_init__(self) -> None:
        start = np.asarray(self.start)
        if start.ndim != 1 or start.shape[0] < 1:
            raise ValueError(f"start must be 1-D with at least one tag, got shape {start.shape}")
        num_tags = start.shape[0]
        object.__setattr__(self, "start", _as_bool_array(start, (num_tags,), "start"))
        object.__setattr__(self, "pairs", _as_bool_array(self.pairs, (num_tags, num_tags), "pairs"))
        object.__setattr__(self, "end", _as_bool_array(self.end, (num_tags,), "end"))

    # The generated field-wise __eq__/__hash__ would compare arrays ambiguously; use contents.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transitions):
            return NotImplemented
        return (
            np.array_equal(self.start, other.start)
            and np.array_equal(self.pairs, other.pairs)
            and np.array_equal(self.end, other.end)
        )

    def __hash__(self) -> int:
        return hash((self.num_tags, self.start.tobytes(), self.pairs.tobytes(), self.end.tobytes()))

    @property
    def num_tags(self) -> int:
        return int(self.start.shape[0])

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[int]], num_tags: int) -> Transitions:
        """Record every transition that occurs in training tag-id sequences.

        Empty sequences carry no transition information and are skipped.
        """
        if num_tags < 1:
            raise ValueError(f"num_tags must be positive, got {num_tags}")
        start = np.zeros(num_tags, dtype=bool)
        pairs = np.zeros((num_tags, num_tags), dtype=bool)
        end = np.zeros(num_tags, dtype=bool)
        for sequence in sequences:
            tags = np.asarray(sequence, dtype=np.int64).reshape(-1)
            if tags.size == 0:
                continue
            if tags.min() < 0 or tags.max() >= num_tags:
                raise ValueError(f"tag ids must lie in [0, {num_tags}), got {tags.tolist()}")
            start[tags[0]] = True
            end[tags[-1]] = True
            pairs[tags[:-1], tags[1:]] = True
        return cls(start=start, pairs=pairs, end=end)

    @classmethod
    def all_allowed(cls, num_tags: int) -> Transitions:
        """No constraint: Viterbi then reduces to per-token argmax."""
        if num_tags < 1:
            raise ValueError(f"num_tags must be positive, got {num_tags}")
        return cls(
            start=np.ones(num_tags, dtype=bool),
            pairs=np.ones((num_tags, num_tags), dtype=bool),
            end=np.ones(num_tags, dtype=bool),
        )

    def allows(self, path: Sequence[int]) -> bool:
        """Whether a complete sentence path is valid; an empty path has no transitions to break."""
        tags = np.asarray(path, dtype=np.int64).reshape(-1)
        if tags.size == 0:
            return True
        if tags.min() < 0 or tags.max() >= self.num_tags:
            raise ValueError(f"tag ids must lie in [0, {self.num_tags}), got {tags.tolist()}")
        return bool(
            self.start[tags[0]] and self.end[tags[-1]] and self.pairs[tags[:-1], tags[1:]].all()
        )

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain nested 0/1 lists so the constraint can be saved next to a model as JSON."""
        return {
            "start": self.start.astype(int).tolist(),
            "pairs": self.pairs.astype(int).tolist(),
            "end": self.end.astype(int).tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transitions:
        """Inverse of :meth:`to_dict`; shapes and values are validated on construction."""
        missing = {"start", "pairs", "end"} - set(data)
        if missing:
            raise ValueError(f"missing transition keys: {sorted(missing)}")
        return cls(start=data["start"], pairs=data["pairs"], end=data["end"])


def _validate_inputs(log_probs: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reject malformed batches early; silent broadcasting would decode the wrong thing."""
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must have shape [B, N, T], got {log_probs.shape}")
    batch, max_len, num_tags = log_probs.shape
    if num_tags < 1:
        raise ValueError("log_probs must have at least one tag")
    lengths = np.asarray(lengths)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer) and not np.array_equal(
        lengths, np.round(lengths)
    ):
        raise ValueError("lengths must be integers")
    lengths = lengths.astype(np.int64)
    if lengths.size and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(f"lengths must lie in [0, {max_len}], got {lengths.tolist()}")
    valid = np.arange(max_len)[None, :] < lengths[:, None]
    if np.isnan(log_probs[valid]).any():
        raise ValueError("log_probs contains NaN within sentence lengths")
    return log_probs, lengths


def decode_sentences(log_probs: list[np.ndarray], transitions: Transitions | None = None,
                     batch: int = 64) -> list[np.ndarray]:
    """The best path of each sentence's [tokens, tags] log-probabilities (viterbi_decode;
    None: argmax), sentences of about one length decoded together."""
    lengths = np.array([len(x) for x in log_probs], dtype=np.int64)
    out: list[np.ndarray] = [np.zeros(0, np.int32)] * len(log_probs)
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch):
        index = order[start:start + batch]
        tags = log_probs[index[0]].shape[-1]
        padded = np.zeros((len(index), int(lengths[index].max()), tags), np.float32)
        for b, i in enumerate(index):
            padded[b, : lengths[i]] = log_probs[i]
        paths = viterbi_decode(padded, lengths[index], transitions)
        for b, i in enumerate(index):
            out[i] = paths[b, : lengths[i]]
    return out


def viterbi_decode(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    transitions: Transitions | None = None,
) -> np.ndarray:
    """Most probable tag path per sentence using only allowed transitions.

    ``log_probs`` is [B, N, T] and ``lengths`` is [B]; the result is int32 [B, N] with positions
    at or beyond each sentence's length set to 0. The path score is the sum of per-token
    log-probabilities; start, pair and end constraints come from ``transitions`` (``None`` means
    unconstrained, i.e. per-token argmax). Ties are broken towards lower tag ids.

    Fallback: if a sentence has no allowed path at all (e.g. a length-1 sentence where no tag
    is both a start and an end tag), its per-token argmax path is returned instead, so callers
    always get a usable prediction rather than an arbitrary path.

    Token log-probabilities of -inf (probability 0) are floored at -1e30 so such paths remain
    feasible, just extremely unlikely; NaN inside a sentence is rejected.
    """
    log_probs, lengths = _validate_inputs(log_probs, lengths)
    batch, max_len, num_tags = log_probs.shape
    valid = np.arange(max_len)[None, :] < lengths[:, None]
    argmax_path = np.where(valid, np.argmax(log_probs, axis=-1), 0).astype(np.int32)
    if transitions is None or batch == 0 or max_len == 0:
        return argmax_path
    if transitions.num_tags != num_tags:
        raise ValueError(
            f"transitions cover {transitions.num_tags} tags but log_probs has {num_tags}"
        )

    # float64 so that the floor and long sums keep finite/forbidden scores well separated.
    emissions = np.maximum(log_probs.astype(np.float64), _LOG_PROB_FLOOR)
    start_add = np.where(transitions.start, 0.0, -np.inf)
    pair_add = np.where(transitions.pairs, 0.0, -np.inf)
    end_add = np.where(transitions.end, 0.0, -np.inf)

    # Forward pass: score[b, j] = best score of a path ending in tag j at the current step.
    # Forbidden entries are exactly -inf; adding -inf to -inf stays -inf, so no NaN can arise.
    score = emissions[:, 0, :] + start_add[None, :]
    backpointers = np.zeros((batch, max_len, num_tags), dtype=np.int64)
    for t in range(1, max_len):
        candidates = score[:, :, None] + pair_add[None, :, :]  # [B, prev, next]
        best_prev = np.argmax(candidates, axis=1)
        stepped = np.take_along_axis(candidates, best_prev[:, None, :], axis=1)[:, 0, :]
        active = (t < lengths)[:, None]
        # Finished sentences keep their score so the end constraint applies at their own last tag.
        score = np.where(active, stepped + emissions[:, t, :], score)
        backpointers[:, t, :] = best_prev

    final = score + end_add[None, :]
    last_tag = np.argmax(final, axis=-1)
    feasible = np.isfinite(np.take_along_axis(final, last_tag[:, None], axis=1)[:, 0])

    # Backward pass: each sentence starts backtracking once t reaches its own last position.
    path = np.zeros((batch, max_len), dtype=np.int64)
    current = last_tag
    rows = np.arange(batch)
    for t in range(max_len - 1, -1, -1):
        active = t < lengths
        path[:, t] = np.where(active, current, 0)
        if t > 0:
            current = np.where(active, backpointers[rows, t, current], current)

    use_viterbi = (feasible & (lengths > 0))[:, None]
    return np.where(use_viterbi, path, argmax_path).astype(np.int32)
