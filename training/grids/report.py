"""The results report as a library: runs grouped into cells (records differing only in their
seed), the papers' published numbers, and the markdown that lays ours beside theirs (the
CRICHTON, WANG and BERT tables, pairwise grids, data ablation with its plots, every head, every
group). `experiments/report.py` is its command line.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bioner_mtl.data import corpora
from bioner_mtl.data.atomic import save_figure
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.fit.results import ResultsFile, RunRecord, settings_key
from bioner_mtl.training.spec.catalogue import MODELS, PaperColumn, baseline_of

# training.grids.stats and training.grids.summary (SciPy, a second to load) are imported where
# they are used, so a wrong directory or a damaged results file is refused at once

# --- The papers' numbers (test F1, %), copied from SPEC.md sections 7 and 8, each with its
# table. Not our results. ---

# CRICHTON table 9, mention level, PubMed-PMC word2vec: MO-MTM is trained on all 15 corpora
CRICHTON_TABLE_9: dict[str, dict[str, float]] = {
    "BC2GM": {"MLP": 70.31, "STM": 72.63, "MO-MTM": 73.17, "D-MTM": 72.87},
    "BC5CDR": {"MLP": 83.11, "STM": 83.66, "MO-MTM": 83.90, "D-MTM": 83.83},
    "BioNLP09": {"MLP": 81.84, "STM": 83.90, "MO-MTM": 84.20, "D-MTM": 84.10},
    "BioNLP11EPI": {"MLP": 74.98, "STM": 77.72, "MO-MTM": 78.86, "D-MTM": 78.03},
    "BioNLP11ID": {"MLP": 81.44, "STM": 81.50, "MO-MTM": 80.58, "D-MTM": 81.73},
    "BioNLP13CG": {"MLP": 75.23, "STM": 76.74, "MO-MTM": 78.90, "D-MTM": 77.52},
    "BioNLP13GE": {"MLP": 72.49, "STM": 73.28, "MO-MTM": 78.58, "D-MTM": 74.00},
    "BioNLP13PC": {"MLP": 79.35, "STM": 80.61, "MO-MTM": 81.92, "D-MTM": 81.50},
    "Ex-PTM": {"MLP": 65.75, "STM": 68.56, "MO-MTM": 74.90, "D-MTM": 69.67},
    "Linnaeus": {"MLP": 79.01, "STM": 83.98, "MO-MTM": 81.57, "D-MTM": 84.04},
    "NCBI-disease": {"MLP": 79.09, "STM": 80.26, "MO-MTM": 79.02, "D-MTM": 80.37},
}
# CRICHTON table 2 (SPEC.md section 8): the four corpora whose best partner's gain over the
# STM was significant, with that partner and gain (points); for the other corpora the best
# partner's gain was not significant or was negative.
CRICHTON_TABLE_2: dict[str, tuple[str, float]] = {
    "BioNLP11ID": ("BioNLP13GE", 0.76), "BioNLP13CG": ("BioNLP13PC", 0.59),
    "BioNLP13GE": ("BioNLP11EPI", 2.81), "Ex-PTM": ("BioNLP11EPI", 5.02),
}
# CRICHTON table 10: points lost on average against the full training data.
CRICHTON_TABLE_10: dict[str, dict[float, float]] = {
    "STM": {0.5: 3.4, 0.25: 8.0, 0.1: 16.7},
    "MO-MTM (best partner)": {0.5: 0.2, 0.25: 3.0, 0.1: 9.8},
}
# WANG table 2, token-level macro F1, GloVe 100d. Which partner the FS-, SP- and ADV-MTM rows
# used is not stated there; CS-MTM's Ex-PTM 72.05 is the BioNLP09 cell of WANG's table 4.
WANG_TABLE_2: dict[str, dict[str, float]] = {
    "BC2GM": {"STM": 83.91, "FS-MTM": 84.04, "SP-MTM": 84.34, "ADV-MTM": 83.85, "CS-MTM": 84.41},
    "Ex-PTM": {"STM": 67.31, "FS-MTM": 71.49, "SP-MTM": 70.24, "ADV-MTM": 71.72, "CS-MTM": 72.05},
    "NCBI-disease": {"STM": 86.05, "FS-MTM": 85.49, "SP-MTM": 86.29, "ADV-MTM": 86.44,
                     "CS-MTM": 86.50},
    "Linnaeus": {"STM": 78.25, "FS-MTM": 77.60, "SP-MTM": 82.33, "ADV-MTM": 82.59,
                 "CS-MTM": 82.40},
}
WANG_BEST_PARTNER = {"BC2GM": "JNLPBA", "Ex-PTM": "BioNLP09", "NCBI-disease": "BioNLP09",
                     "Linnaeus": "BC5CDR"}
# Mention level, BioBERT (SPEC.md section 7), as (who, number as printed), by the kind of run
# they sit beside. TONG's table 2 lists the BioBERT row as Lee et al. report it (TONG's own
# BioBERT run is not this number). TONG's model is one corpus with auxiliary heads derived from
# its labels, so it sits beside bert-tong alone; KHAN's is one model on 3 corpora. SPEC.md
# gives the KHAN numbers and TONG's max-pooling ones without their tables.
LEE = "BioBERT, Lee et al. as TONG t.2 lists it"
BERT_REFERENCE: dict[str, dict[str, list[tuple[str, str]]]] = {
    "BC2GM": {"single": [(LEE, "84.40")], "tong": [("TONG max pooling", "84.78")],
              "khan": [("KHAN 3-corpus MTL", "83.01")]},
    "BC5CDR-chem": {"single": [(LEE, "93.44")], "tong": [("TONG max pooling", "93.98")]},
    "BC5CDR": {"khan": [("KHAN 3-corpus MTL", "89.5")]},
    "NCBI-disease": {"single": [(LEE, "89.36")], "tong": [("TONG max pooling", "89.91")],
                     "khan": [("KHAN 3-corpus MTL", "88.1")]},
}
# which of those each BERT column of the catalogue is compared with (none: no paper number)
BERT_KIND = {"single-task": "single", "KHAN single-task": "single",
             "RODRIGUEZ single-task": "single", "TONG one corpus": "tong",
             "multi-head": "khan", "KHAN MTL": "khan"}
TONG_FRACTION = {("NCBI-disease", 0.1): "TONG table 3, 10% of NCBI-disease: TONG 83.39 vs "
                                        "BioBERT 80.10"}

PRESET_ORDER = {"paper": 0, "quick": 1}
TOKEN = "test_token_macro_f1"


# --- Groups: the runs of one cell, differing only in their seed. ---


def special_of(r: RunRecord) -> str | None:
    """Runs the paper tables leave out: entity ablation, a start from another run's encoder."""
    parts = []
    if r.leave_out or r.role:
        parts.append(f"entity ablation, leave out {r.leave_out}" + (f", {r.role}" if r.role
                                                                     else ""))
    if r.config.get("init_encoder"):
        parts.append(f"from encoder {Path(str(r.config['init_encoder'])).name}")
    return "; ".join(parts) or None


