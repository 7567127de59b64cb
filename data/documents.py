"""Annotated documents in the formats annotators and shared tasks use, and their sentences.

Readers and writers for three formats, all with character offsets into the document's text:

* **BRAT standoff**: a directory (searched recursively, symbolic links to folders followed;
  a folder reached twice is refused) of ``NAME.txt`` + ``NAME.ann``; ``T``
  lines ``T1<TAB>Gene 0 5<TAB>BRCA1`` are mentions, discontinuous ones ``Gene 0 5;10 15``;
  other lines (relations, events, attributes, notes) are ignored.
* **BioC** XML and JSON (the format is read from the file's first character): collection >
  documents > passages (with their offset, and text or sentences) > annotations (an infon
  ``type``, one or more locations with document offsets). Read with the standard library.
* **PubTator**: ``PMID|t|title``, ``PMID|a|abstract``, then mention lines
  ``PMID<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>id]``; the abstract starts one character
  after the title. Relation lines (``PMID<TAB>CID<TAB>...``: a relation type, a word of
  letters, in the second column) are ignored and counted in the summary; any other line must
  be a mention line with whole-number offsets (``3.9``, ``1x`` or ``1²`` stop, naming the
  line). Document ids holding ``|``, a tab or a line break cannot be written as PubTator.

Offsets are whole numbers (a BioC JSON ``3.9`` is refused, not cut to 3) and text fields are
text (a number where a passage's or an annotation's text belongs is refused).

`tag_documents` cuts each passage into sentences and tokens with `data.text` (offsets kept)
and turns the mentions into IOB2 tags. A problem in a file that leaves no sensible reading (a
malformed line, a missing file, a duplicate id) raises InputError naming file and line; a
problem in one mention is resolved, logged as one warning line naming file and offset, and
counted in a summary line at the end:

* overlapping or nested mentions: the longer is kept, then the earlier, then the one first
  in the file; the others are dropped;
* a span that cuts a token (``BRCA1`` of ``BRCA1-mutant`` is whole, ``RCA`` is not): widened
  to the boundaries of the tokens it touches (leading or trailing whitespace is trimmed
  silently);
* a discontinuous span: kept as the covering span, first start to last end;
* offsets outside the text, a span that holds no token, a type not in the given type list:
  the mention is dropped (the type once per type, with the count at the end);
* a mention text that differs from the text at its offsets (whitespace aside): the offsets
  are kept;
* a mention that crosses a sentence boundary: the sentences are joined into one;
* an empty document: skipped.

A document's offsets are also checked as a whole: offsets counted in other units than
characters (a Windows line end as one character, UTF-16 code units, UTF-8 bytes) shift every
later mention a little further, so each one alone would only look like a mismatch. When the
mention texts fit the text only counted in one of those units, the offsets are converted
(said once, counted in the summary); when most of them (3 or more) fit neither way, the
document is refused.
"""

from __future__ import annotations

import bisect
import json
import logging
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bioner_mtl.data import tags as tagging
from bioner_mtl.data.atomic import write_text
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence
from bioner_mtl.data.text import Token, split_sentences

log = logging.getLogger(__name__)

FORMATS = ("brat", "bioc", "pubtator")
PUBTATOR_SUFFIXES = (".pubtator", ".pubtator.txt", ".pubtator3")
_ANN_LINE = re.compile(r"(\S+) ([0-9]+ [0-9]+(?:;[0-9]+ [0-9]+)*)")
_OFFSET = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also takes '²'
# a PubTator relation line's second column: a relation type (CID, Association, ...)
_RELATION = re.compile(r"[A-Za-z][A-Za-z_-]*")


@dataclass(frozen=True)
class Mention:
    """An annotated span: document-level character offsets, a type, where the file has it."""

    start: int
    end: int
    type: str
    text: str = ""  # the mention text the file gives ("" when it gives none)
    id: str = ""
    fragments: tuple[tuple[int, int], ...] = ()  # a discontinuous span's pieces (2 or more)
    infons: dict[str, str] = field(default_factory=dict, compare=False)  # other fields
    where: str = field(default="", compare=False)  # "file:line" or "file: document D ..."


@dataclass(frozen=True)
class Passage:
    offset: int  # where the passage starts in the document
    text: str
    infons: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Document:
    id: str
    passages: tuple[Passage, ...]
    mentions: tuple[Mention, ...] = ()
    source: str = ""  # the file it was read from
    infons: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        """The passages at their offsets; a gap between them is filled with newlines."""
        parts, position = [], 0
        for passage in self.passages:
            parts += ["\n" * (passage.offset - position), passage.text]
            position = passage.offset + len(passage.text)
        return "".join(parts)


@dataclass(frozen=True)
class TaggedSentence:
    tokens: tuple[Token, ...]  # offsets into the document's text
    tags: tuple[str, ...]  # IOB2


@dataclass(frozen=True)
class TaggedDocument:
    id: str
    sentences: tuple[TaggedSentence, ...]
    mentions: tuple[Mention, ...]  # the mentions the tags hold (after the resolutions)


PROBLEMS = {  # kind -> how the summary line counts it
    "overlap": "overlapping or nested (dropped)",
    "widened": "cutting a token (widened to token boundaries)",
    "discontinuous": "discontinuous (kept as the covering span)",
    "outside": "outside the text (dropped)",
    "no-token": "holding no token (dropped)",
    "mismatch": "mention text differing from the text at the offsets (offsets kept)",
    "type": "of a type not in --types (dropped)",
    "crossing": "crossing a sentence boundary (sentences joined)",
    "empty": "empty documents (skipped)",
    "no-ann": ".txt files without .ann (read without mentions)",
    "units": "documents whose offsets count other units than characters (converted)",
}
NOTES = {  # kind -> how the summary line counts what was read and set aside (not a problem)
    "relation": "relation lines ignored",
}


