"""Tokenise and sentence-split plain text the way the bundled corpora were tokenised.

The models only ever saw the pre-tokenised corpora (Crichton et al. 2017), so user text must be
cut the same way or the model meets token shapes it never trained on. The rules below were
measured on the training splits of BC2GM, BC5CDR, NCBI-disease, BioNLP09/11ID/13CG/13GE, Ex-PTM
and Linnaeus:

* Every character that is not a letter or digit is a token of its own: ``S-100`` -> ``S - 100``,
  ``HMB-45`` -> ``HMB - 45``, ``IL-2/IL-4`` -> ``IL - 2 / IL - 4``, ``(n=49)`` ->
  ``( n = 49 )``, ``Crohn's`` -> ``Crohn ' s``, ``Ca2+`` -> ``Ca2 +``. No corpus token longer
  than one character holds punctuation, except 9 types in Linnaeus (``+/-``, ``-->``, ``(TM)``,
  ``>=``...), ASCII spellings of single symbols such as ``±`` that are one token here too.
* Decimal points and thousands separators are split as well: BC2GM writes ``3 . 0 %`` and
  ``0 . 5 g`` (1,921 digit-``.``-digit triples in its training split, no token like ``0.5``)
  and ``1 , 000``; so ``0.05`` -> ``0 . 05``.
* Letters and digits are NOT split apart: ``p53``, ``Sp1``, ``RING1``, ``IL2``, ``11q22``,
  ``4aS`` stay whole (BC2GM train: 7,313 tokens mix letters and digits, ``p53`` 66 times; a
  letter token directly followed by a number token is rarer and looks like a space in the
  original: ``AT 250``, ``x 10``).
* Letters of any script are word characters (``α``, ``β``, ``é``); combining marks stay with
  the letter before them and invisible joiners (soft hyphen, ZWJ, ZWNJ, word joiner) inside a
  word are kept in it. Whitespace of any kind (tabs, NBSP, newlines) and other control or
  format characters (zero-width space, BOM) only separate tokens, never become one. The corpora
  are ASCII (``alpha``, ``beta``); a Greek letter stays as written so offsets slice the text.

Sentences end at ``.``, ``!`` or ``?`` (with any closing brackets or quotes glued to it) that
is followed by whitespace and then an upper-case letter, a digit, an opening bracket, or a word
holding an upper-case letter or digit (``mRNA``, ``p53``, ``c-Myc``: biomedical sentences often
start with one), or by the end of the text; and always at a blank line. A period after a known
abbreviation (``e.g.``, ``i.e.``, ``et al.``, ``vs.``, ``Fig.``, ``approx.``, ``Dr.``, ...), a
dotted abbreviation (``U.S.``) or a single capital initial (``J. Smith``, ``E. coli``) does not
end a sentence, with two exceptions: a capital after a lower-case word other than ``by``,
``and``, ``with``... is a label, not an initial (``amphotericin B. Patterns``, ``type I. The``),
and an initial or ``et al.`` followed by a common opening word (``The``, ``We``, ``However``)
does end one (``U.S. The``, ``et al. The``). Known misses: a sentence that starts with an
all-lower-case word (``... leukemogenesis. c-myb is``), and one that ends in an abbreviation
(``... in PR vs. The effect``).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Token:
    """A token and where it sits in the original text: ``original[start:end] == text``."""

    text: str
    start: int
    end: int


# Characters kept inside a word when they sit between word characters: invisible joiners.
_JOINERS = "\u00ad\u200c\u200d\u2060"
_TERMINATORS = frozenset(".!?")
_CLOSERS = frozenset(")]}\"'\u2019\u201d\u00bb")
_OPENERS = frozenset("([{\u2018\u201c\u00ab")
# Periods after these (exact spelling, without the period) do not end a sentence.
ABBREVIATIONS = frozenset("""
    al e.g E.g eg i.e I.e ie vs Vs cf Cf viz
    fig Fig FIG figs Figs FIGS eq Eq Eqs eqs ref Ref refs Refs tab Tab suppl Suppl
    approx Approx ca resp incl pp vol Vol vols Vols No Nos
    sp spp subsp ssp var cv
    Dr Drs Mr Mrs Ms Prof St Jr Sr Inc Ltd Corp Co Dept Univ