def budget_of(r: RunRecord) -> str:
    train = r.config.get("train") or {}
    if train.get("steps"):  # main-corpus batches since main_batches is recorded; before, steps
        return f"{train['steps']} " + ("main batches" if r.main_batches is not None else "steps")
    if train.get("epochs"):
        return f"{train['epochs']:g} epoch" + ("" if train["epochs"] == 1 else "s")
    return "?"


def plan_of_record(r: RunRecord) -> str | None:
    """The plan of rounds the grid of a record ran under, as the record names it (its
    `experiment`: 'sequential looks=3,6,10 margin=1', an A/A check's 'aa sequential ...';
    training.grids.stats.Plan.tag); None for a fixed design. Records of two plans are two
    grids: never pooled, each reported with the verdicts its grid printed."""
    from bioner_mtl.training.grids import stats

    return r.experiment if stats.Plan.from_tag(r.experiment) is not None else None


@dataclass
class Group:
    """Records that differ only in their seed, run under one plan: one cell of a table."""

    main: str
    model: str
    aux: tuple[str, ...]
    preset: str | None
    fraction: float
    decoding: str
    settings: tuple  # training.results.settings_key of the runs' configuration
    special: str | None
    plan: str | None  # plan_of_record: the grid's plan of rounds (None: a fixed design)
    records: list[RunRecord] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)  # each record's results file

    @classmethod
    def key(cls, r: RunRecord) -> tuple:
        return (r.main, r.model, tuple(r.aux), r.preset, float(r.train_fraction), r.decoding,
                settings_key(r.config), special_of(r), plan_of_record(r))

    @property
    def n(self) -> int:
        return len(self.records)

    def values(self, metric: str = "test_f1") -> list[float]:
        return [getattr(r, metric) for r in self.records]

    def mean(self, metric: str = "test_f1") -> float:
        from bioner_mtl.training.grids import (
            stats,  # SciPy: loaded once the run directories are read
        )

        return stats.mean_std(self.values(metric))[0]

    def base_settings(self) -> tuple:
        """The settings without the partners' loss weight: those of its single-task cell."""
        return tuple(item for item in self.settings if item[0] != "loss_weights")

    def loss_weights(self) -> tuple:
        """The partners' loss weights among the settings (none for a single-task cell):
        what base_settings leaves out."""
        return tuple(item for item in self.settings if item[0] == "loss_weights")

    @property
    def train_on(self) -> str:
        """'train' (selected on devel) or 'train+devel' (a fixed length, no devel score)."""
        return self.records[0].config.get("train_on", "train")

    @property
    def encoder(self) -> str | None:
        r = self.records[0]
        return r.model_config.get("encoder") or (r.config.get("model_options") or {}).get(
            "encoder")


def paper_of(model: str) -> PaperColumn | None:
    spec = MODELS.get(model)
    return spec.paper if spec else None


def column_of(model: str, aux: tuple[str, ...] = (), main: str | None = None) -> str | None:
    """The paper column a run of `model` with partners `aux` fills, if any. Where the paper
    tells one-partner runs from its model on every corpus (CRICHTON's tables 2 and 9), a run
    with several partners fills the all-corpora column only if it has every other bundled
    corpus."""
    paper = paper_of(model)
    if paper is None:
        return None
    if not aux:
        return paper.alone
    if paper.one_partner is None:
        return paper.with_partners
    if len(aux) == 1:
        return paper.one_partner
    every = set(corpora.bundled_ner_corpora()) - {main}
    return paper.with_partners if set(aux) == every else None


# --- Reading. ---


def read_records(files: list[Path]) -> tuple[list[tuple[Path, RunRecord]], int]:
    """(file, record) for every record once: a cell found in two files under one plan is one
    run. The same cell in the grids of two plans (an old grid's and the larger one started
    after it, docs/grids.md) is kept in each: each grid is reported as it ran."""
    read = [(path, record) for path in files for record in ResultsFile(path).records()]
    if not read:  # every file read and checked before SciPy loads (plan_of_record)
        raise InputError(f"no records in {', '.join(map(str, files))}; did every run fail?")
    records, seen, duplicates = [], set(), 0
    for path, record in read:
        key = (record.cell, plan_of_record(record))
        if record.cell and key in seen:
            duplicates += 1
            continue
        if record.cell:
            seen.add(key)
        records.append((path, record))
    return records, duplicates