class Problems:
    """Recoverable problems: one warning line each when found, counts for the summary."""

    def __init__(self, types: Sequence[str] | None = None):
        self.counts: Counter[str] = Counter()
        self.types = tuple(types) if types else None
        self.unknown_types: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.said: set = set()  # what warn_once has said

    def warn(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        log.warning("%s", message)

    def warn_once(self, kind: str, key, message: str) -> None:
        """Count a problem; say it only the first time for `key` (e.g. a file and a cause)."""
        self.counts[kind] += 1
        if key not in self.said:
            self.said.add(key)
            log.warning("%s", message)

    def note(self, kind: str) -> None:
        """Count a line read and set aside on purpose (the summary names it, no warning)."""
        self.notes[kind] += 1

    def summary(self, what: str) -> str:
        found = [f"{n} {PROBLEMS[k]}" for k, n in self.counts.items() if n]
        if self.unknown_types:
            found.append("dropped types: " + ", ".join(
                f"{t} ({n})" for t, n in sorted(self.unknown_types.items())))
        text = f"{what}: " + ("; ".join(found) if found else "no problems")
        notes = [f"{n} {NOTES[k]}" for k, n in self.notes.items() if n]
        return text + (f" ({'; '.join(notes)})" if notes else "")


# --- reading ----------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # offsets count \r too
            return handle.read()
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); "
                         "re-encode it as UTF-8") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err}); check the path") from None


def files_under(directory: Path) -> list[Path]:
    """Every file under `directory`, sorted, symbolic links to folders followed (Path.rglob
    skips them). A folder reached twice (two links to it, or a link back up the tree) is
    refused: its documents would be read twice, under two ids."""
    found: list[Path] = []
    seen: dict[Path, Path] = {}

    def walk(folder: Path) -> None:
        real = folder.resolve()
        if real in seen:
            raise InputError(f"{folder}: the same folder as {seen[real]} (a symbolic link); "
                             "its documents would be read twice: remove one of them")
        seen[real] = folder
        try:
            entries = sorted(folder.iterdir())
        except OSError as err:
            raise InputError(f"{folder}: cannot read ({err.strerror or err}); check the "
                             "path") from None
        for entry in entries:
            if entry.is_dir():
                walk(entry)
            elif entry.is_file():
                found.append(entry)

    walk(Path(directory))
    return sorted(found)


def _check_type(kind: str, where: str) -> str:
    problem = tagging.tag_problem(f"B-{kind}") if kind else "is empty"
    if problem is not None:
        raise InputError(f"{where}: entity type {kind!r} cannot be a tag type (B-{kind} "
                         f"{problem}); rename the type")
    return kind


def _mention(fragments: list[tuple[int, int]], kind: str, text: str, ident: str,
             where: str, infons: dict | None = None) -> Mention:
    for start, end in fragments:
        if start < 0 or end <= start:
            raise InputError(f"{where}: span {start}-{end} is empty or reversed; an entity "
                             "needs start < end")
    fragments.sort()
    return Mention(fragments[0][0], max(e for _, e in fragments), _check_type(kind, where), text,
                   ident, tuple(fragments) if len(fragments) > 1 else (), dict(infons or {}),
                   where)


def read_brat(directory: str | Path, problems: Problems | None = None) -> list[Document]:
    """Every NAME.txt (+ NAME.ann) under `directory`; document ids are paths without suffix."""
    directory, problems = Path(directory), problems or Problems()
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory; BRAT documents are a directory of "
                         "NAME.txt and NAME.ann files")
    files = files_under(directory)
    texts = [p for p in files if p.suffix == ".txt"]
    for ann in (p for p in files if p.suffix == ".ann"):
        if not ann.with_suffix(".txt").is_file():
            raise InputError(f"{ann}: no {ann.with_suffix('.txt').name} beside it; the "
                             "offsets point into that text")
    if not texts:
        raise InputError(f"{directory}: no .txt files; BRAT documents are NAME.txt with "
                         "NAME.ann beside it")
    documents = []
    for path in texts:
        text = _read_text(path)
        ann = path.with_suffix(".ann")
        mentions = []
        if ann.is_file():
            mentions = _brat_mentions(ann)
        else:
            problems.warn("no-ann", f"{path}: no {ann.name} beside it; read as a document "
                                    "without mentions")
        documents.append(Document(path.relative_to(directory).with_suffix("").as_posix(),
                                  (Passage(0, text),), tuple(mentions), str(path)))
    return documents


def _brat_mentions(ann: Path) -> list[Mention]:
    mentions, seen = [], {}
    for number, line in enumerate(_read_text(ann).splitlines(), start=1):
        if not line.startswith("T"):
            continue  # relations, events, attributes, normalisations, notes
        where = f"{ann}:{number}"
        fields = line.split("\t")
        match = _ANN_LINE.fullmatch(fields[1]) if len(fields) >= 2 else None
        if len(fields) < 2 or match is None:
            raise InputError(f"{where}: not a BRAT text-bound line (want "
                             "'T1<TAB>Type START END<TAB>text', discontinuous "
                             f"'Type 0 5;10 15'): {line[:60]!r}")
        ident = fields[0]
        if ident in seen:
            raise InputError(f"{where}: id {ident} again (first on line {seen[ident]}); give "
                             "each entity its own id")
        seen[ident] = number
        fragments = [tuple(map(int, piece.split())) for piece in match.group(2).split(";")]
        mentions.append(_mention(fragments, match.group(1),
                                 fields[2] if len(fields) > 2 else "", ident, where))
    return mentions


