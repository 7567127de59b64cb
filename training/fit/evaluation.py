"""Evaluation metrics for biomedical NER on IOB2 tag sequences.

Two families of scores are reported because the literature uses both:

* mention level (exact span + type match, micro-averaged), the usual CoNLL/BioCreative metric,
  in seqeval's ``strict`` IOB2 mode (our main score) and its conlleval-like ``default`` mode;
* token level macro-averaged P/R/F1 over tag labels, as reported by Wang et al. (2019) for
  multi-task biomedical NER, so numbers can be compared with theirs.

Subword models predict one tag per subword; :func:`word_level_tags` maps those back to words
before scoring so that all models are evaluated on the same word-level sequences.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities
from sklearn.metrics import precision_recall_fscore_support

from bioner_mtl.data import tags as tagging

logger = logging.getLogger(__name__)

OUTSIDE = "O"
MENTION_MODES = ("strict", "default")
ENGINES = ("fast", "seqeval")  # mention readers: ours (tested equal to seqeval) or seqeval
WORD_STRATEGIES = ("first", "last")

Tags = Sequence[Sequence[str]]
# A mention: (sentence index, entity type, start, end exclusive); used only for set matching.
Mention = tuple[int, str, int, int]


@dataclass(frozen=True)
class TypeScores:
    """Exact-match scores for one entity type; counts kept so results can be re-aggregated."""

    precision: float
    recall: float
    f1: float
    support: int
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True)
class MentionScores:
    """Micro-averaged exact-match mention scores plus a per-type breakdown."""

    mode: str
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    per_type: dict[str, TypeScores]

    @property
    def num_gold(self) -> int:
        return self.tp + self.fn

    @property
    def num_pred(self) -> int:
        return self.tp + self.fp


@dataclass(frozen=True)
class TokenScores:
    """Token-level macro scores over tag labels, plus plain token accuracy."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    num_tokens: int
    include_outside: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    """All scores for one gold/pred pair, so callers log and compare a single object."""

    strict: MentionScores
    default: MentionScores
    token: TokenScores

    @property
    def f1(self) -> float:
        """Main model-selection score: strict mention-level F1."""
        return self.strict.f1

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts/floats/ints, ready for ``json.dump``."""
        out = dataclasses.asdict(self)
        out["token"]["labels"] = list(self.token.labels)
        out["f1"] = self.f1
        return out

    def report(self) -> str:
        """conlleval-like text block for logs and experiment notes.

        Each mode's overall line is followed by its own per-type lines, each named with the
        mode (`strict Gene`, `default Gene`): the two modes read a predicted I-X after O
        differently, and only the default lines are comparable with conlleval's.
        """
        s, d, t = self.strict, self.default, self.token
        gold = (f"{s.num_gold}" if s.num_gold == d.num_gold
                else f"{s.num_gold} (strict) / {d.num_gold} (default)")
        lines = [f"processed {t.num_tokens} tokens with {gold} gold mentions; "
                 f"token accuracy: {_pct(t.accuracy)}%."]
        for scores in (s, d):
            lines.append(_score_line(
                scores.mode, scores.precision, scores.recall, scores.f1,
                f"  (gold {scores.num_gold}, found {scores.num_pred}, correct {scores.tp})"))
            for name, ts in sorted(scores.per_type.items()):
                lines.append(_score_line(f"{scores.mode} {name}", ts.precision, ts.recall,
                                         ts.f1, f"  (found {ts.tp + ts.fp}, support {ts.support})"))
        which = "incl. O" if t.include_outside else "excl. O"
        lines.append(_score_line(f"token macro ({which})", t.precision, t.recall, t.f1))
        return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:6.2f}"


def _score_line(name: str, p: float, r: float, f: float, extra: str = "") -> str:
    return f"{name:>22}: precision: {_pct(p)}%; recall: {_pct(r)}%; FB1: {_pct(f)}{extra}"


def _div(num: float, den: float) -> float:
    """Zero division yields 0.0 silently: empty classes are normal on small dev sets."""
    return float(num) / den if den else 0.0


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p, r = _div(tp, tp + fp), _div(tp, tp + fn)
    return p, r, _div(2 * p * r, p + r)


def _check_lengths(gold: Tags, pred: Tags) -> None:
    """Fail loudly: silently truncated predictions would give plausible but wrong scores."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but pred has {len(p)}")


def _check_iob2(seqs: Tags, role: str) -> None:
    """Refuse tags seqeval would misread: 'X' crashes it, a bare 'B-' becomes type '_', S-/E-
    tags count in one mode and not the other. Files are checked with a line by the reader."""
    for tag in {t for s in seqs for t in s}:
        if tag != OUTSIDE and (tagging.tag_problem(tag) is not None or tag[0] not in "BI"):
            where = next(i for i, s in enumerate(seqs) if tag in s)
            raise ValueError(f"{role} sentence {where}: tag {tag!r} is not IOB2 (O, B-TYPE, "
                             "I-TYPE); convert IOBES with data.tags.convert(tags, 'IOB2')")


