"""Tests for training.evaluation against hand-computed scores on crafted tag sequences."""

from __future__ import annotations

import json
import warnings

import pytest

from bioner_mtl.training.fit.evaluation import (
    evaluate,
    mention_scores,
    token_scores,
    word_level_tags,
)

# (gold, pred, mode, tp, fp, fn, precision, recall, f1)
MENTION_CASES = {
    # identical: Gene(0-2) and Chem(3) both found
    "exact": (
        [["B-Gene", "I-Gene", "O", "B-Chem"]],
        [["B-Gene", "I-Gene", "O", "B-Chem"]],
        "strict",
        2,
        0,
        0,
        1.0,
        1.0,
        1.0,
    ),
    # gold Gene spans 0-3, pred 0-2: wrong span is 1 FP and the gold one is 1 FN
    "boundary": (
        [["B-Gene", "I-Gene", "I-Gene", "O"]],
        [["B-Gene", "I-Gene", "O", "O"]],
        "strict",
        0,
        1,
        1,
        0.0,
        0.0,
        0.0,
    ),
    # right span, wrong type: Chem is 1 FP, Gene is 1 FN
    "type": ([["B-Gene", "I-Gene"]], [["B-Chem", "I-Chem"]], "strict", 0, 1, 1, 0.0, 0.0, 0.0),
    # second Gene missed: P = 1/1, R = 1/2, F = 2/3
    "missed": (
        [["B-Gene", "O", "B-Gene"]],
        [["B-Gene", "O", "O"]],
        "strict",
        1,
        0,
        1,
        1.0,
        0.5,
        2 / 3,
    ),
    # extra Chem: P = 1/2, R = 1/1, F = 2/3
    "spurious": (
        [["B-Gene", "O", "O"]],
        [["B-Gene", "O", "B-Chem"]],
        "strict",
        1,
        1,
        0,
        0.5,
        1.0,
        2 / 3,
    ),
    # I- after O: strict ignores the pred span (0 predicted), default reads it as Gene(1-3)
    "i_after_o_strict": (
        [["O", "B-Gene", "I-Gene", "O"]],
        [["O", "I-Gene", "I-Gene", "O"]],
        "strict",
        0,
        0,
        1,
        0.0,
        0.0,
        0.0,
    ),
    "i_after_o_default": (
        [["O", "B-Gene", "I-Gene", "O"]],
        [["O", "I-Gene", "I-Gene", "O"]],
        "default",
        1,
        0,
        0,
        1.0,
        1.0,
        1.0,
    ),
}


@pytest.mark.parametrize("case", MENTION_CASES.values(), ids=MENTION_CASES.keys())
def test_mention_scores_hand_computed(case):
    gold, pred, mode, tp, fp, fn, p, r, f = case
    s = mention_scores(gold, pred, mode=mode)
    assert (s.tp, s.fp, s.fn) == (tp, fp, fn)
    assert (s.precision, s.recall, s.f1) == pytest.approx((p, r, f))


# Gold mentions: Gene s0[0:2], Chem s0[3], Gene s0[5], Disease s1[0:2], Chem s1[3]  -> 5
# Pred mentions: Gene s0[0:2] ok, Chem s0[3] ok, Disease s1[0:1] (boundary), Gene s1[3] (type)
# -> tp 2, fp 2, fn 3: P = 2/4, R = 2/5, F = 2*.5*.4/.9 = 4/9
MULTI_GOLD = [
    ["B-Gene", "I-Gene", "O", "B-Chem", "O", "B-Gene"],
    ["B-Disease", "I-Disease", "O", "B-Chem"],
]
MULTI_PRED = [["B-Gene", "I-Gene", "O", "B-Chem", "O", "O"], ["B-Disease", "O", "O", "B-Gene"]]


