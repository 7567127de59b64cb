"""Corpus registry: the bundled corpora, their entity classes, and corpora derived from them.

A corpus is a registered name or any directory holding train/devel/test in the token<TAB>tag
format, or a directory of annotated documents (BRAT .txt/.ann, BioC .xml/.json or PubTator
files: see data/documents.py) and no .tsv file, split by document 0.8/0.1/0.1 with seed 1
(`experiments/corpora.py import` chooses another split and writes the TSV files). Adding a
bundled corpus means adding one entry to REGISTRY (and its files under data/corpora/NAME/).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bioner_mtl.data import documents
from bioner_mtl.data import tags as tagging
from bioner_mtl.data.ablation import subsample
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence, read_split

# the corpora shipped as package data (a folder beside this module in a clone or a wheel)
BUNDLED_DIR = Path(str(resources.files("bioner_mtl.data") / "corpora"))
SPLITS = ("train", "devel", "test")
SHRUNK_SEED = 0  # which training sentences a `NAME%P` corpus keeps (the same in every run)
# what a corpus directory holds: --force (corpora.py convert, import) replaces only such a folder
CORPUS_KIND = ("corpus", ("*.tsv", "*.tsv.gz", "*.ids"))

# Entity classes used to group corpora (CRICHTON tables 3-8, RODRIGUEZ).
CHEMICAL, DISEASE, GENE = "Chemical", "Disease", "Gene/Protein"
SPECIES, CELL, COMPONENT, ANATOMY = "Species", "Cell", "Cellular component", "Anatomy"
OTHER = "Other"
ENTITY_CLASSES = (CHEMICAL, DISEASE, GENE, SPECIES, CELL, COMPONENT, ANATOMY, OTHER)

_CG_ANATOMY = ("Anatomical_system", "Developing_anatomical_structure",
               "Immaterial_anatomical_entity", "Multi-tissue_structure", "Organ",
               "Organism_subdivision", "Organism_substance", "Tissue")


@dataclass(frozen=True)
class CorpusSpec:
    """Where a corpus comes from and what its entity types mean."""

    name: str
    types: dict[str, str] = field(default_factory=dict)  # entity type -> entity class
    kind: str = "ner"  # "ner" (IOB tags) or "pos" (plain labels, the D-MTM auxiliary)
    parent: str | None = None  # derived corpora: the corpus they keep some types of
    keep: tuple[str, ...] = ()  # derived corpora: the entity types kept, others become O
    share: float = 1.0  # `NAME%P` corpora: the share of the parent's training sentences kept

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.types.values())))


def _derived(parent: CorpusSpec, suffix: str, *keep: str) -> CorpusSpec:
    types = {t: parent.types[t] for t in keep}
    return CorpusSpec(f"{parent.name}-{suffix}", types, parent=parent.name, keep=keep)


def _build_registry() -> dict[str, CorpusSpec]:
    protein = {"Protein": GENE}
    bundled = [
        CorpusSpec("BC2GM", {"GENE": GENE}),
        CorpusSpec("BC5CDR", {"Chemical": CHEMICAL, "Disease": DISEASE}),
        CorpusSpec("BioNLP09", protein),
        CorpusSpec("BioNLP11EPI", protein),
        CorpusSpec("BioNLP11ID", {"Chemical": CHEMICAL, "Organism": SPECIES, "Protein": GENE,
                                  "Regulon-operon": OTHER}),
        CorpusSpec("BioNLP13CG", {
            "Amino_acid": CHEMICAL, "Simple_chemical": CHEMICAL, "Cancer": DISEASE,
            "Pathological_formation": DISEASE, "Cell": CELL, "Cellular_component": COMPONENT,
            "Gene_or_gene_product": GENE, "Organism": SPECIES,
            **{t: ANATOMY for t in _CG_ANATOMY}}),
        CorpusSpec("BioNLP13GE", protein),
        CorpusSpec("BioNLP13PC", {"Cellular_component": COMPONENT, "Complex": GENE,
                                  "Gene_or_gene_product": GENE, "Simple_chemical": CHEMICAL}),
        CorpusSpec("Ex-PTM", protein),
        CorpusSpec("Linnaeus", {"Species": SPECIES}),
        CorpusSpec("NCBI-disease", {"Disease": DISEASE}),
        CorpusSpec("GENIA-POS", kind="pos"),
    ]
    by_name = {spec.name: spec for spec in bundled}
    bc5, id11 = by_name["BC5CDR"], by_name["BioNLP11ID"]
    pc13, cg13 = by_name["BioNLP13PC"], by_name["BioNLP13CG"]
    derived = [
        _derived(bc5, "chem", "Chemical"), _derived(bc5, "disease", "Disease"),
        _derived(id11, "chem", "Chemical"), _derived(id11, "ggp", "Protein"),
        _derived(id11, "species", "Organism"),
        _derived(pc13, "cc", "Cellular_component"), _derived(pc13, "chem", "Simple_chemical"),
        _derived(pc13, "ggp", "Gene_or_gene_product"),
        _derived(cg13, "cc", "Cellular_component"), _derived(cg13, "cell", "Cell"),
        _derived(cg13, "chem", "Simple_chemical"), _derived(cg13, "ggp", "Gene_or_gene_product"),
        _derived(cg13, "species", "Organism"),
    ]
    return {spec.name: spec for spec in bundled + derived}


REGISTRY = _build_registry()


def bundled_ner_corpora() -> list[str]:
    """The whole bundled NER corpora: the default auxiliary partners of a pairwise run."""
    return [n for n, s in REGISTRY.items() if s.kind == "ner" and s.parent is None]


def corpora_with_class(entity_class: str, names: list[str] | None = None) -> list[str]:
    """Corpora (default: whole bundled NER corpora) that annotate `entity_class`."""
    if entity_class not in ENTITY_CLASSES:
        raise InputError(f"unknown entity class {entity_class!r}; choose one of "
                         f"{', '.join(ENTITY_CLASSES)}")
    names = bundled_ner_corpora() if names is None else names
    return [n for n in names if entity_class in spec_for(n).classes]


def corpora_without_class(names: list[str], entity_class: str) -> list[str]:
    """Entity ablation (RODRIGUEZ): the corpora of a run minus those annotating one class."""
    removed = set(corpora_with_class(entity_class, names))
    return [n for n in names if n not in removed]


@dataclass(frozen=True)
class Corpus:
    name: str
    spec: CorpusSpec
    train: list[Sentence]
    devel: list[Sentence]
    test: list[Sentence]

    def split(self, name: str) -> list[Sentence]:
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    @property
    def entity_types(self) -> list[str]:
        """Entity types seen in train, sorted (empty for POS corpora)."""
        if self.spec.kind != "ner":
            return []
        return sorted({tagging.entity_type(t) for s in self.train for t in s.tags if t != "O"})

    def labels(self) -> list[str]:
        """The training label set, sorted: the tag vocabulary of this corpus's head."""
        return sorted({t for s in self.train for t in s.tags})