def read_bioc(path: str | Path) -> list[Document]:
    """A BioC collection, XML or JSON (told apart by the first character)."""
    path = Path(path)
    text = _read_text(path)
    first = text.lstrip()[:1]
    if first == "<":
        return _bioc_xml(path, text)
    if first in "{[" and first:
        return _bioc_json(path, text)
    raise InputError(f"{path}: neither BioC XML (starts with '<') nor BioC JSON (starts with "
                     "'{' or '['); check the file")


def _int(value, where: str, what: str) -> int:
    """A whole number >= 0: a JSON integer or a string of ASCII digits. 3.9 is refused, not
    cut to 3; '1²' and other Unicode digits too."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _OFFSET.fullmatch(value.strip()):
        return int(value)
    raise InputError(f"{where}: {what} {value!r} is not an offset (a whole number >= 0)")


def _string(value, where: str, what: str) -> str:
    """A text field: a string (or absent); a number or a list where text belongs stops."""
    if value is None or isinstance(value, str):
        return value or ""
    raise InputError(f"{where}: the {what} is {type(value).__name__} {str(value)[:40]!r}, not "
                     "text; give it as a string")


def _bioc_document(path: Path, ident: str, passages: list[dict], infons: dict,
                   where: str) -> Document:
    """A document from plain dicts: passages {offset, text, infons, annotations, sentences},
    annotations {id, infons, text, locations [{offset, length}]}."""
    if not ident:
        raise InputError(f"{where}: a document without an id; give every document an <id>")
    built, mentions = [], []
    for p, passage in enumerate(passages):
        here = f"{where}, passage {p + 1}"
        pieces = ([passage] if passage.get("text") is not None or not passage.get("sentences")
                  else passage["sentences"])  # a passage given as sentences
        for piece in pieces:
            offset = _int(piece.get("offset"), here, "offset")
            built.append(Passage(offset, _string(piece.get("text"), here, "passage text"),
                                 _infons(passage.get("infons"), here)))
        for piece in [passage, *passage.get("sentences", [])]:
            for a, annotation in enumerate(piece.get("annotations", [])):
                mentions.append(_bioc_mention(annotation, f"{here}, annotation "
                                              f"{annotation.get('id') or a + 1}"))
    built.sort(key=lambda p: p.offset)
    for before, after in zip(built, built[1:]):
        if after.offset < before.offset + len(before.text):
            raise InputError(f"{where}: a passage at offset {after.offset} starts inside the "
                             f"one at {before.offset} (which ends at "
                             f"{before.offset + len(before.text)}); fix the passage offsets")
    return Document(ident, tuple(built), tuple(mentions), str(path), infons)


def _infons(value, where: str) -> dict:
    """BioC infons: an object of keys and values (or absent); a list or a string stops."""
    if value is None or isinstance(value, dict):
        return dict(value or {})
    raise InputError(f"{where}: infons is a {type(value).__name__} {str(value)[:40]!r}, not an "
                     "object; give infons as {\"key\": \"value\", ...}")


def _bioc_mention(annotation: dict, where: str) -> Mention:
    infons = {k: str(v) for k, v in _infons(annotation.get("infons"), where).items()}
    kind = infons.pop("type", None) or next(
        (infons.pop(k) for k in list(infons) if k.lower() == "type"), None)
    if kind is None:
        raise InputError(f"{where}: an annotation without a 'type' infon; give its entity "
                         "type as <infon key=\"type\">")
    locations = annotation.get("locations") or []
    if not locations:
        raise InputError(f"{where}: an annotation without a location; give "
                         "<location offset=\"...\" length=\"...\"/>")
    fragments = []
    for loc in locations:
        start = _int(loc.get("offset"), where, "location offset")
        fragments.append((start, start + _int(loc.get("length"), where, "location length")))
    return _mention(fragments, kind, _string(annotation.get("text"), where, "annotation text"),
                    str(annotation.get("id") or ""), f"{where} (offset {fragments[0][0]})",
                    infons)


def _xml_infons(element) -> dict[str, str]:
    return {i.get("key", ""): i.text or "" for i in element.findall("infon")}


def _xml_annotations(element) -> list[dict]:
    return [{"id": a.get("id"), "infons": _xml_infons(a), "text": a.findtext("text"),
             "locations": [dict(loc.attrib) for loc in a.findall("location")]}
            for a in element.findall("annotation")]


def _bioc_xml(path: Path, text: str) -> list[Document]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        line, column = err.position
        raise InputError(f"{path}:{line}: not well-formed XML (column {column + 1}: "
                         f"{str(err).split(':')[0]}); fix the file") from None
    if root.tag != "collection":
        raise InputError(f"{path}: the root element is <{root.tag}>, not a BioC <collection>")
    documents = []
    for d, element in enumerate(root.findall("document")):
        ident = (element.findtext("id") or "").strip()
        passages = [{"offset": p.findtext("offset"), "text": p.findtext("text"),
                     "infons": _xml_infons(p), "annotations": _xml_annotations(p),
                     "sentences": [{"offset": s.findtext("offset"), "text": s.findtext("text"),
                                    "annotations": _xml_annotations(s)}
                                   for s in p.findall("sentence")]}
                    for p in element.findall("passage")]
        documents.append(_bioc_document(path, ident, passages, _xml_infons(element),
                                        f"{path}: document {ident or d + 1}"))
    return documents


def _bioc_json(path: Path, text: str) -> list[Document]:
    try:
        data = json.loads(text)
        return _bioc_json_documents(path, data)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg}, column "
                         f"{err.colno}); fix the file") from None
    except RecursionError:  # lists or objects nested ~1000 deep
        raise InputError(f"{path}: JSON nested too deeply to read; BioC JSON is a few levels "
                         "deep (collection > documents > passages > annotations): check the "
                         "file") from None


def _bioc_json_documents(path: Path, data) -> list[Document]:
    collections = data if isinstance(data, list) else [data]
    documents = []
    for collection in collections:
        if not isinstance(collection, dict) or not isinstance(collection.get("documents"), list):
            raise InputError(f"{path}: not a BioC JSON collection (an object with a "
                             "'documents' list)")
        for d, doc in enumerate(collection["documents"]):
            ident = str(doc.get("id") or "").strip() if isinstance(doc, dict) else ""
            where = f"{path}: document {ident or d + 1}"
            try:
                documents.append(_bioc_document(path, ident, list(doc.get("passages") or []),
                                                _infons(doc.get("infons"), where), where))
            except InputError:
                raise
            except (AttributeError, TypeError, ValueError) as err:
                raise InputError(f"{where}: not BioC JSON ({err}); documents hold passages, "
                                 "passages hold annotations with locations") from None
    return documents


def read_pubtator(path: str | Path, problems: Problems | None = None) -> list[Document]:
    """PubTator: title and abstract lines, then tab-separated mention lines; blank lines
    between documents (a new PMID starts a new document too). A relation line (PMID, then a
    relation type: a word of letters) is set aside and counted; any other line must be a
    mention line whose offsets are whole numbers."""
    path, problems = Path(path), problems or Problems()
    documents: list[Document] = []
    current: dict | None = None

    def flush() -> None:
        nonlocal current
        if current is not None:
            title, abstract = current["t"] or "", current["a"]
            passages = [Passage(0, title, {"type": "title"})]
            if abstract:
                passages.append(Passage(len(title) + 1, abstract, {"type": "abstract"}))
            documents.append(Document(current["id"], tuple(passages),
                                      tuple(current["mentions"]), str(path)))
        current = None

    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        line = line.rstrip("\r")
        where = f"{path}:{number}"
        if not line.strip():
            flush()
            continue
        head = re.match(r"([^|\t]+)\|([ta])\|", line)
        if head:
            pmid, part = head.group(1), head.group(2)
            if current is not None and (current["id"] != pmid or current[part] is not None
                                        or current["mentions"]):
                flush()
            if current is None:
                current = {"id": pmid, "t": None, "a": None, "mentions": []}
            current[part] = line[head.end():]
            continue
        fields = line.split("\t")
        if len(fields) >= 2 and _RELATION.fullmatch(fields[1]) and current is not None \
                and fields[0] == current["id"]:
            problems.note("relation")  # PMID<TAB>CID<TAB>...: counted in the summary
            continue
        if len(fields) < 5:
            raise InputError(f"{where}: not a PubTator line (want 'PMID|t|title', "
                             "'PMID|a|abstract' or 'PMID<TAB>start<TAB>end<TAB>mention<TAB>"
                             f"type[<TAB>id]'): {line[:60]!r}")
        for value, what in ((fields[1], "start"), (fields[2], "end")):
            if not _OFFSET.fullmatch(value):
                raise InputError(f"{where}: not a PubTator line: mention {what} {value!r} is "
                                 "not an offset (a whole number >= 0); fix the line: "
                                 f"{line[:60]!r}")
        if current is None or fields[0] != current["id"]:
            raise InputError(f"{where}: mention of document {fields[0]} outside its document "
                             "(after its |t| and |a| lines, before a blank line)")
        infons = {"identifier": fields[5]} if len(fields) > 5 and fields[5] else {}
        infons.update({k: v for k, v in zip(("head", "confidence"), fields[6:8])})
        current["mentions"].append(_mention([(int(fields[1]), int(fields[2]))], fields[4],
                                            fields[3], "", where, infons))
    flush()
    return documents


def document_files(path: str | Path, fmt: str) -> list[Path]:
    """The files a BioC or PubTator input is read from: the file, or those in a directory."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    if fmt == "bioc":
        found = [p for p in files_under(path) if p.suffix in (".xml", ".json")]
    else:
        found = [p for p in files_under(path) if p.name.endswith(PUBTATOR_SUFFIXES)]
    if not found:
        kinds = ".xml or .json" if fmt == "bioc" else " or ".join(PUBTATOR_SUFFIXES)
        raise InputError(f"{path}: no {kinds} files to read as {fmt}")
    return found