def test_mention_scores_per_type():
    s = mention_scores(MULTI_GOLD, MULTI_PRED)
    assert (s.tp, s.fp, s.fn) == (2, 2, 3)
    assert (s.precision, s.recall, s.f1) == pytest.approx((0.5, 0.4, 4 / 9))
    # (tp, fp, fn, support, P, R, F) per type
    expected = {
        "Gene": (1, 1, 1, 2, 0.5, 0.5, 0.5),  # gold 2, pred 2 (s0[0:2], s1[3])
        "Chem": (1, 0, 1, 2, 1.0, 0.5, 2 / 3),  # gold 2, pred 1
        "Disease": (0, 1, 1, 1, 0.0, 0.0, 0.0),  # boundary error
    }
    assert set(s.per_type) == set(expected)
    for name, (tp, fp, fn, support, p, r, f) in expected.items():
        t = s.per_type[name]
        assert (t.tp, t.fp, t.fn, t.support) == (tp, fp, fn, support), name
        assert (t.precision, t.recall, t.f1) == pytest.approx((p, r, f)), name


def test_all_outside_gives_zeros_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = mention_scores([["O", "O"]], [["O", "O"]])
        t = token_scores([["O", "O"]], [["O", "O"]])
    assert (s.precision, s.recall, s.f1, s.per_type) == (0.0, 0.0, 0.0, {})
    assert (t.f1, t.accuracy) == (0.0, 1.0)


# pos:   0       1       2  3       4
# gold:  B-Gene  I-Gene  O  O       B-Chem
# pred:  B-Gene  O       O  B-Chem  B-Chem
# B-Gene P1 R1 F1; I-Gene P0 R0 F0 (never predicted); B-Chem P1/2 R1 F2/3; O P1/2 R1/2 F1/2
TOKEN_GOLD = [["B-Gene", "I-Gene", "O", "O", "B-Chem"]]
TOKEN_PRED = [["B-Gene", "O", "O", "B-Chem", "B-Chem"]]


@pytest.mark.parametrize(
    "include_outside, p, r, f",
    [
        (False, (1 + 0 + 0.5) / 3, (1 + 0 + 1) / 3, (1 + 0 + 2 / 3) / 3),
        (True, (1.5 + 0.5) / 4, (2 + 0.5) / 4, (5 / 3 + 0.5) / 4),
    ],
)
def test_token_scores_macro(include_outside, p, r, f):
    t = token_scores(TOKEN_GOLD, TOKEN_PRED, include_outside=include_outside)
    assert (t.precision, t.recall, t.f1) == pytest.approx((p, r, f))
    assert t.accuracy == pytest.approx(3 / 5)  # positions 0, 2, 4 correct
    assert ("O" in t.labels) is include_outside


def test_evaluate_bundle():
    ev = evaluate(MULTI_GOLD, MULTI_PRED)
    assert ev.f1 == pytest.approx(4 / 9)
    assert ev.default.f1 == pytest.approx(4 / 9)  # all spans well formed: modes agree
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["strict"]["per_type"]["Chem"]["support"] == 2
    assert d["f1"] == pytest.approx(4 / 9)
    report = ev.report()
    assert "processed 10 tokens with 5 gold mentions; token accuracy:  70.00%." in report
    assert "recall:  40.00%; FB1:  44.44  (gold 5, found 4, correct 2)" in report
    assert "strict Disease" in report and "default Disease" in report and "token macro" in report