def group_records(records: list[tuple[Path, RunRecord]]) -> list[Group]:
    """Records of one cell pooled as its seeds; runs of that cell on different versions of a
    corpus (their records' file fingerprints differ) are refused, never averaged."""
    groups: dict[tuple, Group] = {}
    for path, r in records:
        key = Group.key(r)
        g = groups.setdefault(key, Group(*key))
        for other, source in zip(g.records, g.sources):
            changed = sorted(name for name in set(r.data or {}) & set(other.data or {})
                             if r.data[name] != other.data[name])
            if changed:
                raise InputError(f"{source} and {path} hold runs of one cell ({r.main}, "
                                 f"{r.model}) on different versions of {changed[0]}'s files; "
                                 "report each version's directories on their own")
        g.records.append(r)
        g.sources.append(path)
    return list(groups.values())


# --- Formatting. ---


def fraction_text(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def cell(runs: Group | list[RunRecord] | None, metric: str = "test_f1", mark: str = "") -> str:
    """'mean ± std (n)', the std left out for one seed."""
    from bioner_mtl.training.grids import stats

    runs = runs.records if isinstance(runs, Group) else runs or []
    if not runs:
        return "–"
    mean, std = stats.mean_std([getattr(r, metric) for r in runs])
    if mean != mean:
        return "–"
    spread = f" ± {100 * std:.2f}" if len(runs) > 1 else ""
    return f"{100 * mean:.2f}{spread} ({len(runs)}){mark}"


def table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """A markdown table: the first `left` columns (names) left-aligned, numbers right."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] * left + ["---:"] * (len(header) - left)) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def ref(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def aux_text(aux: tuple[str, ...]) -> str:
    return "+".join(aux) if aux else "none"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def sort_key(preset: str | None) -> tuple:
    return PRESET_ORDER.get(preset or "", 2), str(preset)


ABSENT = "(unset)"
SAID_BY_SPECIAL = "init_encoder"  # a start from another encoder is named by special_of


def modal_settings(groups: list[Group]) -> dict[tuple, dict[str, str]]:
    """Per preset and model, each setting's most common value (unset counts as a value):
    what a variant is told apart from."""
    populations: dict[tuple, list[Group]] = {}
    for g in groups:
        populations.setdefault((g.preset, g.model), []).append(g)
    modal = {}
    for key, members in populations.items():
        names = {name for g in members for name, _ in g.settings}
        counts = {name: Counter() for name in names}
        for g in members:
            values = dict(g.settings)
            for name in names:
                counts[name][values.get(name, ABSENT)] += g.n
        modal[key] = {name: c.most_common(1)[0][0] for name, c in counts.items()}
    return modal


def variant(group: Group, modal: dict[tuple, dict[str, str]]) -> str:
    """What sets this group apart from the usual runs of its model and preset: settings
    (model options without their prefix), decoding, special runs."""
    usual = modal.get((group.preset, group.model), {})
    values = dict(group.settings)
    parts = []
    for name in sorted(set(usual) | set(values)):
        value = values.get(name, ABSENT)
        if value != usual.get(name, ABSENT) and name not in ("loss_weights", SAID_BY_SPECIAL):
            parts.append(f"{name.removeprefix('model_options.')}={value}")
    if "loss_weights" in values:
        parts.append(f"partner loss weight {values['loss_weights']}")
    if group.decoding != "constrained":
        parts.append(f"{group.decoding} decoding")
    if group.special:
        parts.append(group.special)
    return ", ".join(parts)


def tagged(text: str, label: str) -> str:
    return f"{text} [{label}]" if label else text


# --- Choosing cells and testing them. ---


def best_on_devel(groups: Iterable[Group]) -> Group | None:
    """The variant a practitioner would keep: best mean devel F1 (never test), then most seeds."""
    def key(g: Group) -> tuple[float, int]:
        devel = g.mean("devel_f1")
        return (devel if devel == devel else -math.inf, g.n)

    return max(groups, key=key, default=None)


def test_against(group: Group | None, base: Group | None, metric: str = "test_f1"
                 ) -> float | None:
    from bioner_mtl.training.grids import stats

    if group is None or base is None:
        return None
    g = stats.gain("", base.records, group.records, metric=metric)  # paired by seed
    return g.p if g.seeds > 1 else None


def mark(p: float | None) -> str:
    from bioner_mtl.training.grids import stats

    return "*" if stats.significant(p) else ""


def plan_text(group: Group) -> str:
    """How a group's grid gave out seeds, for a heading: '' for a fixed design."""
    from bioner_mtl.training.grids import stats

    plan = stats.Plan.from_tag(group.plan)
    if plan is None:
        return ""
    check = "A/A check, " if (group.plan or "").startswith("aa ") else ""
    return (f"{check}rounds of {', '.join(map(str, plan.looks))} seeds, margin "
            f"{100 * plan.margin:g}")


def baseline_for(group: Group, groups: list[Group]) -> Group | None:
    """The single-task cell a multi-task one is tested against: the catalogue's baseline model
    alone on the same corpus, preset, fraction, decoding and settings, run under the same
    plan of rounds (plan_of_record: the baseline of the same grid)."""
    model = baseline_of(group.model)
    return best_on_devel(
        g for g in groups if g.model == model and not g.aux and not g.special
        and (g.main, g.preset, g.fraction, g.decoding, g.base_settings(), g.plan)
        == (group.main, group.preset, group.fraction, group.decoding, group.base_settings(),
            group.plan))


def settings_sections(groups: list[Group]) -> list[tuple[str | None, float, str]]:
    """(preset, fraction, train_on) of each table: a train+devel run, which has no devel
    score, is never chosen or tested beside runs selected on devel."""
    keys = {(g.preset, g.fraction, g.train_on) for g in groups if not g.special}
    return sorted(keys, key=lambda k: (*sort_key(k[0]), -k[1], k[2]))


def setting_title(preset: str | None, fraction: float, train_on: str = "train") -> str:
    data = "full training data" if fraction == 1.0 else \
        f"{fraction_text(fraction)} of the main training data"
    final = (", trained on train+devel for a fixed length (no devel selection)"
             if train_on == "train+devel" else "")
    return f"{preset or 'no'} preset, {data}{final}"


def corpus_order(names: Iterable[str], reference: Iterable[str]) -> list[str]:
    names = set(names)
    return [c for c in reference if c in names] + sorted(names - set(reference))


@dataclass
class Tests:
    """Every t-test a table made: its `*` marks read Holm's correction over them (as every
    grid's own table does), and they are listed under it so the marks can be checked. A cell
    holds a placeholder for its mark until the table's tests are all in (`resolve`)."""

    tests: list[tuple[str, int, int, float | None]] = field(default_factory=list)

    def add(self, what: str, group: Group, base: Group, p: float | None) -> str:
        self.tests.append((what, group.n, base.n, p))
        return f"\x00{len(self.tests) - 1}\x00"

    def adjusted(self) -> list[float | None]:
        from bioner_mtl.training.grids import stats

        return stats.holm([p for *_, p in self.tests])

    def resolve(self, rows: list[list[str]]) -> list[list[str]]:
        """The rows with each test's mark: `*` where its Holm-corrected p is below 0.05."""
        marks = [mark(q) for q in self.adjusted()]
        return [[re.sub("\x00(\\d+)\x00", lambda m: marks[int(m[1])], c) for c in row]
                for row in rows]

    @property
    def lines(self) -> list[str]:
        return [f"{what}: n = {n} vs {n_base}, "
                + ("no test" if p is None else f"p = {p:.3g}, Holm p = {q:.3g}{mark(q)}")
                for (what, n, n_base, p), q in zip(self.tests, self.adjusted())]


def budget_line(shown: Iterable[Group | None]) -> list[str]:
    """Training budgets of the cells shown: runs cut short of the paper's length read lower."""
    budgets: dict[str, set[str]] = {}
    for g in shown:
        if g is not None:
            known = {budget_of(r) for r in g.records} - {"?"}
            if known:
                budgets.setdefault(g.model, set()).update(known)
    if not budgets:
        return []
    return ["", "Training budget of the cells shown: " + "; ".join(
        f"`{m}` {', '.join(sorted(b))}" for m, b in sorted(budgets.items())) + "."]


def test_lines(tests: Tests) -> list[str]:
    return ["", "t-tests: " + "; ".join(tests.lines) + "."] if tests.lines else []


# --- The papers' tables: which model fills which column is the catalogue's `paper`. ---


def paper_columns(paper_table: str) -> dict[str, list[str]]:
    """A table's columns in catalogue order, each with the models (and roles) that fill it."""
    columns: dict[str, list[str]] = {}
    for name, spec in MODELS.items():
        paper = spec.paper
        if paper is None or paper.table != paper_table:
            continue
        with_partners = ("with every other bundled corpus" if paper.one_partner
                         else "with partners")
        for column, role in ((paper.alone, "alone"), (paper.with_partners, with_partners),
                             (paper.one_partner, "with one partner")):
            if column:
                columns.setdefault(column, []).append(f"`{name}` {role}")
    return columns


def legend(columns: dict[str, list[str]]) -> str:
    return "; ".join(f"{c} = {' or '.join(models)}" for c, models in columns.items())


@dataclass(frozen=True)
class Layout:
    """How one paper's tables are laid out: our metrics per column, after the first of them
    the paper's cell from the table that column cites (its number in the header)."""

    heading: str
    paper: str
    order: tuple[str, ...]  # the paper's corpora, in its order
    sources: dict[str, tuple[str, dict[str, str]]]  # column -> (table, corpus -> paper's cell)
    metrics: tuple[tuple[str, str], ...]  # (header words, RunRecord field)
    note: str  # {legend} is the catalogue's column legend


def table_9(column: str) -> dict[str, str]:
    return {corpus: ref(row[column]) for corpus, row in CRICHTON_TABLE_9.items()}


def table_2_cell(corpus: str) -> str:
    """CRICHTON table 2's best one-partner gain for a corpus of its table 9."""
    if corpus in CRICHTON_TABLE_2:
        partner, gain = CRICHTON_TABLE_2[corpus]
        return f"{gain:+.2f}* with {partner}"
    return "not significant or negative"


LAYOUTS = {
    "CRICHTON": Layout(
        "Window-CNN family vs CRICHTON tables 9 and 2", "CRICHTON", tuple(CRICHTON_TABLE_9),
        {"MLP": ("t.9", table_9("MLP")), "STM": ("t.9", table_9("STM")),
         "MO-MTM all corpora": ("t.9", table_9("MO-MTM")),
         "MO-MTM one partner": ("t.2 gain", {c: table_2_cell(c) for c in CRICHTON_TABLE_9}),
         "D-MTM": ("t.9", table_9("D-MTM"))},
        (("ours", "test_f1"),),
        "Test mention-level F1 (strict, %): ours as mean ± sample std over seeds (number of "
        "seeds); CRICHTON's cells are the paper's (PubMed-PMC word2vec), copied into "
        "report.py, not our runs: table 9 for MLP, STM, D-MTM (the STM with a GENIA POS "
        "tagger, no NER partner) and MO-MTM trained on all 15 of their corpora (ours: with "
        "every other bundled corpus, 11 of the 15 being bundled); table 2 for one partner, "
        "where the paper gives the best partner's gain over the STM (points; `*` significant "
        "in their t-test), not an F1. Columns: {legend}. The one-partner column shows the "
        "partner with the best mean *devel* F1, named after `with`. Where a cell has several "
        "variants (in [brackets]) the one with the best devel F1 is shown; all are listed "
        "under All record groups. `*` after ours: p < 0.05 in a paired test over seeds "
        "(training.stats) against the baseline's cell of the same corpus, Holm-corrected "
        "over the table's tests (listed below it); n < 2 on either side gives no test and no "
        "mark."),
    "WANG": Layout(
        "BiLSTM-CNN-CRF family vs WANG table 2", "WANG", tuple(WANG_TABLE_2),
        {column: ("t.2", {corpus: ref(row[column]) for corpus, row in WANG_TABLE_2.items()})
         for column in ("STM", "FS-MTM", "SP-MTM", "ADV-MTM", "CS-MTM")},
        (("token ours", TOKEN), ("mention ours", "test_f1")),
        "Token-level macro F1 without `O` (WANG's metric, %) beside WANG's table 2 (GloVe "
        "100d, copied into report.py, not our runs); `mention ours` is our strict mention-level "
        "F1 of the same runs. Columns: {legend}; each cell is the variant with the best devel "
        "F1. Table 2 does not say which partner its FS-, SP- and ADV-MTM used; its CS-MTM "
        "Ex-PTM 72.05 is the BioNLP09 cell of WANG's table 4. WANG's best partners: "
        + ", ".join(f"{c} <- {p}" for c, p in WANG_BEST_PARTNER.items())
        + ". `*`: p < 0.05, paired test over seeds (training.stats) against the baseline's "
        "cell, on the column's metric, Holm-corrected over the table's tests (listed below "
        "it); n < 2 gives no test."),
}


def layout_table(layout: Layout, groups: list[Group], modal: dict, note: bool) -> list[str]:
    """One paper's table: per corpus, the best-on-devel group of every column beside the
    paper's number, tested against the cell of its catalogue baseline."""
    columns = paper_columns(layout.paper)
    first, *others = layout.metrics
    header = ["corpus"] + [h for c in columns for h in (
        f"{c} {first[0]}", f"{c} {layout.paper} {layout.sources.get(c, ('?',))[0]}",
        *(f"{c} {m[0]}" for m in others))]
    tests, rows, shown = Tests(), [], []
    for corpus in corpus_order({g.main for g in groups}, layout.order):
        mine = [g for g in groups if g.main == corpus]
        chosen = {c: best_on_devel(g for g in mine if column_of(g.model, g.aux, g.main) == c)
                  for c in columns}
        shown += chosen.values()
        row = [corpus]
        for column, group in chosen.items():
            texts = ["–"] * len(layout.metrics)
            if group is not None:
                base_column = column_of(baseline_of(group.model))
                base = chosen.get(base_column) if base_column != column else None
                for i, (words, metric) in enumerate(layout.metrics):
                    p = test_against(group, base, metric)
                    what = f" ({words.split()[0]})" if others else ""
                    texts[i] = cell(group, metric, "" if base is None else tests.add(
                        f"{corpus} {column} vs {base_column}{what}", group, base, p))
                if group.aux:
                    every = len(group.aux) > 1 and paper_of(group.model).one_partner
                    texts[0] += " with " + (f"all {len(group.aux)} others" if every
                                            else aux_text(group.aux))
                texts[0] = tagged(texts[0], variant(group, modal))
            paper = layout.sources.get(column, ("", {}))[1].get(corpus, "–")
            row += [texts[0], paper, *texts[1:]]
        rows.append(row)
    out = table(header, tests.resolve(rows))
    if note:
        out += ["", layout.note.format(legend=legend(columns))]
    return out + budget_line(shown) + test_lines(tests)


def bert_tables(groups: list[Group], modal: dict, note: bool = True) -> list[str]:
    """Per main corpus: single-task and multi-head BERT runs beside the BERT papers."""
    out: list[str] = []
    for corpus in sorted({g.main for g in groups}):
        mine = [g for g in groups if g.main == corpus]
        singles = [g for g in mine if not g.aux]
        # the reference is a plain single-task row: TONG's one-corpus model is multi-task in
        # its label-derived heads, so it is tested against that row, never taken as it
        plain = [g for g in singles if BERT_KIND.get(column_of(g.model) or "") == "single"]
        base = best_on_devel(plain)
        multis = sorted((g for g in mine if g.aux), key=lambda g: -g.mean())
        refs = BERT_REFERENCE.get(corpus, {})
        rows, tests = [], Tests()
        for g in sorted(singles, key=lambda g: -g.mean()) + multis:
            tested = (bool(g.aux) or g not in plain) and base is not None
            p = test_against(g, base) if tested else None
            name = column_of(g.model, g.aux, g.main)
            papers = refs.get(BERT_KIND.get(name or "", ""), [])
            encoder = Path(g.encoder).name if g.encoder else "all-MiniLM-L6-v2 (default)"
            label = f"{name} with {aux_text(g.aux)}" if g.aux else name
            rows.append([label, encoder, variant(g, modal) or "–",
                         cell(g, mark=tests.add(label, g, base, p) if tested else ""),
                         "–" if not tested else ("n < 2" if p is None else f"{p:.3g}"),
                         cell(g, TOKEN),
                         "; ".join(f"{who} {value}" for who, value in papers) or "–"])
        out += [f"#### {corpus}", ""] + table(
            ["model", "encoder", "variant", "test F1 ours", "p vs single-task",
             "token macro F1", "papers (BioBERT v1.1)"], tests.resolve(rows), left=3) \
            + budget_line(mine) + test_lines(tests)
        out.append("")
    return out + ([] if not note else [
        "Test mention-level F1 (%), mean ± std (seeds). The papers' numbers (copied into "
        "report.py) used BioBERT v1.1, a far larger biomedical encoder: compare trends, not "
        "levels, when our encoder differs. Single-task rows stand beside BioBERT as TONG's "
        "table 2 lists Lee et al.'s number; `bert-tong` alone beside TONG's model (one corpus "
        "with its label-derived heads, max pooling); multi-head rows of `bert` and `bert-khan` "
        "beside KHAN's one model on 3 corpora. p: paired test (training.stats) against the "
        "plain single-task row (no partner, no auxiliary heads) with the best devel F1, for "
        "every multi-head row and TONG's one-corpus row (`*`: Holm-corrected over the corpus's "
        "rows, p < 0.05; the p column is before correction); n < 2 gives no test."])


def paper_tables(groups: list[Group], modal: dict) -> list[str]:
    out = ["## Single-task and multi-task by corpus", ""]
    plain = [g for g in groups if not g.special and column_of(g.model, g.aux, g.main)]
    noted: set[str] = set()  # each table's explanation once, under its first one
    for preset, fraction, train_on in settings_sections(plain):
        here = [g for g in plain if (g.preset, g.fraction, g.train_on)
                == (preset, fraction, train_on)]
        title = setting_title(preset, fraction, train_on)
        for name in ("CRICHTON", "WANG", "BERT"):
            mine = [g for g in here if paper_of(g.model).table == name]
            if not mine:
                continue
            if name == "BERT":
                out += [f"### BERT multi-head ({title})", ""]
                out += bert_tables(mine, modal, name not in noted) + [""]
            else:
                out += [f"### {LAYOUTS[name].heading} ({title})", ""]
                out += layout_table(LAYOUTS[name], mine, modal, name not in noted) + [""]
            noted.add(name)
    return out


# --- Sections. ---


def provenance(files: list[Path], records: list[tuple[Path, RunRecord]],
               duplicates: int) -> list[str]:
    """What the report was made from, since results records carry no dates."""
    def counted(counter: Counter) -> str:
        return ", ".join(f"{k} ({v})" for k, v in sorted(counter.items(), key=lambda kv: str(kv)))

    per_file = Counter(path for path, _ in records)
    versions: dict[str, set[str]] = {}
    for _, r in records:
        for package, version in r.versions.items():
            versions.setdefault(package, set()).add(str(version))
    runs = [r for _, r in records]
    lines = ["## Provenance", "",
             f"- {len(records)} records from {len(files)} results files "
             "(records carry no dates; the versions below are what they were trained with):"]
    lines += [f"  - `{f}`: {per_file.get(f, 0)} record" + ("" if per_file.get(f) == 1 else "s")
              for f in files]
    lines += [
        f"- presets: {counted(Counter(r.preset or '(none)' for r in runs))}",
        f"- decodings: {counted(Counter(r.decoding for r in runs))}",
        f"- models: {counted(Counter(r.model for r in runs))}",
        "- training fractions: " + counted(Counter(fraction_text(r.train_fraction)
                                                   for r in runs)),
        "- versions: " + ("; ".join(f"{p} {', '.join(sorted(v))}"
                                    for p, v in sorted(versions.items())) or "not recorded"),
    ]
    if duplicates:
        lines.append(f"- {duplicates} records repeat a run (same cell) already read and are "
                     "counted once")
    lines += ["", "Seeds are pooled only when corpus, model, partners, preset, training "
              "fraction, decoding, the run's settings and the plan of rounds its grid ran "
              "under all match: the grids of two plans (a grid, and a larger one started "
              "after it) are reported apart, each with the verdicts it printed. F1 in %."]
    return lines


def pairwise_grids(groups: list[Group]) -> list[tuple[Group | None, list[Group]]]:
    """The pairwise grids among the groups, each as (its single-task baseline or None, its
    one-partner groups): one grid per main corpus, model, preset, fraction, decoding,
    settings and plan of rounds, so a partner is only ever paired with the baseline of its
    own kind of cell (baseline_for). The report's pairwise tables and the recommender's
    gains (training.grids.recommend.collect) both read them."""
    grids: dict[tuple, list[Group]] = {}
    for g in groups:  # partners are ranked on devel: train+devel runs have none
        if len(g.aux) == 1 and not g.special and g.train_on == "train":
            key = (g.preset, g.fraction, g.main, g.model, g.decoding, g.settings,
                   g.plan)  # a grid run in rounds is one grid of its own
            grids.setdefault(key, []).append(g)
    ordered = sorted(grids, key=lambda k: (*sort_key(k[0]), -k[1], k[2], k[3], k[-1] or ""))
    return [(baseline_for(grids[k][0], groups), grids[k]) for k in ordered]


def pairwise_section(groups: list[Group], modal: dict) -> list[str]:
    """Which partner helps each corpus: one grid per corpus, model and setting, ranked by
    training.summary (the pairwise command's own rows) against the catalogue's baseline."""
    from bioner_mtl.training.grids import stats, summary

    grids = pairwise_grids(groups)
    if not grids:
        return []
    out = ["## Pairwise grids", "",
           "One auxiliary partner at a time, sorted by devel gain (the choice); each partner's "
           "test gain (mention F1, points) over the single-task baseline with its 95% CI "
           f"({stats.METHOD}); `*`: Holm-corrected p < 0.05; verdict: helps / hurts (the "
           "corrected test), equivalent (within the margin, TOST) or undecided.", ""]
    for base, partners in grids:
        first = partners[0]
        label = variant(first, modal)
        plan = plan_text(first)  # two grids of one setting (an old plan, a larger one): apart
        out += [f"### {first.main}: {first.model}, {setting_title(first.preset, first.fraction)}"
                + (f", {plan}" if plan else "") + (f" [{label}]" if label else ""), ""]
        records = [r for g in ([base] if base else []) + partners for r in g.records]
        ranked = summary.partner_rows(records)[first.main]
        rows = []
        for r in ranked:
            name = f"(single-task {base.model})" if r.partner == stats.BASELINE else r.partner
            numbers, seeds = ["–", "–", "–", "–"], len(r.runs)
            if r.gain is not None:
                p = ("n < 2" if r.gain.seeds < 2
                     else f"{r.gain.adjusted:.3g}{summary.mark(r.gain)}")
                numbers = [f"{100 * r.gain.mean:+.2f}",
                           f"[{100 * r.gain.low:+.2f}, {100 * r.gain.high:+.2f}]", p,
                           r.gain.verdict]
                seeds = r.gain.seeds  # a partner cut mid-round has seeds not yet paired
            rows.append([name, str(seeds), cell(r.runs), *numbers, cell(r.runs, TOKEN)])
        out += table(["partner", "seeds", "test F1", "gain", "95% CI", "p (Holm)", "verdict",
                      "token macro F1"], rows)
        if base is None:
            out += ["", f"No single-task baseline ({baseline_of(first.model)} alone) for "
                        f"{first.main} in this setting: gains unknown; best devel F1 with "
                        f"{ranked[0].partner}."]
        else:
            out += ["", f"Verdict for {first.main}: {summary.verdict(ranked)}."]
        out.append("")
    return out


def ablation_section(groups: list[Group], modal: dict, out_dir: Path) -> tuple[list[str],
                                                                             list[Path]]:
    """F1 against the share of training data, single-task beside multi-task (CRICHTON t.10):
    a family is a baseline model (the catalogue's) with the models compared with it."""
    families: dict[tuple, dict[tuple, dict[float, Group]]] = {}
    for g in groups:
        if g.special:
            continue
        # one family per plan of rounds: two grids at one fraction are two series, not one
        key = (g.preset, g.main, baseline_of(g.model), g.decoding, g.base_settings(), g.plan)
        # partners' loss weights set a series apart (two --aux-weight grids: two lines)
        families.setdefault(key, {}).setdefault((g.model, g.aux, *g.loss_weights()),
                                                {})[g.fraction] = g
    keep = {k: v for k, v in families.items() if any(len(s) > 1 for s in v.values())}
    if not keep:
        return [], []
    out = ["## Data ablation", "",
           "Test mention-level F1 (%) against the share of the main corpus's training sentences "
           "(devel, test and partners stay whole); `loss` = points below the same model at "
           "100%. `*`: p < 0.05 against single-task at the same fraction (paired test, "
           "Holm-corrected over the table's tests, listed below it; "
           "training/grids/stats.py); n < 2 gives no test. CRICHTON table 10 (mean over their "
           "corpora, "
           "points lost): "
           + "; ".join(f"{name} " + " / ".join(f"{v:.1f}" for v in losses.values())
                       for name, losses in CRICHTON_TABLE_10.items())
           + " at 50 / 25 / 10%.", ""]
    plots, used = [], set()
    for key in sorted(keep, key=lambda k: (*sort_key(k[0]), k[1], k[2])):
        preset, main, stm, *_ = key
        series = keep[key]
        st_key = (stm, ())
        names = sorted(series, key=lambda s: (s != st_key, s))
        fractions = sorted({f for s in series.values() for f in s})
        label = variant(next(iter(series[names[0]].values())), modal)
        out += [f"### {main}: {stm} family, {preset or 'no'} preset"
                + (f" [{label}]" if label else ""), ""]
        header, rows = ["train fraction"], []
        for name in names:
            header += [series_label(name, st_key, " with ")] + (
                ["loss"] if 1.0 in series[name] else [])
        paper = paper_of(stm)
        crichton = paper is not None and (paper.table, paper.alone) == ("CRICHTON", "STM")
        if crichton:
            header.append("CRICHTON t.10 loss STM / MO-MTM")
        tests = Tests()
        for fraction in fractions:
            row = [fraction_text(fraction)]
            base = series.get(st_key, {}).get(fraction)
            for name in names:
                g = series[name].get(fraction)
                tested = name != st_key and g is not None and base is not None
                row.append(cell(g, mark=tests.add(
                    f"{fraction_text(fraction)} {series_label(name, st_key, ' with ')}", g,
                    base, test_against(g, base)) if tested else ""))
                if 1.0 in series[name]:
                    full = series[name][1.0].mean()
                    row.append("–" if g is None else f"{100 * (full - g.mean()):.2f}")
            if crichton:
                losses = [v.get(fraction) for v in CRICHTON_TABLE_10.values()]
                row.append("–" if None in losses else " / ".join(f"{v:.1f}" for v in losses))
            rows.append(row)
        out += table(header, tests.resolve(rows)) + test_lines(tests)
        tong = TONG_FRACTION.get((main, min(fractions)))
        if tong and paper is not None and paper.table == "BERT":
            out += ["", tong + " (BioBERT v1.1)."]
        stem = slug(f"ablation_{main}_{stm}_{preset or 'none'}")
        name, number = stem, 2
        while name in used:
            name, number = f"{stem}-{number}", number + 1
        used.add(name)
        path = out_dir / f"{name}.png"
        rounds = f", {plan_text(series[names[0]][fractions[0]])}" if key[-1] else ""
        plot_ablation(path, series, names, st_key,
                      f"{main}: {stm} family, {preset} preset{rounds}")
        plots.append(path)
        out += ["", f"![{path.name}]({path.name})", ""]
    return out, plots


def series_label(name: tuple, st_key: tuple, joiner: str) -> str:
    if name == st_key:
        return "single-task"
    weights = "".join(f", loss weights {value}" for _, value in name[2:])
    return name[0] + (f"{joiner}{aux_text(name[1])}" if name[1] else "") + weights


def plot_ablation(path: Path, series: dict, names: list, st_key: tuple, title: str) -> None:
    import matplotlib

    from bioner_mtl.training.grids import stats

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        points = sorted(series[name].items())
        moments = [stats.mean_std(g.values()) for _, g in points]
        ax.errorbar([100 * f for f, _ in points], [100 * m for m, _ in moments],
                    yerr=[100 * s for _, s in moments], marker="o", capsize=3,
                    label=series_label(name, st_key, " + "))
    ax.set_xlabel("share of the main training sentences (%)")
    ax.set_ylabel("test mention F1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(path, fig, dpi=120)
    plt.close(fig)


def rel(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out.resolve().parent)).as_posix()


def figures_section(directories: list[Path], written: list[Path], out: Path) -> list[str]:
    """Every plot the tools left in the run directories, and ours, in one place."""
    found: dict[Path, Path] = {}
    for path in [*(p for d in directories for p in sorted(d.rglob("*.png"))), *written]:
        found.setdefault(path.resolve(), path)
    if not found:
        return []
    lines = ["## Figures", ""]
    for path in sorted(found.values(), key=lambda p: rel(p, out)):
        lines += [f"`{rel(path, out)}`", "", f"![{path.name}]({rel(path, out)})", ""]
    return lines


SELECTED_ON = {"main": "main devel", "mean": "mean devel"}


def heads_section(groups: list[Group]) -> list[str]:
    """KHAN / RODRIGUEZ report one model on all its corpora: every head of each multi-head
    cell, with what selected its weights (the main corpus's devel F1, the mean over heads, or
    nothing: a train+devel run, which has no devel scores)."""
    from bioner_mtl.training.grids import stats

    def shown(values: list[float]) -> str:
        if not values:
            return "–"
        mean, std = stats.mean_std(values)
        return f"{100 * mean:.2f} ± {100 * std:.2f}"

    rows = []
    for g in groups:
        if not g.aux or not all(r.heads for r in g.records):
            continue
        selected = ("none (train+devel)" if g.train_on == "train+devel" else
                    SELECTED_ON.get(g.records[0].config.get("select_on", "main"), "?"))
        for head in (g.main, *g.aux):
            f1 = {split: [r.heads[head][split]["f1"] for r in g.records
                          if split in r.heads.get(head, {})] for split in ("devel", "test")}
            if not f1["test"]:
                continue
            rows.append([g.main, g.model, aux_text(g.aux), g.preset or "–", head,
                         "main" if head == g.main else "partner", str(len(f1["test"])),
                         shown(f1["test"]), shown(f1["devel"]), selected])
    if not rows:
        return []
    return ["## Every head of multi-head models", "",
            "One model scored on each of its corpora (mention F1 %, mean ± std over seeds); "
            "`selected on`: the devel score that chose its weights (the main corpus's F1, or "
            "the mean over its heads); a train+devel run trained on devel and has no devel "
            "scores.", ""] + table(
        ["main", "model", "partners", "preset", "head", "role", "seeds", "test F1",
         "devel F1", "selected on"], rows, left=6) + [""]


def all_groups_section(groups: list[Group], modal: dict) -> list[str]:
    rows = []
    order = sorted(groups, key=lambda g: (*sort_key(g.preset), -g.fraction, g.main, g.model,
                                          g.aux))
    for g in order:
        seeds = [str(r.seed) for r in g.records]
        repeat = " (repeated)" if len(set(seeds)) < len(seeds) else ""
        budgets = sorted({budget_of(r) for r in g.records})
        rows.append([g.main, g.model, aux_text(g.aux), g.preset or "–", fraction_text(g.fraction),
                     variant(g, modal) or "–", ",".join(seeds) + repeat, cell(g),
                     cell(g, TOKEN), cell(g, "devel_f1"), ", ".join(budgets),
                     ", ".join(sorted({str(s.parent) for s in g.sources})),
                     plan_text(g) or "–"])
    return ["## All record groups", "",
            "Every group of seeds, including the variants and entity-ablation runs that the "
            "tables above leave out. F1 in %, mean ± std (seeds); `plan of rounds`: the seed "
            "counts a grid run in rounds looked at (its verdicts are sequential over them).",
            ""] + table(
        ["corpus", "model", "partners", "preset", "fraction", "variant", "seeds",
         "test F1", "test token macro F1", "devel F1", "budget", "run directory",
         "plan of rounds"], rows, left=6)


def build_report(directories: list[Path], files: list[Path], out: Path) -> str:
    """The whole markdown text from `files`, the results files found under `directories`;
    writes the ablation plots next to `out` on the way."""
    records, duplicates = read_records(files)
    groups = group_records(records)
    modal = modal_settings(groups)
    ablation, plots = ablation_section(groups, modal, out.parent)
    lines = ["# bioner-mtl results report", "",
             f"Made by `experiments/report.py` from {', '.join(f'`{d}`' for d in directories)}.",
             ""]
    lines += provenance(files, records, duplicates) + [""]
    lines += paper_tables(groups, modal)
    lines += pairwise_section(groups, modal)
    lines += ablation
    lines += figures_section(directories, plots, out)
    lines += heads_section(groups)
    lines += all_groups_section(groups, modal)
    return "\n".join(lines).rstrip() + "\n"