def _split_path(directory: Path, split: str) -> Path:
    for candidate in (directory / f"{split}.tsv", directory / f"{split}.tsv.gz"):
        if candidate.exists():
            return candidate
    raise InputError(f"{directory}: no {split}.tsv; a corpus directory needs "
                     f"{', '.join(s + '.tsv' for s in SPLITS)}")


def source_files(name_or_dir: str | Path, splits: tuple[str, ...] = SPLITS) -> list[Path]:
    """The files a corpus's splits are read from (a derived corpus reads its parent's; a
    directory of documents: all its document files, whatever the splits)."""
    spec = spec_for(name_or_dir)
    if spec.parent is not None:
        return source_files(spec.parent, splits)
    if (fmt := _documents_format(name_or_dir)) is not None:
        return documents.source_paths(name_or_dir, fmt)
    return [_split_path(_directory(name_or_dir, spec), split) for split in splits]


def _documents_format(name_or_dir: str | Path) -> str | None:
    """The document format of a user's directory without .tsv files; None for a TSV corpus."""
    directory = Path(name_or_dir)
    if str(name_or_dir) in REGISTRY or not directory.is_dir() or any(
            directory.glob("*.tsv")) or any(directory.glob("*.tsv.gz")):
        return None
    return documents.detect_format(directory)


def _directory(name_or_dir: str | Path, spec: CorpusSpec) -> Path:
    """Where a corpus that is not derived from another lives: bundled, or the user's."""
    return BUNDLED_DIR / spec.name if str(name_or_dir) in REGISTRY else Path(name_or_dir)


def restricted_name(corpus: str, entity_class: str) -> str:
    """`NAME@Class`: a corpus keeping only the types of one entity class (groups, ablation)."""
    return f"{corpus}@{entity_class}"


def shrunk_name(corpus: str, fraction: float) -> str:
    """`NAME%P`: a corpus keeping P% of its training sentences (seeded, the same ones every
    time; devel and test whole): a partner cut as its main corpus is (RODRIGUEZ table 5)."""
    return corpus if fraction == 1 else f"{corpus}%{100 * fraction:g}"


def spec_for(name_or_dir: str | Path) -> CorpusSpec:
    """The registry entry for a name, or an ad-hoc entry (types map to themselves) for a dir.
    `NAME@Class` keeps the types of one entity class of a registered corpus (others -> O);
    `NAME%P` keeps P% of a corpus's training sentences (shrunk_name)."""
    name = str(name_or_dir)
    if name in REGISTRY:
        return REGISTRY[name]
    if "%" in name and not Path(name).is_dir():
        parent_name, _, percent = name.rpartition("%")
        try:
            share = float(percent) / 100
        except ValueError:
            share = math.nan
        if not 0 < share < 1:
            raise InputError(f"{name}: after % give the percentage of training sentences "
                             f"kept, above 0 and below 100 (e.g. {parent_name}%50)")
        parent = spec_for(parent_name)
        return dataclasses.replace(parent, name=name, parent=parent_name, share=share)
    if "@" in name and not Path(name).is_dir():
        parent_name, _, entity_class = name.partition("@")
        parent = spec_for(parent_name)
        keep = tuple(t for t, c in parent.types.items() if c == entity_class)
        if not keep:
            raise InputError(f"{name}: {parent_name} annotates no {entity_class!r} "
                             f"(its classes: {', '.join(parent.classes) or 'none'})")
        return CorpusSpec(name, {t: entity_class for t in keep}, parent=parent.name, keep=keep)
    directory = Path(name)
    if directory.is_dir():
        return CorpusSpec(directory.name)
    close = difflib.get_close_matches(name, REGISTRY, n=1, cutoff=0.5) or difflib.get_close_matches(
        name.lower(), {k.lower(): k for k in REGISTRY}, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"unknown corpus {name!r}; {hint}valid names: {', '.join(REGISTRY)} "
                     "(or a directory with train.tsv, devel.tsv, test.tsv)")