def detect_format(directory: Path) -> str | None:
    """The document format of a directory, or None: .ann files are BRAT, .xml/.json BioC,
    .pubtator PubTator (a directory mixing them is refused)."""
    names = [p.name for p in files_under(directory)]
    found = {fmt for fmt, test in (
        ("brat", lambda n: n.endswith(".ann")),
        ("bioc", lambda n: n.endswith((".xml", ".json"))),
        ("pubtator", lambda n: n.endswith(PUBTATOR_SUFFIXES))) if any(map(test, names))}
    if len(found) > 1:
        raise InputError(f"{directory}: holds documents in several formats "
                         f"({', '.join(sorted(found))}); keep one format per directory")
    return found.pop() if found else None


def read_documents(path: str | Path, fmt: str, problems: Problems | None = None
                   ) -> list[Document]:
    """Documents of one format from a file or directory; document ids must be unique."""
    if fmt not in FORMATS:
        raise InputError(f"unknown document format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "brat":
        documents = read_brat(path, problems)
    else:
        documents = [d for f in document_files(path, fmt)
                     for d in (read_bioc(f) if fmt == "bioc" else read_pubtator(f, problems))]
    seen: dict[str, str] = {}
    for document in documents:
        if document.id in seen:
            raise InputError(f"{document.source}: document id {document.id} again (first in "
                             f"{seen[document.id]}); give each document its own id")
        seen[document.id] = document.source
    if not documents:
        raise InputError(f"{path}: no documents found in {fmt} format")
    return documents


# --- sentences and tags -----------------------------------------------------------------------


def _shifted(sentences: list[list[Token]], offset: int) -> list[list[Token]]:
    return [[Token(t.text, t.start + offset, t.end + offset) for t in s] for s in sentences]


def document_sentences(document: Document) -> list[list[Token]]:
    """Each passage's sentences, tokens with offsets into the document's text."""
    return [s for p in document.passages for s in _shifted(split_sentences(p.text), p.offset)]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _describe(m: Mention, text: str) -> str:
    return f"{m.type} {m.start}-{m.end} {text[m.start:m.end]!r}"


# --- offsets counted in other units ------------------------------------------------------------
# Tools count offsets in other units than this toolkit's characters (code points): Windows
# line ends as one character (offsets made on the text with LF ends), UTF-16 code units
# (JavaScript, Java, .NET: a character outside the BMP, an emoji, counts two) or UTF-8 bytes.
# Each such unit shifts every later mention by one more character, so each mention alone
# looks like a small mismatch. A document is checked as a whole: when the mention texts fit
# the text only in one of these units, the offsets are converted (said once per file);
# when most texts fit neither way, the document is refused.
UNITS = {"crlf": "a Windows line end (CR LF) as one character",
         "utf-16": "UTF-16 code units (a character outside the BMP as two)",
         "utf-8": "UTF-8 bytes"}
DRIFT_MIN = 3  # mismatching mention texts before a document's offsets are judged as a whole


def _unit_sizes(text: str, unit: str) -> list[int]:
    """How many units each character of `text` counts for (0: not counted)."""
    if unit == "crlf":
        return [0 if c == "\r" and text[i + 1:i + 2] == "\n" else 1 for i, c in enumerate(text)]
    if unit == "utf-16":
        return [2 if ord(c) > 0xFFFF else 1 for c in text]
    return [len(c.encode("utf-8", "surrogatepass")) for c in text]


class _Units:
    """Offsets counted in `unit` from each passage's offset (BioC: the file's passage offsets
    are in the tool's units too) or, `whole`, from the document's start (PubTator's abstract
    offset and BRAT's single text are this toolkit's), converted to characters."""

    def __init__(self, document: Document, unit: str, whole: bool):
        pieces = ([(0, document.text)] if whole else
                  [(p.offset, p.text) for p in document.passages])
        self.passages = []  # (offset, starts, ends): unit position -> character position
        for offset, text in pieces:
            sizes = _unit_sizes(text, unit)
            starts, ends = [-1] * (sum(sizes) + 1), [-1] * (sum(sizes) + 1)
            starts[0] = ends[0] = position = 0
            for i, size in enumerate(sizes):
                if starts[position] < 0:
                    starts[position] = i  # a CR of CRLF counts nothing: the unit is the CR's
                position += size
                if size:
                    ends[position] = i + 1
            starts[position] = len(sizes)
            self.passages.append((offset, starts, ends))

    def convert(self, start: int, end: int) -> tuple[int, int] | None:
        home = max((p for p in self.passages if p[0] <= start), key=lambda p: p[0],
                   default=None)
        if home is None:
            return None
        offset, starts, ends = home
        first = starts[start - offset] if start - offset < len(starts) else -1
        last = ends[end - offset] if end - offset < len(ends) else -1
        return None if first < 0 or last < 0 else (offset + first, offset + last)

    def mention(self, m: Mention) -> Mention | None:
        pieces = [self.convert(s, e) for s, e in (m.fragments or ((m.start, m.end),))]
        if None in pieces:
            return None
        return replace(m, start=pieces[0][0], end=max(e for _, e in pieces),
                       fragments=tuple(pieces) if m.fragments else ())


def _fits(m: Mention, text: str) -> bool:
    actual = " ".join(text[s:e] for s, e in (m.fragments or ((m.start, m.end),)))
    return _norm(m.text) == _norm(actual)


def _unit_checked(document: Document, problems: Problems) -> Document:
    """The document with its offsets in characters: as read when the mention texts fit, or
    converted when they fit only counted in another unit (UNITS); refused when most of them
    fit neither way (the offsets belong to another text)."""
    text = document.text
    checked = [m for m in document.mentions if m.text]
    wrong = sum(not _fits(m, text) for m in checked)
    if wrong == 0:
        return document
    best = None
    for unit in UNITS:
        for whole in (False, True):
            units = _Units(document, unit, whole)
            converted = [units.mention(m) for m in checked]
            fit = sum(c is not None and _fits(c, text) for c in converted)
            if fit > len(checked) - wrong and (best is None or fit > best[1]):
                best = (unit, fit, units)
    # converted when that leaves at most a tenth of the texts unexplained (typos stay warnings)
    if best is not None and len(checked) - best[1] <= len(checked) // 10:
        unit, fit, units = best
        mentions = tuple(units.mention(m) or m for m in document.mentions)
        problems.warn_once("units", unit,
                           f"{document.source}: document {document.id}: the mention offsets "
                           f"count {UNITS[unit]} ({fit} of {len(checked)} mention texts fit "
                           f"the text that way, {len(checked) - wrong} as read); converted to "
                           "characters, here and in every document where they fit only that "
                           "way (counted at the end)")
        return replace(document, mentions=mentions)
    if wrong >= DRIFT_MIN and 2 * wrong > len(checked):
        first = next(m for m in checked if not _fits(m, text))
        raise InputError(f"{first.where}: {wrong} of the {len(checked)} mention texts of "
                         f"document {document.id} differ from the text at their offsets (e.g. "
                         f"{first.text!r} at {first.start}-{first.end}, where the text is "
                         f"{text[first.start:first.end]!r}): the offsets were counted on "
                         "another text or in other units; fix them")
    return document


def tag_document(document: Document, problems: Problems) -> TaggedDocument | None:
    """The document's sentences with IOB2 tags, problems resolved (see the module doc); None
    for an empty document."""
    document = _unit_checked(document, problems)
    text = document.text
    sentences = document_sentences(document)
    if not sentences:
        problems.warn("empty", f"{document.source}: document {document.id} has no text; "
                               "skipped")
        return None
    tokens = [t for s in sentences for t in s]
    sentence_of = [i for i, s in enumerate(sentences) for _ in s]
    starts = [t.start for t in tokens]
    candidates = []  # (first token, end token, mention widened), in file order
    for m in document.mentions:
        if problems.types is not None and m.type not in problems.types:
            if not problems.unknown_types[m.type]:
                log.warning("%s: type %r is not in --types %s; its mentions are dropped "
                            "(counted at the end)", m.where, m.type, ",".join(problems.types))
            problems.unknown_types[m.type] += 1
            continue
        if m.end > len(text):
            problems.warn("outside", f"{m.where}: {m.type} {m.start}-{m.end} lies outside the "
                                     f"text (0-{len(text)}); dropped")
            continue
        if m.fragments:
            pieces = ";".join(f"{s}-{e}" for s, e in m.fragments)
            problems.warn("discontinuous", f"{m.where}: discontinuous {m.type} span {pieces}; "
                                           f"kept as the covering span {_describe(m, text)}")
            actual = " ".join(text[s:e] for s, e in m.fragments)
        else:
            actual = text[m.start:m.end]
        if m.text and _norm(m.text) != _norm(actual):
            problems.warn("mismatch", f"{m.where}: {m.type} {m.start}-{m.end}: the file says "
                                      f"{m.text!r} but the text there is {actual!r}; kept the "
                                      "offsets")
        first = bisect.bisect_right(starts, m.start) - 1
        if first < 0 or tokens[first].end <= m.start:
            first += 1  # the span starts in whitespace before token `first`
        last = bisect.bisect_left(starts, m.end) - 1  # the last token starting before the end
        if first > last or first >= len(tokens):
            problems.warn("no-token", f"{m.where}: {_describe(m, text)} holds no token; "
                                      "dropped")
            continue
        start, end = tokens[first].start, tokens[last].end
        widened = replace(m, start=start, end=end, text=text[start:end], fragments=())
        if start < m.start or end > m.end:
            problems.warn("widened", f"{m.where}: {_describe(m, text)} cuts a token; widened "
                                     f"to the token boundaries {_describe(widened, text)}")
        candidates.append((first, last + 1, widened))
    order = sorted(range(len(candidates)), key=lambda i: (
        -(candidates[i][2].end - candidates[i][2].start), candidates[i][2].start, i))
    owner: dict[int, int] = {}  # token -> kept candidate
    kept = []
    for i in order:
        first, end, m = candidates[i]
        clash = next((owner[t] for t in range(first, end) if t in owner), None)
        if clash is not None:
            other = candidates[clash][2]
            problems.warn("overlap", f"{m.where}: {_describe(m, text)} overlaps "
                                     f"{_describe(other, text)} ({other.where}); kept that "
                                     "one (the longer, then the earlier)")
            continue
        owner.update((t, i) for t in range(first, end))
        kept.append(i)
    kept.sort(key=lambda i: candidates[i][0])
    groups = list(range(len(sentences)))  # sentence -> the first sentence it is joined to
    for i in kept:
        first, end, m = candidates[i]
        a, b = sentence_of[first], sentence_of[end - 1]
        if a != b:
            problems.warn("crossing", f"{m.where}: {_describe(m, text)} crosses a sentence "
                                      "boundary; the sentences are kept as one")
            for s in range(a + 1, b + 1):
                groups[s] = groups[a]
    tags = ["O"] * len(tokens)
    for i in kept:
        first, end, m = candidates[i]
        tags[first:end] = [f"B-{m.type}"] + [f"I-{m.type}"] * (end - first - 1)
    joined: list[tuple[list[Token], list[str]]] = []
    position = 0
    for s, sentence in enumerate(sentences):
        if groups[s] != s:
            joined[-1][0].extend(sentence)
            joined[-1][1].extend(tags[position:position + len(sentence)])
        else:
            joined.append((list(sentence), tags[position:position + len(sentence)]))
        position += len(sentence)
    return TaggedDocument(document.id, tuple(TaggedSentence(tuple(t), tuple(g))
                                             for t, g in joined),
                          tuple(candidates[i][2] for i in kept))


def tag_documents(documents: Iterable[Document], problems: Problems) -> list[TaggedDocument]:
    """Every non-empty document's tagged sentences; type-list entries never seen are named."""
    tagged = [t for t in (tag_document(d, problems) for d in documents) if t is not None]
    if problems.types is not None:
        seen = {m.type for t in tagged for m in t.mentions}
        for kind in problems.types:
            if kind not in seen:
                log.warning("--types: no mention of type %r in any document (a typo?)", kind)
    return tagged


def mention_offsets(sentence: TaggedSentence) -> list[tuple[int, int, str]]:
    """(start, end, type) character spans of a tagged sentence's mentions."""
    from bioner_mtl.data.derived_labels import mention_spans

    return [(sentence.tokens[s].start, sentence.tokens[e - 1].end, kind)
            for s, e, kind in mention_spans(sentence.tags)]


# --- splits -----------------------------------------------------------------------------------

SPLIT_NAMES = ("train", "devel", "test")


def parse_fractions(value: str) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(v) for v in value.split(","))
    except ValueError:
        fractions = ()
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise InputError(f"--split {value}: give three fractions above 0 for train,devel,test "
                         "that add up to 1, e.g. 0.8,0.1,0.1")
    return fractions  # type: ignore[return-value]