""".split())
# After an initial or "et al." these words open a new sentence ("U.S. The ...").
OPENING_WORDS = frozenset("""
    The This These Those That There Then In We Our It Its Here However Thus Therefore Hence
    Moreover Furthermore Finally Although Whereas When While Since All To For Using Both Such
    Each Similarly Additionally Conversely Interestingly Notably Recently Previously
    Nevertheless Consequently Overall Taken Most Several Many Some Further
""".split())
# Lower-case words that may come before a name's initial ("by J. Smith", "with S. Typhimurium");
# after any other lower-case word a capital is a label ("vitamin C", "type I") and may end one.
NAME_LEADS = frozenset("""
    and or by of from with to for in on at as than between against versus vs including like
    into see cf et nor both either
""".split())
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # e.g, i.e, U.S, J.R
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n|\u2029")  # a blank line (or a paragraph separator)


def _char_class(codes: list[int]) -> str:
    """A regex character class body: the sorted code points as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    """Built on first use (one scan of the Unicode tables, ~0.1 s) rather than at import:
    the standard `re` has no \\p{M} for combining marks."""
    marks, dropped = [], []
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category[0] == "M":
            marks.append(code)
        elif category in ("Cc", "Cf") and not chr(code).isspace():
            dropped.append(code)
    marks, dropped = _char_class(marks), _char_class(dropped)
    word = rf"[^\W_](?:[^\W_]|[{marks}]|[{_JOINERS}](?=[^\W_]))*"
    other = rf"(?:_|[^\w\s{dropped}])[{marks}]*"  # one symbol (a stray mark is one too)
    return re.compile(f"{word}|{other}")


def _tokens(text: str, start: int, end: int, base: int) -> list[Token]:
    """Tokens of text[start:end], with offsets shifted by `base`."""
    return [Token(m.group(), m.start() + base, m.end() + base)
            for m in _token_pattern().finditer(text, start, end)]


def tokenize(text: str) -> list[Token]:
    """Split `text` into corpus-style tokens with character offsets into `text`."""
    return _tokens(text, 0, len(text), 0)


def _glued(a: Token, b: Token) -> bool:
    return a.end == b.start


def _ends_sentence(text: str, tokens: list[Token], run: int, after: int, base: int) -> bool:
    """Does the run of terminators and closers tokens[run:after] end a sentence? `text` is
    the string the offsets point into, shifted by `base`."""
    if after < len(tokens):
        if _glued(tokens[after - 1], tokens[after]):
            return False  # "3.5", "e.g", "end.)The": no whitespace after the run
        last = after  # the next whitespace-delimited word, e.g. "c-Myc"
        while last + 1 < len(tokens) and _glued(tokens[last], tokens[last + 1]):
            last += 1
        word = text[tokens[after].start - base:tokens[last].end - base]
        if not (word[0].isupper() or word[0].isdigit() or word[0] in _OPENERS
                or any(c.isupper() or c.isdigit() for c in word)):
            return False
    period = next(i for i in range(after - 1, run - 1, -1) if tokens[i].text in _TERMINATORS)
    if tokens[period].text != ".":
        return True
    first = period
    while first > 0 and _glued(tokens[first - 1], tokens[first]):
        first -= 1
    if first == period:
        return True
    word = text[tokens[first].start - base:tokens[period].start - base].lstrip("".join(_OPENERS))
    initial = word.isupper() and (len(word) == 1 or _DOTTED.fullmatch(word) is not None)
    if initial and len(word) == 1 and first > 0:
        before = tokens[first - 1].text
        if before.isalpha() and before.islower() and before not in NAME_LEADS:
            initial = False  # a label, not a name: "vitamin C.", "type I.", "hex A."
    if (initial or word == "al") and after < len(tokens) and tokens[after].text in OPENING_WORDS:
        return True  # "J. The", "U.S. The", "et al. The"
    return not (initial or word in ABBREVIATIONS or _DOTTED.fullmatch(word))