def strict_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Mentions of one valid IOB2 sentence as seqeval's strict IOB2 mode reads them: a B-X and
    the I-X run after it; an I-X without its B-X is no mention. (type, start, end exclusive)."""
    spans, start, kind = [], -1, ""
    for i, tag in enumerate(tags):
        if start >= 0:
            if tag[0] == "I" and tag[2:] == kind:
                continue
            spans.append((kind, start, i))
            start = -1
        if tag[0] == "B":
            start, kind = i, tag[2:]
    if start >= 0:
        spans.append((kind, start, len(tags)))
    return spans


def default_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Mentions of one valid IOB2 sentence as seqeval's default (conlleval) mode reads them:
    as strict, but an I-X after O or after another type starts a mention."""
    spans, start, kind = [], -1, ""
    for i, tag in enumerate(tags):
        prefix = tag[0]
        if start >= 0:
            if prefix == "I" and tag[2:] == kind:
                continue
            spans.append((kind, start, i))
            start = -1
        if prefix != "O":
            start, kind = i, tag[2:]
    if start >= 0:
        spans.append((kind, start, len(tags)))
    return spans


SPANS = {"strict": strict_spans, "default": default_spans}


def _mentions(seqs: Tags, mode: str, engine: str = "fast") -> set[Mention]:
    """Every mention of every sentence. Tags are checked IOB2 first (`_check_iob2`), so a type
    is the text after 'B-'/'I-'; engine 'seqeval' asks seqeval itself (the reference the fast
    readers are tested against, and the path before issue 24)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if mode not in MENTION_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MENTION_MODES}")
    if engine == "fast":
        spans = SPANS[mode]
        return {(i, kind, start, end) for i, s in enumerate(seqs) for kind, start, end in spans(s)}
    if mode == "strict":
        entities = Entities([list(s) for s in seqs], IOB2)
        return {(e.sent_id, e.tag, e.start, e.end) for sent in entities.entities for e in sent}
    # Called per sentence: a single flattened call would let sentence ids leak into offsets.
    return {
        (i, tag, start, end + 1)
        for i, s in enumerate(seqs)
        for tag, start, end in get_entities(list(s))
    }


def mentions(seqs: Tags, mode: str = "strict", engine: str = "fast") -> set[Mention]:
    """The checked mentions of a split, e.g. a gold split's once, for `selection_f1`."""
    _check_iob2(seqs, "gold")
    return _mentions(seqs, mode, engine)


def selection_f1(gold_mentions: set[Mention], gold: Tags, pred: Tags, mode: str = "strict",
                 engine: str = "fast") -> float:
    """`mention_scores(gold, pred, mode).f1` from the gold mentions read once (`mentions`):
    what a devel evaluation needs to select weights, without the rest of `evaluate`."""
    _check_lengths(gold, pred)
    _check_iob2(pred, "pred")
    pred_m = _mentions(pred, mode, engine)
    hits = len(gold_mentions & pred_m)
    return _prf(hits, len(pred_m) - hits, len(gold_mentions) - hits)[2]


def _by_type(mentions: set[Mention]) -> Counter[str]:
    return Counter(m[1] for m in mentions)


def mention_scores(gold: Tags, pred: Tags, mode: str = "strict",
                   engine: str = "fast") -> MentionScores:
    """Exact-match mention P/R/F1; a boundary error costs one FP and one FN, as in CoNLL."""
    _check_lengths(gold, pred)
    _check_iob2(gold, "gold")
    _check_iob2(pred, "pred")
    gold_m, pred_m = _mentions(gold, mode, engine), _mentions(pred, mode, engine)
    hits = gold_m & pred_m
    n_gold, n_pred, n_hit = _by_type(gold_m), _by_type(pred_m), _by_type(hits)
    per_type = {}
    for name in sorted(n_gold.keys() | n_pred.keys()):
        tp, fp, fn = n_hit[name], n_pred[name] - n_hit[name], n_gold[name] - n_hit[name]
        per_type[name] = TypeScores(*_prf(tp, fp, fn), support=n_gold[name], tp=tp, fp=fp, fn=fn)
    tp, fp, fn = len(hits), len(pred_m) - len(hits), len(gold_m) - len(hits)
    return MentionScores(mode, *_prf(tp, fp, fn), tp=tp, fp=fp, fn=fn, per_type=per_type)