def split_by_fractions(ids: Sequence[str], fractions: Sequence[float], seed: int
                       ) -> dict[str, list[str]]:
    """Document ids shuffled with `seed` and cut by the fractions; devel and test get at least
    one document each, train the rest. Ids keep their input order inside a split."""
    if len(ids) < 3:
        raise InputError(f"{len(ids)} non-empty document(s): a train/devel/test split needs at "
                         "least 3")
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    devel = max(1, round(len(ids) * fractions[1]))
    test = max(1, round(len(ids) * fractions[2]))
    if devel + test >= len(ids):
        devel, test = 1, 1
    chosen = {"devel": set(shuffled[:devel]), "test": set(shuffled[devel:devel + test])}
    chosen["train"] = set(shuffled[devel + test:])
    return {name: [i for i in ids if i in chosen[name]] for name in SPLIT_NAMES}


def split_by_files(ids: Sequence[str], files: Sequence[str | Path]) -> dict[str, list[str]]:
    """The user's split: one document id per line in each of three files (train, devel,
    test). An id no document has, or one in two files, stops; documents in no file are left
    out (one warning line)."""
    if len(files) != 3:
        raise InputError(f"--split-files: {len(files)} file(s); give train,devel,test files of "
                         "document ids")
    known, owner, splits = set(ids), {}, {}
    for name, path in zip(SPLIT_NAMES, map(Path, files)):
        splits[name] = []
        for number, line in enumerate(_read_text(path).splitlines(), start=1):
            ident = line.strip()
            if not ident:
                continue
            if ident not in known:
                raise InputError(f"{path}:{number}: no document has id {ident!r}; list ids "
                                 "of the documents read")
            if ident in owner:
                raise InputError(f"{path}:{number}: document {ident} is already in "
                                 f"{owner[ident]}; a document belongs to one split")
            owner[ident] = f"{path}:{number}"
            splits[name].append(ident)
        if not splits[name]:
            raise InputError(f"{path}: no document ids; the {name} split needs at least one")
    left = [i for i in ids if i not in owner]
    if left:
        log.warning("--split-files: %d document(s) in no split file, left out (%s%s)",
                    len(left), ", ".join(left[:5]), ", ..." if len(left) > 5 else "")
    return splits