def resolved(name_or_dir: str | Path) -> tuple:
    """What a corpus is, whatever it was called: the real directory its files are read from
    (a registry name, `dir`, `dir/`, `./dir` and a symbolic link to it resolve alike; a
    bundled corpus given by its folder is its registry name), with the entity types a derived
    corpus keeps (`BC5CDR-chem` is `BC5CDR@Chemical`). An unknown name resolves to itself:
    spec_for refuses it with the valid names."""
    name = str(name_or_dir)
    try:
        spec = spec_for(name)
    except InputError:
        return ("unknown", name)
    if spec.share < 1:  # another corpus than its parent: fewer training sentences
        return (*resolved(spec.parent), ("share", spec.share))
    if spec.parent is not None:
        return (*resolved(spec.parent)[:2], tuple(sorted(spec.keep)))
    directory = _directory(name, spec)
    return ("corpus", str(directory.resolve()), ())


def _uncut(name: str) -> tuple:
    """The corpus a `NAME%P` corpus was cut from (resolved); any other corpus as it is."""
    try:
        spec = spec_for(name)
    except InputError:
        return ("unknown", name)
    return resolved(spec.parent if spec.share < 1 else name)


def shrunk_overlap(names: list[str]) -> tuple[str, str] | None:
    """The first two of `names` where one is a `NAME%P` cut of the other, or both cuts of one
    corpus: the same labelled sentences twice over (and one test split), not two corpora."""
    return duplicates(names, _uncut)


def duplicates(names: list[str], key=resolved) -> tuple[str, str] | None:
    """The first two of `names` that are the same corpus (the same `key`), or None."""
    seen: dict[tuple, str] = {}
    for name in names:
        at = key(name)
        if at in seen:
            return seen[at], name
        seen[at] = name
    return None


def _keep_types(sentences: list[Sentence], keep: tuple[str, ...]) -> list[Sentence]:
    def relabel(tag: str) -> str:
        return tag if tag == "O" or tagging.entity_type(tag) in keep else "O"

    return [Sentence(s.tokens, tuple(map(relabel, s.tags)), s.document) for s in sentences]


@functools.lru_cache(maxsize=32)
def load_corpus(name_or_dir: str | Path, repair: bool = False) -> Corpus:
    """Load a corpus by registered name or directory (cached: corpora are read-only)."""
    spec = spec_for(name_or_dir)
    if spec.share < 1:  # the seed is fixed: every run and process keeps the same sentences
        parent = load_corpus(spec.parent, repair)
        return Corpus(spec.name, dataclasses.replace(parent.spec, name=spec.name,
                                                     parent=spec.parent, share=spec.share),
                      train=subsample(parent.train, spec.share, SHRUNK_SEED),
                      devel=parent.devel, test=parent.test)
    if spec.parent is not None:
        parent = load_corpus(spec.parent, repair)
        splits = {s: _keep_types(parent.split(s), spec.keep) for s in SPLITS}
        return Corpus(spec.name, spec, **splits)
    labels = "iob" if spec.kind == "ner" else "plain"
    if (fmt := _documents_format(name_or_dir)) is not None:
        splits = documents.load_documents(name_or_dir, fmt).splits
    else:
        splits = {s: read_split(path, labels=labels, repair=repair)
                  for s, path in zip(SPLITS, source_files(name_or_dir))}
    if spec.name not in REGISTRY:
        types = sorted({tagging.entity_type(t) for t in _all_tags(splits["train"]) if t != "O"})
        spec = CorpusSpec(spec.name, {t: t for t in types})
    return Corpus(spec.name, spec, **splits)


def _all_tags(sentences: list[Sentence]):
    return (t for s in sentences for t in s.tags)


def corpus_stats(corpus: Corpus) -> dict[str, dict[str, int]]:
    """Sentences, tokens and mentions (B- tags) per split, as in data/corpora/README.md."""
    return {split: {"sentences": len(sents), "tokens": sum(map(len, sents)),
                    "mentions": sum(tagging.count_mentions(s.tags) for s in sents)
                    if corpus.spec.kind == "ner" else 0}
            for split, sents in ((s, corpus.split(s)) for s in SPLITS)}
