"""Tag schemes: IOB2 on disk, IOBES on request, lossless both ways for valid sequences.

Functions work on one sentence (a sequence of tag strings) and report problems by position,
so the reader can turn a position into a file line.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

OUTSIDE = "O"
IOB2_PREFIXES = frozenset("BI")
IOBES_PREFIXES = frozenset("BIES")
SCHEMES = ("IOB2", "IOBES")


def split_tag(tag: str) -> tuple[str, str]:
    """'B-Gene' -> ('B', 'Gene'); 'O' -> ('O', ''). Types may contain '-' (Regulon-operon)."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, entity_type = tag.partition("-")
    if not sep or len(prefix) != 1 or not entity_type:
        raise ValueError(f"tag {tag!r} is neither O nor PREFIX-TYPE such as B-Gene")
    return prefix, entity_type


def entity_type(tag: str) -> str:
    return split_tag(tag)[1]


@functools.lru_cache(maxsize=4096)  # a corpus has few distinct tags and millions of tokens
def tag_problem(tag: str) -> str | None:
    """What is wrong with one tag, as the rest of a sentence starting with the tag; None if
    it is O or B-/I-/E-/S-TYPE. The reader and the scorer share this one check."""
    if tag == OUTSIDE:
        return None
    if not tag:
        return "is empty; write O or B-TYPE/I-TYPE"
    if any(c.isspace() for c in tag):
        return "has whitespace inside; columns are separated by one tab"
    prefix, sep, kind = tag.partition("-")
    if sep and len(prefix) == 1 and prefix.upper() in IOBES_PREFIXES and prefix not in "BIES":
        return f"has a lower-case prefix; write {prefix.upper()}-{kind}"
    if not sep or len(prefix) != 1 or prefix not in IOBES_PREFIXES:
        return "is not O, B-TYPE, I-TYPE (or IOBES S-/E-)"
    if not kind:
        return f"has no entity type; write {prefix}-TYPE, e.g. {prefix}-Gene"
    if kind.startswith("-") or kind.endswith("-"):
        return (f"has an entity type {kind!r} that starts or ends with '-' (scorers disagree "
                "on such types); rename the type")
    return None


def detect_scheme(tags: Sequence[str]) -> str:
    """IOBES if any S- or E- tag occurs, else IOB2 (IOB2 tags alone are ambiguous)."""
    return "IOBES" if any(t[:2] in ("S-", "E-") for t in tags) else "IOB2"


def iob2_violation(tags: Sequence[str]) -> int | None:
    """Index of the first tag that breaks IOB2 (I-X not after B-X or I-X), or None."""
    previous = OUTSIDE
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix not in IOB2_PREFIXES and prefix != OUTSIDE:
            return i
        if prefix == "I" and previous not in (f"B-{kind}", f"I-{kind}"):
            return i
        previous = tag
    return None


def iobes_violation(tags: Sequence[str]) -> int | None:
    """Index of the first tag that breaks IOBES, or None; len(tags) if the last mention is open."""
    open_type = None  # type of a mention started by B- and not yet closed by E-
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix not in IOBES_PREFIXES and prefix != OUTSIDE:
            return i
        inside = prefix in ("I", "E")
        if inside != (open_type is not None) or (inside and kind != open_type):
            return i
        open_type = kind if prefix in ("B", "I") else None
    return len(tags) if open_type is not None else None


def iobes_problem(tags: Sequence[str]) -> tuple[int, str] | None:
    """The first break of IOBES as (index of the tag to fix, why), or None. Tags must each
    pass `tag_problem`."""
    bad = iobes_violation(tags)
    if bad is None:
        return None
    if bad == len(tags):
        kind = entity_type(tags[-1])
        return bad - 1, (f"the sentence ends inside a {kind} mention; end it with E-{kind} "
                         f"(a one-token mention is S-{kind})")
    tag, previous = tags[bad], tags[bad - 1] if bad else None
    prefix, kind = split_tag(tag)
    open_kind = entity_type(previous) if previous and previous[:2] in ("B-", "I-") else None
    if open_kind is None:
        where = f"after {previous}" if previous else "at the sentence start"
        return bad, f"{tag} {where} continues no mention; IOBES starts one with B- or S-"
    if prefix in ("I", "E"):
        return bad, (f"{tag} inside a {open_kind} mention; continue it with I-{open_kind} or "
                     f"end it with E-{open_kind}")
    return bad - 1, (f"{previous} is followed by {tag}, so the {open_kind} mention never ends; "
                     f"end it with E-{open_kind} (a one-token mention is S-{open_kind})")


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn every I-X that follows neither B-X nor I-X into B-X; return tags and repair count."""
    fixed, repairs = [], 0
    previous = OUTSIDE
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and previous not in (f"B-{kind}", f"I-{kind}"):
            tag, repairs = f"B-{kind}", repairs + 1
        fixed.append(tag)
        previous = tag
    return fixed, repairs


def iob2_to_iobes(tags: Sequence[str]) -> list[str]:
    """Single-token mentions become S-, mention ends become E-. Input must be valid IOB2."""
    out = []
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        continues = i + 1 < len(tags) and tags[i + 1] == f"I-{kind}"
        if prefix == "B":
            out.append(tag if continues else f"S-{kind}")
        elif prefix == "I":
            out.append(tag if continues else f"E-{kind}")
        else:
            out.append(tag)
    return out


def iobes_to_iob2(tags: Sequence[str]) -> list[str]:
    """S- becomes B-, E- becomes I-, tag by tag (a label list too). Input must be valid IOBES;
    iobes_to_iob2_repaired reads any sequence."""
    mapping = {"S": "B", "E": "I"}
    out = []
    for tag in tags:
        prefix, kind = split_tag(tag)
        out.append(f"{mapping[prefix]}-{kind}" if prefix in mapping else tag)
    return out


def iobes_to_iob2_repaired(tags: Sequence[str]) -> list[str]:
    """Any IOBES sequence (a model's unconstrained decode too) as valid IOB2 with the mentions
    a lenient reader finds in it: a mention starts at B-X or S-X, or at an I-X or E-X that
    does not continue one (the tag before it is not B-X or I-X); it goes on through I-X and
    E-X after B-X or I-X, and ends after E-X or S-X or before any tag that does not continue
    it. This is how seqeval's default (conlleval-style) mode chunks IOBES, so `I-X E-X` is one
    mention (B-X I-X), `B-X O` one (B-X O), `S-X I-X` and `E-X I-X` two (B-X B-X), `B-X E-Y`
    two of different types. A valid IOBES sequence converts exactly as iobes_to_iob2."""
    out, previous = [], OUTSIDE
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == OUTSIDE:
            out.append(tag)
        elif prefix in ("I", "E") and previous in (f"B-{kind}", f"I-{kind}"):
            out.append(f"I-{kind}")
        else:
            out.append(f"B-{kind}")
        previous = tag
    return out


def convert(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert a valid IOB2 or IOBES sentence to `scheme`, detecting the source scheme."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    source = detect_scheme(tags)
    if source == scheme:
        return list(tags)
    return iob2_to_iobes(tags) if scheme == "IOBES" else iobes_to_iob2(tags)


def count_mentions(tags: Sequence[str]) -> int:
    """Mentions start with B- (or S- in IOBES)."""
    return sum(1 for t in tags if t[:2] in ("B-", "S-"))