@dataclass(frozen=True)
class DocumentCorpus:
    """Documents read, tagged and split: what `corpora.py import` writes and what a
    directory of documents loads as."""

    splits: dict[str, list[Sentence]]  # train/devel/test sentences, documents in order
    ids: dict[str, list[str]]  # the document ids of each split
    documents: list[TaggedDocument]
    problems: Problems


def load_documents(path: str | Path, fmt: str, *, types: Sequence[str] | None = None,
                   fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 1,
                   split_files: Sequence[str | Path] | None = None) -> DocumentCorpus:
    """Read documents, tag them and split them by document (seeded fractions, or the user's
    files of ids); logs each problem and a summary line."""
    problems = Problems(types)
    documents = read_documents(path, fmt, problems)
    tagged = tag_documents(documents, problems)
    if split_files:
        ids = split_by_files([d.id for d in documents], split_files)
    else:
        ids = split_by_fractions([t.id for t in tagged], fractions, seed)
    by_id = {t.id: t for t in tagged}
    splits = {}
    for name in SPLIT_NAMES:
        chosen = [by_id[i] for i in ids[name] if i in by_id]
        splits[name] = [Sentence(tuple(t.text for t in s.tokens), s.tags, d)
                        for d, document in enumerate(chosen) for s in document.sentences]
        if not splits[name]:
            raise InputError(f"{path}: the {name} split has no sentences (its "
                             f"{len(ids[name])} document(s) are empty); choose another split")
    # what the splits hold: a document in no split file is left out with its mentions
    chosen_ids = {i for name in SPLIT_NAMES for i in ids[name]}
    mentions = sum(len(t.mentions) for t in tagged if t.id in chosen_ids)
    left = sum(1 for t in tagged if t.id not in chosen_ids)
    counts = ", ".join(f"{n} {len(ids[n])}" for n in SPLIT_NAMES) + (
        f", {left} left out" if left else "")
    summary = problems.summary(f"{path}: {len(documents)} documents ({counts}), {mentions} "
                               "mentions kept")
    (log.warning if problems.counts or problems.unknown_types else log.info)("%s", summary)
    return DocumentCorpus(splits, ids, tagged, problems)