def unit_counts(gold: Tags, pred: Tags, units: Sequence[int] | None = None,
                mode: str = "strict", engine: str = "fast") -> dict[str, list[int]]:
    """Matched, predicted and gold mentions per unit (sentence, or the unit index each
    sentence belongs to): sums give the micro counts, resamples of units give bootstrap F1s."""
    _check_lengths(gold, pred)
    units = list(range(len(gold))) if units is None else list(units)
    if len(units) != len(gold):
        raise ValueError(f"{len(units)} unit ids for {len(gold)} sentences")
    width = max(units, default=-1) + 1
    counts = {"tp": [0] * width, "pred": [0] * width, "gold": [0] * width}
    gold_m, pred_m = _mentions(gold, mode, engine), _mentions(pred, mode, engine)
    for key, mentions in (("gold", gold_m), ("pred", pred_m), ("tp", gold_m & pred_m)):
        for mention in mentions:
            counts[key][units[mention[0]]] += 1
    return counts


def token_scores(gold: Tags, pred: Tags, include_outside: bool = False,
                 engine: str = "fast") -> TokenScores:
    """Token-level macro P/R/F1 over tag labels (Wang et al., 2019).

    Each label (``B-Gene``, ``I-Gene``, ...) occurring in gold or pred gets its own P/R/F1 and
    the three are averaged without weights (F1 is the mean of per-label F1s, as in sklearn).
    ``O`` is excluded by default: it covers ~90-99% of biomedical tokens and is nearly always
    right, so including it inflates the macro score and hides entity errors. Pass
    ``include_outside=True`` to reproduce papers that keep it. Engine 'fast' counts in numpy
    and divides as sklearn's precision_recall_fscore_support does (the same floats); 'seqeval'
    calls sklearn (the path before issue 24).
    """
    _check_lengths(gold, pred)
    y_true = [t for s in gold for t in s]
    y_pred = [t for s in pred for t in s]
    labels = sorted(set(y_true) | set(y_pred))
    if not include_outside:
        labels = [lab for lab in labels if lab != OUTSIDE]
    accuracy = _div(sum(g == p for g, p in zip(y_true, y_pred, strict=True)), len(y_true))
    if not labels:
        return TokenScores(0.0, 0.0, 0.0, accuracy, len(y_true), include_outside, ())
    if engine == "fast":
        p, r, f = _per_label_prf(y_true, y_pred, labels)
    else:
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=0
        )
    return TokenScores(
        float(p.mean()),
        float(r.mean()),
        float(f.mean()),
        accuracy,
        len(y_true),
        include_outside,
        tuple(labels),
    )


def _per_label_prf(y_true: list[str], y_pred: list[str], labels: list[str]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall and F1 as sklearn computes them with zero_division=0:
    float64 tp / predicted, tp / true, 2 tp / (true + predicted), 0 where a divisor is 0."""
    true_n, pred_n = Counter(y_true), Counter(y_pred)
    hit_n = Counter(g for g, p in zip(y_true, y_pred, strict=True) if g == p)
    tp = np.array([hit_n[lab] for lab in labels], np.float64)
    predicted = np.array([pred_n[lab] for lab in labels], np.float64)
    true = np.array([true_n[lab] for lab in labels], np.float64)

    def divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        out = num / np.where(den == 0, 1.0, den)
        out[den == 0] = 0.0
        return out

    return divide(tp, predicted), divide(tp, true), divide(2.0 * tp, 1.0 * true + predicted)


def evaluate(gold: Tags, pred: Tags, engine: str = "fast") -> Evaluation:
    """All metrics at once; lengths are checked before anything is computed. Engine 'fast'
    (our readers) and 'seqeval' (seqeval and sklearn) give the same scores."""
    _check_lengths(gold, pred)
    return Evaluation(
        strict=mention_scores(gold, pred, "strict", engine),
        default=mention_scores(gold, pred, "default", engine),
        token=token_scores(gold, pred, engine=engine),
    )


def word_level_tags(
    subword_tags: Sequence[str],
    word_ids: Sequence[int | None],
    strategy: str = "first",
) -> list[str]:
    """Collapse per-subword tags to one tag per word, so subword models score like word models.

    ``word_ids[i]`` is the word of subword ``i``; ``None`` or a negative id marks special tokens
    and padding, which are ignored. ``"first"`` takes the first subword's tag (the usual BERT
    convention, only first subwords are trained); ``"last"`` takes the last (Rodriguez, 2022).
    """
    if strategy not in WORD_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {WORD_STRATEGIES}")
    if len(subword_tags) != len(word_ids):
        raise ValueError(f"{len(subword_tags)} subword tags but {len(word_ids)} word ids")
    chosen: dict[int, str] = {}
    for tag, wid in zip(subword_tags, word_ids, strict=True):
        if wid is None or int(wid) < 0:
            continue
        if strategy == "last" or int(wid) not in chosen:
            chosen[int(wid)] = tag
    n_words = max(chosen, default=-1) + 1
    missing = [w for w in range(n_words) if w not in chosen]
    if missing:
        raise ValueError(f"words {missing} have no subword")
    return [chosen[w] for w in range(n_words)]
