"""Auxiliary tasks derived from NER labels (Tong et al., 2021).

Three labels are computed from a sentence's tags, so no extra annotation is needed:

* bCLS (sentence): 1 if the sentence has at least one entity mention, else 0;
* mCLS (sentence): the number of mentions, bucketed 0, 1, 2, 3+ -> class 0..3;
* mtCLS (token): 0 outside any mention, 1 in a single-token mention, 2 in a multi-token
  mention (``MTCLS_LABELS``; Tong et al. list them as multi-token entity / single-token entity /
  outside, the class ids here are our own order).

Mentions are read the way seqeval's default (conlleval) mode reads them: a mention starts at a
``B-`` tag, and also at an ``I-X`` that does not continue a mention of type X (after ``O``, at
the sentence start, or after a mention of another type). Such stray ``I-`` tags do not occur
in files read with ``data.reader`` (it rejects or repairs them) but do in model output. IOBES
tags (``S-``, ``E-``) are read too.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AUX_TASKS",
    "BCLS_LABELS",
    "MCLS_LABELS",
    "MTCLS_LABELS",
    "auxiliary_labels",
    "bcls",
    "mcls",
    "mention_spans",
    "mtcls",
]

BCLS_LABELS = ("none", "some")
MCLS_LABELS = ("0", "1", "2", "3+")
MTCLS_LABELS = ("O", "single", "multi")  # class id = index
MTCLS_OUTSIDE, MTCLS_SINGLE, MTCLS_MULTI = range(3)
AUX_TASKS = {"bCLS": len(BCLS_LABELS), "mCLS": len(MCLS_LABELS), "mtCLS": len(MTCLS_LABELS)}
SENTENCE_TASKS = ("bCLS", "mCLS")  # one label per sentence; mtCLS has one per token


def mention_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Mentions as (start, end exclusive, type), read like seqeval's default mode."""
    spans: list[tuple[int, int, str]] = []
    start, kind, closed = None, "", True  # open mention, its type, whether it has ended
    for i, tag in enumerate(tags):
        prefix, _, this_kind = tag.partition("-")
        if tag == "O" or not this_kind:
            if start is not None:
                spans.append((start, i, kind))
            start = None
            continue
        begins = prefix in ("B", "S") or start is None or closed or this_kind != kind
        if begins:
            if start is not None:
                spans.append((start, i, kind))
            start, kind = i, this_kind
        closed = prefix in ("E", "S")
    if start is not None:
        spans.append((start, len(tags), kind))
    return spans


def bcls(tags: Sequence[str]) -> int:
    """1 if the sentence has at least one mention, else 0."""
    return int(bool(mention_spans(tags)))


def mcls(tags: Sequence[str]) -> int:
    """Number of mentions, bucketed: 0, 1, 2, 3 or more -> 0..3."""
    return min(len(mention_spans(tags)), len(MCLS_LABELS) - 1)


def mtcls(tags: Sequence[str]) -> list[int]:
    """Per token: 0 outside, 1 in a single-token mention, 2 in a multi-token mention."""
    out = [MTCLS_OUTSIDE] * len(tags)
    for start, end, _ in mention_spans(tags):
        label = MTCLS_SINGLE if end - start == 1 else MTCLS_MULTI
        out[start:end] = [label] * (end - start)
    return out


def auxiliary_labels(tags: Sequence[str]) -> dict[str, int | list[int]]:
    """All three labels of one sentence, keyed like ``AUX_TASKS``."""
    return {"bCLS": bcls(tags), "mCLS": mcls(tags), "mtCLS": mtcls(tags)}