def source_paths(directory: str | Path, fmt: str) -> list[Path]:
    """The files a directory of documents is read from (a corpus cache key hashes them)."""
    if fmt == "brat":
        return [p for p in files_under(Path(directory)) if p.suffix in (".txt", ".ann")]
    return document_files(directory, fmt)


# --- writing ----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    write_text(path, text, newline="")


def _fragments(m: Mention) -> tuple[tuple[int, int], ...]:
    return m.fragments or ((m.start, m.end),)


def write_brat(directory: str | Path, documents: Iterable[Document]) -> None:
    """ID.txt and ID.ann per document (ids with '/' make subdirectories)."""
    directory = Path(directory)
    for document in documents:
        if document.id.startswith("/") or ".." in document.id.split("/"):
            raise InputError(f"document id {document.id!r} would write outside {directory}; "
                             "rename the document")
        text = document.text
        lines = []
        for n, m in enumerate(document.mentions, start=1):
            spans = ";".join(f"{s} {e}" for s, e in _fragments(m))
            shown = re.sub(r"\s", " ", " ".join(text[s:e] for s, e in _fragments(m)))
            lines.append(f"T{n}\t{m.type} {spans}\t{shown}\n")
        _write(directory / f"{document.id}.txt", text)
        _write(directory / f"{document.id}.ann", "".join(lines))


