"""Calibration of a model's confidences: expected calibration error, reliability diagrams, and
a temperature per head fitted on devel.

What is calibrated is a token's confidence, the probability of its chosen tag
(training/inference.py: softmax(scores / T) for softmax heads, the CRF's forward-backward
marginal at temperature T for CRF heads), against whether that tag is the gold one. Tokens are
the unit the confidences are defined on and the one the temperature is fitted on; entity ECE
(an entity's confidence, the mean of its tokens', against an exact match of span and type in
gold) is reported beside it, since `--min-confidence` filters entities.

The temperature minimises, over devel tokens, the negative log-likelihood of the gold tag
under the same per-token distribution whose chosen-tag entry is the confidence (softmax(s / T),
or the CRF marginals with every CRF score divided by T, under the decoding the bundle uses): one
objective for both kinds of head, aimed at the quantity being calibrated, and finite even where
a gold path breaks the transition constraint. T never changes the tags (see inference.py).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bioner_mtl.data import tags as tagging
from bioner_mtl.data.atomic import save_figure, write_text
from bioner_mtl.data.derived_labels import mention_spans
from bioner_mtl.training.fit.batches import EncodedSplit

log = logging.getLogger(__name__)

BINS = 15  # equal-width confidence bins on [0, 1], the usual ECE
BOUNDS = (0.05, 20.0)  # the temperature search interval (searched in log T)
FLOOR = 1e-12  # probabilities below this count as this in the NLL (no log 0)
CALIBRATION_FILE = "calibration.json"
PLURAL = {"token": "tokens", "entity": "entities"}


def finite(value: float) -> float | None:
    """JSON has no NaN: an ECE of nothing (no entity predicted) is written as null."""
    return value if math.isfinite(value) else None


def shown_ece(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def reliability(confidences: Sequence[float], correct: Sequence[bool], bins: int = BINS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin (i / bins, (i + 1) / bins] (the first also takes 0): the number of
    predictions, their mean confidence and their accuracy (0 where a bin is empty)."""
    confidences = np.asarray(confidences, float)
    correct = np.asarray(correct, bool)
    if confidences.shape != correct.shape or confidences.ndim != 1:
        raise ValueError("confidences and correctness must be 1-D and of one length")
    if ((confidences < 0) | (confidences > 1) | np.isnan(confidences)).any():
        raise ValueError("confidences must lie in [0, 1]")
    which = np.clip(np.ceil(confidences * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    safe = np.maximum(counts, 1)
    mean_confidence = np.bincount(which, confidences, bins) / safe
    accuracy = np.bincount(which, correct.astype(float), bins) / safe
    return counts, mean_confidence, accuracy


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool],
                               bins: int = BINS) -> float:
    """ECE: the count-weighted mean over bins of |accuracy - mean confidence|; NaN when there
    is nothing to score."""
    counts, mean_confidence, accuracy = reliability(confidences, correct, bins)
    if not counts.sum():
        return float("nan")
    return float(np.sum(counts * np.abs(accuracy - mean_confidence)) / counts.sum())


def token_outcomes(prediction, split: EncodedSplit) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, chosen tag is the gold tag) for every token of the split."""
    confidences = np.concatenate([np.zeros(0), *prediction.confidences])
    correct = np.array([p == g for tags, s in zip(prediction.tags, split.sentences)
                        for p, g in zip(tags, s.tags)], bool)
    return confidences, correct


def entity_outcomes(prediction, split: EncodedSplit) -> tuple[np.ndarray, np.ndarray]:
    """(mean confidence of its tokens, span and type are a gold entity's) per predicted
    entity: the confidence `Tagger.entities` gives."""
    confidences, correct = [], []
    for tags, conf, sentence in zip(prediction.tags, prediction.confidences, split.sentences):
        gold = set(mention_spans(list(sentence.tags)))
        for span in mention_spans(tags):
            confidences.append(float(np.mean(conf[span[0]:span[1]])))
            correct.append(span in gold)
    return np.array(confidences, float), np.array(correct, bool)


def gold_nll(prediction, split: EncodedSplit, tagset) -> float:
    """Mean negative log-likelihood of the gold tags under the prediction's per-token
    distributions; tokens whose gold tag the head does not have (a type unseen in training)
    are left out, since no temperature can give them probability."""
    index = {t: i for i, t in enumerate(tagset.labels)}
    picked = []
    for probabilities, sentence in zip(prediction.probabilities, split.sentences):
        gold = tagging.convert(list(sentence.tags), tagset.scheme)
        ids = np.array([index.get(t, -1) for t in gold], int)
        known = ids >= 0
        picked.append(probabilities[np.flatnonzero(known), ids[known]])
    values = np.concatenate([np.zeros(0), *picked])
    if not values.size:
        return float("nan")
    return float(-np.mean(np.log(np.maximum(values, FLOOR))))


def fit(nll: Callable[[float], float], bounds: tuple[float, float] = BOUNDS) -> float:
    """The temperature T in `bounds` minimising `nll(T)`: a bounded 1-D search (Brent's
    method) over log T, to a relative precision of about 1% (each try is a pass over devel)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(math.exp(log_t)),
                            bounds=tuple(math.log(b) for b in bounds), method="bounded",
                            options={"xatol": 1e-2})
    return float(math.exp(found.x))