# Strict and default disagree only on a predicted I-X after O. conlleval reads it as the start
# of a mention (default mode); strict IOB2 drops it.
#   gold s0: B-Gene I-Gene O B-Chem    s1: B-Chem O
#   pred s0: B-Gene I-Gene O I-Chem    s1: O      I-Gene
# gold mentions: Gene s0[0:2], Chem s0[3], Chem s1[0]                          -> 3
# strict found:  Gene s0[0:2]                             -> found 1, correct 1
#   overall P 1/1, R 1/3, F 1/2; Chem found 0 (0/0/0, support 2); Gene 1/1 (100, support 1)
# default found: Gene s0[0:2], Chem s0[3], Gene s1[1]     -> found 3, correct 2
#   overall P 2/3, R 2/3, F 2/3; Chem P 1/1 R 1/2 F 2/3; Gene P 1/2 R 1/1 F 2/3
#   (conlleval on the same input: 3 phrases, found 3, correct 2; Chem 100/50/66.67,
#   Gene 50/100/66.67; the strict per-type numbers are not conlleval's)
# tokens: 3 of 6 right; labels B-Gene (1, 1, 1), I-Gene (1/2, 1, 2/3), B-Chem (0, 0, 0),
#   I-Chem (0, 0, 0) -> macro P 1.5/4, R 2/4, F (5/3)/4
MODES_GOLD = [["B-Gene", "I-Gene", "O", "B-Chem"], ["B-Chem", "O"]]
MODES_PRED = [["B-Gene", "I-Gene", "O", "I-Chem"], ["O", "I-Gene"]]
MODES_REPORT = "\n".join([
    "processed 6 tokens with 3 gold mentions; token accuracy:  50.00%.",
    "                strict: precision: 100.00%; recall:  33.33%; FB1:  50.00"
    "  (gold 3, found 1, correct 1)",
    "           strict Chem: precision:   0.00%; recall:   0.00%; FB1:   0.00"
    "  (found 0, support 2)",
    "           strict Gene: precision: 100.00%; recall: 100.00%; FB1: 100.00"
    "  (found 1, support 1)",
    "               default: precision:  66.67%; recall:  66.67%; FB1:  66.67"
    "  (gold 3, found 3, correct 2)",
    "          default Chem: precision: 100.00%; recall:  50.00%; FB1:  66.67"
    "  (found 1, support 2)",
    "          default Gene: precision:  50.00%; recall: 100.00%; FB1:  66.67"
    "  (found 2, support 1)",
    " token macro (excl. O): precision:  37.50%; recall:  50.00%; FB1:  41.67",
])


def test_report_labels_per_type_lines_with_their_mode():
    ev = evaluate(MODES_GOLD, MODES_PRED)
    assert (ev.strict.tp, ev.strict.fp, ev.strict.fn) == (1, 0, 2)
    assert (ev.default.tp, ev.default.fp, ev.default.fn) == (2, 1, 1)
    chem, gene = ev.default.per_type["Chem"], ev.default.per_type["Gene"]
    assert (chem.precision, chem.recall, chem.f1) == pytest.approx((1, 1 / 2, 2 / 3))
    assert (gene.precision, gene.recall, gene.f1) == pytest.approx((1 / 2, 1, 2 / 3))
    assert ev.report() == MODES_REPORT


@pytest.mark.parametrize("bad", ["X", "b-gene", "B-", "S-Gene", "E-Gene", "I-"])
def test_tags_seqeval_would_misread_are_refused(bad):
    with pytest.raises(ValueError, match=rf"pred sentence 1: tag '{bad}' is not IOB2"):
        evaluate([["O"], ["B-Gene"]], [["O"], [bad]])
    with pytest.raises(ValueError, match=rf"gold sentence 0: tag '{bad}' is not IOB2"):
        mention_scores([[bad]], [["O"]], mode="default")


# words: IL-2 = [IL, -, 2], gene = [gene], expression = [expr, ##ession]; [CLS]/[SEP]/pad ignored
SUBWORD_TAGS = ["O", "B-Gene", "I-Gene", "I-Gene", "I-Gene", "O", "B-Chem", "O", "O"]
WORD_IDS = [None, 0, 0, 0, 1, 2, 2, None, -1]


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("first", ["B-Gene", "I-Gene", "O"]),
        ("last", ["I-Gene", "I-Gene", "B-Chem"]),
    ],
)
def test_word_level_tags(strategy, expected):
    assert word_level_tags(SUBWORD_TAGS, WORD_IDS, strategy=strategy) == expected


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mention_scores([["O"], ["O", "O"]], [["O"], ["O"]]), r"sentence 1.* 2 .* 1"),
        (lambda: token_scores([["O"]], [["O", "O"]]), r"sentence 0.* 1 .* 2"),
        (lambda: evaluate([["O"]], []), "sentences"),
        (lambda: mention_scores([["O"]], [["O"]], mode="lenient"), "unknown mode"),
        (lambda: word_level_tags(["O"], [0], strategy="mean"), "first.*last"),
        (lambda: word_level_tags(["O", "O"], [0, 2]), r"\[1\]"),
        (lambda: word_level_tags(["O"], [0, 1]), "word ids"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