def _sentences(text: str, start: int, end: int, base: int) -> list[list[Token]]:
    """Sentences of one paragraph text[start:end]; the end of the span counts as end of text."""
    tokens = _tokens(text, start, end, base)
    sentences: list[list[Token]] = []
    first = i = 0
    while i < len(tokens):
        if tokens[i].text not in _TERMINATORS:
            i += 1
            continue
        j = i + 1  # the run: "?!", "...", ".)", '."'
        while (j < len(tokens) and _glued(tokens[j - 1], tokens[j])
               and (tokens[j].text in _TERMINATORS or tokens[j].text in _CLOSERS)):
            j += 1
        if _ends_sentence(text, tokens, i, j, base):
            sentences.append(tokens[first:j])
            first = j
        i = j
    if first < len(tokens):
        sentences.append(tokens[first:])
    return sentences


def split_sentences(text: str) -> list[list[Token]]:
    """Split `text` into sentences of tokens (offsets into `text`); blank lines always split."""
    sentences: list[list[Token]] = []
    start = 0
    for match in _PARAGRAPH.finditer(text):
        sentences += _sentences(text, start, match.start(), 0)
        start = match.end()
    sentences += _sentences(text, start, len(text), 0)
    return sentences


def _text_end(buffer: str) -> int:
    """Index just after the last non-whitespace character (a blank line can only start there)."""
    i = len(buffer)
    while i > 0 and buffer[i - 1].isspace():
        i -= 1
    return i


def iter_sentences(lines: Iterable[str], *, max_buffer: int = 1 << 20,
                   max_sentence: int | None = None) -> Iterator[list[Token]]:
    """Stream sentences from text given in pieces (the lines of a file opened in text mode,
    each keeping its newline, or any chunks): the same sentences and offsets as
    `split_sentences` on the concatenation, holding one paragraph in memory at a time.

    Offsets count characters (code points) of the concatenated pieces. A paragraph longer than
    `max_buffer` characters is cut at a sentence boundary whose decision is already final (the
    token after it is complete), so memory stays bounded unless one sentence is that long.
    With `max_sentence`, a sentence still unfinished after that many characters is cut too
    (before its last complete token), so text with no sentence end (a log, a table dump)
    streams in bounded memory; without it, such a sentence is kept whole.
    """
    buffer = ""
    base = 0  # stream offset of buffer[0]
    scan = 0  # a blank line can only start at or after this index of buffer
    limit = max_buffer
    for piece in lines:
        buffer += piece
        while (match := _PARAGRAPH.search(buffer, scan)) is not None:
            yield from _sentences(buffer, 0, match.start(), base)
            base += match.end()
            buffer = buffer[match.end():]
            scan, limit = 0, max_buffer
        scan = _text_end(buffer)
        if len(buffer) > limit:
            cut = len(buffer)
            while cut > 0 and not buffer[cut - 1].isspace():
                cut -= 1  # leave the last, maybe unfinished, word out of the decision
            sentences = _sentences(buffer, 0, cut, base)
            if len(sentences) == 1 and max_sentence and len(buffer) > max_sentence \
                    and len(sentences[0]) > 1:
                # no sentence end in sight: cut before the last token, which may still end one
                sentences = [sentences[0][:-1], sentences[0][-1:]]
            if len(sentences) > 1:
                yield from sentences[:-1]
                keep = sentences[-1][0].start - base
                base += keep
                buffer = buffer[keep:]
                scan = _text_end(buffer)
            limit = len(buffer) + max_buffer
    yield from _sentences(buffer, 0, len(buffer), base)