def fit_temperature(predictor, head: str, split: EncodedSplit, decoding: bool,
                    bounds: tuple[float, float] = BOUNDS) -> float:
    """The temperature minimising the gold tags' NLL on `split`, each try a pass of the
    prediction path at that temperature; the predictor is left at its previous temperature
    for `head`."""
    tagset, previous = predictor.heads[head].tagset, predictor.temperatures[head]

    def nll(temperature: float) -> float:
        predictor.temperatures[head] = temperature
        predicted = predictor.predict(split, (head,), (decoding,), distributions=True)
        return gold_nll(predicted[head][decoding], split, tagset)

    try:
        return fit(nll, bounds)
    finally:
        predictor.temperatures[head] = previous


def scores(predictor, head: str, split: EncodedSplit, decoding: bool) -> dict:
    """Token and entity ECE of one head on one split at the predictor's temperature, with
    the outcomes (for the diagram)."""
    predicted = predictor.predict(split, (head,), (decoding,))[head][decoding]
    tokens, entities = token_outcomes(predicted, split), entity_outcomes(predicted, split)
    return {"token_ece": expected_calibration_error(*tokens),
            "entity_ece": expected_calibration_error(*entities),
            "tokens": len(tokens[0]), "entities": len(entities[0]),
            "outcomes": {"token": tokens, "entity": entities}}


def calibrate(predictor, head: str, devel: EncodedSplit, test: EncodedSplit, decoding: bool
              ) -> dict:
    """ECE on devel and test at T = 1, T fitted on devel, ECE again at T; the predictor is
    left at the fitted T for `head`. Returns the head's calibration.json entry, with the
    outcomes under "outcomes" (for `reliability_diagram`; not written to JSON)."""
    predictor.temperatures[head] = 1.0
    before = {name: scores(predictor, head, split, decoding)
              for name, split in (("devel", devel), ("test", test))}
    temperature = fit_temperature(predictor, head, devel, decoding)
    predictor.temperatures[head] = temperature
    after = {name: scores(predictor, head, split, decoding)
             for name, split in (("devel", devel), ("test", test))}
    entry = {"temperature": temperature}
    for unit in ("token", "entity"):
        entry[f"{unit}_ece"] = {name: {"before": finite(before[name][f"{unit}_ece"]),
                                       "after": finite(after[name][f"{unit}_ece"])}
                                for name in before}
        entry[PLURAL[unit]] = {name: before[name][PLURAL[unit]] for name in before}
    entry["outcomes"] = {"before": {n: v["outcomes"] for n, v in before.items()},
                         "after": {n: v["outcomes"] for n, v in after.items()}}
    return entry


def file_safe(head: str) -> str:
    """A head's name fit for a file name: a corpus given as a path ('my/corpus') is one."""
    return re.sub(r"[^\w.-]", "_", head)


def reliability_diagram(entry: dict, head: str, path: Path, bins: int = BINS) -> None:
    """Accuracy against confidence per bin, devel and test, before and after temperature
    scaling (tokens; entities beside them), with the ECE in each panel's legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(9, 8), sharex=True, sharey=True)
    edges = np.linspace(0, 1, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    for row, unit in enumerate(("token", "entity")):
        for column, split in enumerate(("devel", "test")):
            axis = axes[row, column]
            axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
            for when, colour in (("before", "tab:red"), ("after", "tab:blue")):
                counts, _, accuracy = reliability(*entry["outcomes"][when][split][unit], bins)
                shown = counts > 0
                label = "T = 1" if when == "before" else f"T = {entry['temperature']:.2f}"
                axis.plot(centres[shown], accuracy[shown], marker="o", color=colour,
                          label=f"{label}: ECE {shown_ece(entry[f'{unit}_ece'][split][when])}")
            axis.set_title(f"{head} {split}: {entry[PLURAL[unit]][split]} {PLURAL[unit]}")
            axis.legend(loc="upper left", fontsize=8)
            axis.set_xlim(0, 1)
            axis.set_ylim(0, 1)
    for axis in axes[1]:
        axis.set_xlabel("confidence (bin centre)")
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy")
    figure.tight_layout()
    save_figure(path, figure, dpi=80)
    plt.close(figure)


def calibrate_heads(predictor, splits: dict[str, tuple[EncodedSplit, EncodedSplit]],
                    decoding: bool, directory: Path) -> dict[str, float]:
    """Calibrate each head of `splits` (name -> (devel, test)): write `calibration.json` and
    `reliability_HEAD.png` into `directory`, log one line, and return the temperatures."""
    directory = Path(directory)
    entries = {}
    for head, (devel, test) in splits.items():
        entry = calibrate(predictor, head, devel, test, decoding)
        reliability_diagram(entry, head, directory / f"reliability_{file_safe(head)}.png")
        entry.pop("outcomes")
        entries[head] = entry
    document = {"unit": "token (entities beside)", "bins": BINS,
                "decoding": "constrained" if decoding else "unconstrained",
                "fitted_on": "devel", "temperature_bounds": list(BOUNDS), "heads": entries}
    write_text(directory / CALIBRATION_FILE, json.dumps(document, indent=1))
    log.info("calibration (token ECE before -> after T): %s", "; ".join(
        f"{head} T={e['temperature']:.3f} " + ", ".join(
            f"{split} {shown_ece(e['token_ece'][split]['before'])} -> "
            f"{shown_ece(e['token_ece'][split]['after'])}" for split in ("devel", "test"))
        for head, e in entries.items()))
    return {head: e["temperature"] for head, e in entries.items()}