def _infon(parent, key: str, value) -> None:
    ET.SubElement(parent, "infon", key=key).text = str(value)


def bioc_dict(documents: Iterable[Document], source: str = "bioner-mtl") -> dict:
    """A BioC JSON collection; mentions go in the passage they start in."""
    out = []
    for document in documents:
        text, passages = document.text, []
        for passage in document.passages or (Passage(0, ""),):
            passages.append({"offset": passage.offset, "infons": dict(passage.infons),
                             "text": passage.text, "sentences": [], "annotations": [],
                             "relations": []})
        for n, m in enumerate(document.mentions, start=1):
            home = max((p for p in passages if p["offset"] <= m.start),
                       key=lambda p: p["offset"], default=None) or passages[0]
            home["annotations"].append({
                "id": m.id or f"T{n}",
                "infons": {"type": m.type, **{k: str(v) for k, v in m.infons.items()}},
                "text": " ".join(text[s:e] for s, e in _fragments(m)),
                "locations": [{"offset": s, "length": e - s} for s, e in _fragments(m)]})
        out.append({"id": document.id, "infons": dict(document.infons), "passages": passages,
                    "relations": []})
    return {"source": source, "date": "", "key": "", "infons": {}, "documents": out}


def bioc_json_text(documents: Iterable[Document]) -> str:
    return json.dumps(bioc_dict(documents), ensure_ascii=False, indent=1) + "\n"


# characters outside XML 1.0's Char production (tab, line feed and \r are allowed)
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def bioc_xml_text(documents: Iterable[Document]) -> str:
    collection = bioc_dict(documents)
    root = ET.Element("collection")
    for key in ("source", "date", "key"):
        ET.SubElement(root, key).text = collection[key]
    for document in collection["documents"]:
        element = ET.SubElement(root, "document")
        ET.SubElement(element, "id").text = document["id"]
        for key, value in document["infons"].items():
            _infon(element, key, value)
        for passage in document["passages"]:
            p = ET.SubElement(element, "passage")
            for key, value in passage["infons"].items():
                _infon(p, key, value)
            ET.SubElement(p, "offset").text = str(passage["offset"])
            ET.SubElement(p, "text").text = passage["text"]
            for annotation in passage["annotations"]:
                a = ET.SubElement(p, "annotation", id=annotation["id"])
                for key, value in annotation["infons"].items():
                    _infon(a, key, value)
                for loc in annotation["locations"]:
                    ET.SubElement(a, "location", offset=str(loc["offset"]),
                                  length=str(loc["length"]))
                ET.SubElement(a, "text").text = annotation["text"]
    ET.indent(root, space=" ")
    # \r would come back as \n from an XML parser: keep it as a character reference; a
    # character XML 1.0 cannot hold at all (a form feed, as pdftotext writes between pages)
    # is written as a space, one character for one, so every offset stays
    body = _NOT_XML.sub(" ", ET.tostring(root, encoding="unicode").replace("\r", "&#13;"))
    return "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE collection SYSTEM 'BioC.dtd'>\n" \
        + body + "\n"


def check_pubtator_id(ident: str, where: str) -> None:
    """A document id PubTator can hold: its lines start `ID|t|` and `ID<TAB>`, so an id with
    '|', a tab or a line break (or none at all) would not read back as the same document."""
    bad = next((c for c in ("|", "\t", "\n", "\r") if c in ident), None)
    if bad is not None or not ident.strip():
        why = f"holds {bad!r}" if bad is not None else "is empty"
        raise InputError(f"{where}: document id {ident!r} {why}, which PubTator cannot hold "
                         "(its lines are ID|t|title and ID<TAB>...); rename it or write BioC "
                         "(--format bioc or bioc-json)")


def pubtator_text(documents: Iterable[Document]) -> str:
    """PubTator; a document that is not a title plus an abstract one character later is
    written whole as the title (line breaks as spaces, so offsets stay), with an empty
    abstract. Mention columns: PMID, start, end, mention, type, identifier, and head and
    confidence where the mention has them."""
    blocks = []
    for document in documents:
        check_pubtator_id(document.id, document.source or "PubTator output")
        text = document.text
        p = document.passages
        if len(p) == 2 and p[0].offset == 0 and p[1].offset == len(p[0].text) + 1:
            title, abstract = p[0].text, p[1].text
        else:
            title, abstract = text, ""
        flat = [re.sub(r"[\r\n]", " ", title), re.sub(r"[\r\n]", " ", abstract)]
        lines = [f"{document.id}|t|{flat[0]}", f"{document.id}|a|{flat[1]}"]
        for m in document.mentions:
            extra = [m.infons[k] for k in ("head", "confidence") if k in m.infons]
            shown = re.sub(r"\s", " ", text[m.start:m.end])
            lines.append("\t".join([document.id, str(m.start), str(m.end), shown, m.type,
                                    m.infons.get("identifier", ""), *map(str, extra)]))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_documents(path: str | Path, documents: list[Document], fmt: str) -> None:
    """brat: a directory; bioc (XML), bioc-json and pubtator: one file."""
    if fmt == "brat":
        write_brat(path, documents)
        return
    writers = {"bioc": bioc_xml_text, "bioc-json": bioc_json_text, "pubtator": pubtator_text}
    _write(Path(path), writers[fmt](documents))
