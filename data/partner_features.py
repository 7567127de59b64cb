"""Features of a (main, partner) pair of NER corpora that may predict the partner's gain, each
computed in seconds from the two training splits (no model, no training).

Word types and entity surface forms are lower-cased; a surface form is a mention's tokens
joined by one space. Every feature reads the training splits only (full, whatever share of the
main corpus a preset trains on). `FEATURES` names them, in the order tables print them, each
with one line on why it may predict a gain.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from bioner_mtl.data import corpora
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence, read_split

FEATURES = {
    "class_overlap": "share of the main's entity classes (registry) the partner annotates: the "
                     "same entity type is what CRICHTON found helps most often",
    "mention_coverage": "share of the main's training mentions whose surface form the partner "
                        "annotates: the partner teaches the very names the main must find",
    "entity_jaccard": "Jaccard of the two sets of entity surface forms: shared entity "
                      "vocabulary, in both directions",
    "token_coverage": "share of the main's training tokens whose word type the partner has: "
                      "how much of the main's text the shared encoder also sees there",
    "vocab_jaccard": "Jaccard of the two sets of word types: shared text vocabulary",
    "js_divergence": "Jensen-Shannon divergence (base 2, 0..1) of the unigram distributions: "
                     "how different the texts are (lower: more alike)",
    "log_size_ratio": "ln(partner / main training sentences): a larger partner brings more "
                      "signal, and more of the schedule's batches",
    "density_diff": "partner minus main entity tokens per token: a partner much denser or "
                    "sparser in entities pulls the shared encoder's tag prior away",
}
MISSING_CLASSES = "no registry classes (a corpus given as a directory): class_overlap missing"


@dataclass(frozen=True)
class Profile:
    """What the features need of one corpus's training split."""

    name: str
    classes: tuple[str, ...] | None  # registry entity classes; None for a user's directory
    sentences: int
    tokens: int
    entity_tokens: int
    types: Counter  # lower-cased word type -> count
    mentions: Counter  # lower-cased surface form -> count


def mentions_of(sentence: Sentence) -> list[str]:
    """The lower-cased surface forms of a sentence's IOB2 mentions."""
    found, current = [], []
    for token, tag in zip(sentence.tokens, sentence.tags):
        prefix = tag[:2]
        if prefix == "B-" or (prefix == "I-" and not current):
            if current:
                found.append(" ".join(current))
            current = [token.lower()]
        elif prefix == "I-":
            current.append(token.lower())
        else:
            if current:
                found.append(" ".join(current))
            current = []
    if current:
        found.append(" ".join(current))
    return found


def train_split(name: str) -> list[Sentence]:
    """A corpus's training sentences: a bundled whole corpus reads its train file only; a
    derived corpus or a user's directory loads as training does."""
    spec = corpora.spec_for(name)
    if spec.kind != "ner":
        raise InputError(f"{name} is a part-of-speech corpus, not NER: the recommender ranks "
                         "NER partners of an NER main corpus")
    if name in corpora.REGISTRY and spec.parent is None:
        return read_split(corpora.source_files(name, ("train",))[0])
    return corpora.load_corpus(name).train


@functools.lru_cache(maxsize=64)
def profile(name: str) -> Profile:
    """The training split's counts of a corpus (a registered name or a directory)."""
    name = str(name)
    sentences = train_split(name)
    types: Counter = Counter()
    mentions: Counter = Counter()
    entity_tokens = 0
    for s in sentences:
        types.update(t.lower() for t in s.tokens)
        mentions.update(mentions_of(s))
        entity_tokens += sum(tag != "O" for tag in s.tags)
    spec = corpora.spec_for(name)
    classes = spec.classes if spec.types else None  # a directory's spec has no types
    return Profile(spec.name, classes, len(sentences),
                   sum(types.values()), entity_tokens, types, mentions)


def jaccard(a, b) -> float:
    union = len(set(a) | set(b))
    return len(set(a) & set(b)) / union if union else 0.0


def coverage(main: Counter, partner: Counter) -> float:
    """Share of the main's occurrences whose key the partner has."""
    total = sum(main.values())
    return sum(n for key, n in main.items() if key in partner) / total if total else 0.0


def js_divergence(a: Counter, b: Counter) -> float:
    """Jensen-Shannon divergence of two count distributions, base 2 (0: equal, 1: disjoint)."""
    keys = list(set(a) | set(b))
    p = np.array([a.get(k, 0) for k in keys], dtype=float)
    q = np.array([b.get(k, 0) for k in keys], dtype=float)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nonzero = x > 0
        return float(np.sum(x[nonzero] * np.log2(x[nonzero] / m[nonzero])))

    return max(0.0, (kl(p) + kl(q)) / 2)


def class_overlap(main: Profile, partner: Profile) -> float | None:
    if main.classes is None or partner.classes is None or not main.classes:
        return None
    return len(set(main.classes) & set(partner.classes)) / len(main.classes)


def pair_features(main: Profile, partner: Profile) -> dict[str, float | None]:
    """Every feature of FEATURES for one pair (None: missing, see MISSING_CLASSES)."""
    return {
        "class_overlap": class_overlap(main, partner),
        "mention_coverage": coverage(main.mentions, partner.mentions),
        "entity_jaccard": jaccard(main.mentions, partner.mentions),
        "token_coverage": coverage(main.types, partner.types),
        "vocab_jaccard": jaccard(main.types, partner.types),
        "js_divergence": js_divergence(main.types, partner.types),
        "log_size_ratio": math.log(partner.sentences / main.sentences),
        "density_diff": partner.entity_tokens / partner.tokens - main.entity_tokens / main.tokens,
    }


def features(main: str, partner: str) -> dict[str, float | None]:
    """The features of a (main, partner) pair of corpora, by name or directory."""
    return pair_features(profile(str(main)), profile(str(partner)))
