"""One markdown report from many run directories, laid out like the papers' tables so that our
numbers can be read beside the published ones.

    python experiments/report.py runs                       # writes runs/report.md
    python experiments/report.py runs/pairwise-BC2GM-window-cnn-quick runs/wang-ncbi --out r.md

Reads every results.jsonl under the given directories. Seeds are pooled (mean +- sample std,
paired tests of training.stats) only when everything but the seed matches: corpus, model,
auxiliary corpora, preset, training fraction, decoding and the run's settings.
Data-ablation plots are written next to the report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.errors import InputError  # noqa: E402
from experiments.cli import run  # noqa: E402
from training import stats  # noqa: E402
from training.results import ResultsFile  # noqa: E402

# --- The papers' numbers (test F1, %), copied from SPEC.md section 7. Not our results. ---

CRICHTON_TABLE_9: dict[str, dict[str, float]] = {  # mention level, PubMed-PMC word2vec
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
# CRICHTON table 10: points lost on average against the full training data.
CRICHTON_TABLE_10: dict[str, dict[float, float]] = {
    "STM": {0.5: 3.4, 0.25: 8.0, 0.1: 16.7},
    "MO-MTM (best partner)": {0.5: 0.2, 0.25: 3.0, 0.1: 9.8},
}
WANG_TABLE_2: dict[str, dict[str, float]] = {  # token-level macro F1, GloVe 100d
    "BC2GM": {"STM": 83.91, "FS-MTM": 84.04, "SP-MTM": 84.34, "ADV-MTM": 83.85, "CS-MTM": 84.41},
    "Ex-PTM": {"STM": 67.31, "FS-MTM": 71.49, "SP-MTM": 70.24, "ADV-MTM": 71.72, "CS-MTM": 72.05},
    "NCBI-disease": {"STM": 86.05, "FS-MTM": 85.49, "SP-MTM": 86.29, "ADV-MTM": 86.44,
                     "CS-MTM": 86.50},
    "Linnaeus": {"STM": 78.25, "FS-MTM": 77.60, "SP-MTM": 82.33, "ADV-MTM": 82.59,
                 "CS-MTM": 82.40},
}
WANG_BEST_PARTNER = {"BC2GM": "JNLPBA", "Ex-PTM": "BioNLP09", "NCBI-disease": "BioNLP09",
                     "Linnaeus": "BC5CDR"}
BERT_REFERENCE: dict[str, dict[str, list[tuple[str, float]]]] = {  # mention level, BioBERT v1.1
    "BC2GM": {"single": [("BioBERT (TONG t.2)", 84.40)],
              "multi": [("TONG max pooling", 84.78), ("KHAN 3-corpus MTL", 83.01)]},
    "BC5CDR-chem": {"single": [("BioBERT (TONG t.2)", 93.44)],
                    "multi": [("TONG max pooling", 93.98)]},
    "BC5CDR": {"single": [], "multi": [("KHAN 3-corpus MTL", 89.5)]},
    "NCBI-disease": {"single": [("BioBERT (TONG t.2)", 89.36)],
                     "multi": [("TONG max pooling", 89.91), ("KHAN 3-corpus MTL", 88.1)]},
}
TONG_FRACTION = {("NCBI-disease", 0.1): "TONG at 10% of NCBI-disease: 83.39 vs BioBERT 80.10"}

# --- How records group. ---

DECODING_ALIASES = {"viterbi": "constrained", "argmax": "unconstrained"}
WINDOW_FAMILY = ("mlp", "window-cnn", "dependent-cnn")
BILSTM_FAMILY = ("bilstm-crf", "shared-private", "adversarial", "cross-sharing")
STM_OF = {"mlp": "mlp", "window-cnn": "window-cnn", "dependent-cnn": "window-cnn",
          **{m: "bilstm-crf" for m in BILSTM_FAMILY}, "bert": "bert"}
# Settings that never change a result, or name the cell itself (kept elsewhere in the key).
IGNORED_SETTINGS = {"seed", "main", "aux", "model", "train_fraction", "viterbi", "save_encoder",
                    "save_bundle", "init_encoder", "train.eval_every"}
# Fields added to the configuration later: at these values an older record is the same run.
ADDED_LATER = {"train.warmup": 0.0, "train.min_main_batches": 0, "train.weight_decay": 0.0,
               "test_limit": None}
PRESET_ORDER = {"paper": 0, "quick": 1}


@dataclass
class Record:
    """One run, its scores as fractions, and what identifies its group."""

    main: str
    model: str
    aux: tuple[str, ...]
    seed: object
    fraction: float
    preset: str | None
    decoding: str
    test_f1: float
    token_f1: float
    devel_f1: float
    settings: tuple
    special: str | None
    encoder: str | None
    budget: str
    source: Path
    versions: dict
    old_keys: bool
    cell: str | None
    unit_counts: dict | None = None  # per test sentence counts (the bootstrap's input)
    heads: dict | None = None  # every head's devel/test scores (multi-head models)


@dataclass
class Group:
    """Records that differ only in their seed: one cell of a table."""

    records: list[Record] = field(default_factory=list)

    def __getattr__(self, name: str):  # the shared identity, read from the first record
        if name.startswith("_") or name == "records":
            raise AttributeError(name)
        return getattr(self.records[0], name)

    @property
    def n(self) -> int:
        return len(self.records)

    def values(self, metric: str = "test_f1") -> list[float]:
        return [getattr(r, metric) for r in self.records]

    def mean(self, metric: str = "test_f1") -> float:
        return stats.mean_std(self.values(metric))[0]

    def runs(self) -> list[dict]:
        """The records as training.stats reads them (paired by seed)."""
        return [{"seed": r.seed, "test_f1": r.test_f1, "devel_f1": r.devel_f1,
                 "test_token_macro_f1": r.token_f1,
                 **({"unit_counts": r.unit_counts} if r.unit_counts else {})}
                for r in self.records]

    def base_settings(self) -> tuple:
        return tuple(item for item in self.settings if item[0] != "loss_weights")


# --- Reading. ---


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "loss_weights":
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def settings_of(config: dict) -> tuple:
    """The run's settings as a hashable key; partner names in loss weights are left out
    (the partner is in the key already), so a grid's partners share one key."""
    flat = flatten(config)
    if isinstance(flat.get("loss_weights"), dict):
        flat["loss_weights"] = sorted(flat["loss_weights"].values()) or None
    items = []
    for key, value in flat.items():
        if key in IGNORED_SETTINGS or (key in ADDED_LATER and value == ADDED_LATER[key]):
            continue
        if key == "loss_weights" and value is None:
            continue
        items.append((key, json.dumps(value, sort_keys=True)))
    return tuple(sorted(items))


def score(raw: dict, scores: dict, split: str, decoding: str, field_name: str,
          path: tuple[str, ...]) -> float | None:
    """A top-level score, else the same score from the per-decoding dictionary."""
    if raw.get(field_name) is not None:
        return float(raw[field_name])
    node = scores.get(split, {}).get(decoding, {})
    for key in path:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return float(node) if isinstance(node, (int, float)) else None


def budget_of(config: dict) -> str:
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    if train.get("steps"):
        return f"{train['steps']} steps"
    if train.get("epochs"):
        return f"{train['epochs']:g} epoch" + ("" if train["epochs"] == 1 else "s")
    return "?"


def normalise(raw: object, where: str, source: Path) -> Record:
    """A record of any age in one shape; viterbi/argmax keys are read as constrained/
    unconstrained."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: a record must be a JSON object")
    missing = [k for k in ("main", "model") if not raw.get(k)]
    if missing:
        raise InputError(f"{where}: record lacks {', '.join(missing)}; not written by bioner-mtl?")
    old = raw.get("decoding") in DECODING_ALIASES
    scores = {}
    for split, by_decoding in (raw.get("scores") or {}).items():
        if isinstance(by_decoding, dict):
            old = old or any(k in DECODING_ALIASES for k in by_decoding)
            scores[split] = {DECODING_ALIASES.get(k, k): v for k, v in by_decoding.items()}
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    decoding = DECODING_ALIASES.get(raw.get("decoding"), raw.get("decoding")) or (
        "constrained" if config.get("viterbi", True) else "unconstrained")
    test = score(raw, scores, "test", decoding, "test_f1", ("f1",))
    if test is None:
        test = score(raw, scores, "test", decoding, "-", ("strict", "f1"))
    if test is None:
        raise InputError(f"{where}: record has no test_f1 and no scores.test.{decoding}.f1")
    token = score(raw, scores, "test", decoding, "test_token_macro_f1", ("token", "f1"))
    devel = score(raw, scores, "devel", decoding, "devel_f1", ("f1",))
    options = config.get("model_options") or {}
    special_parts = []  # runs the paper tables leave out: entity ablation, encoder transfer
    if raw.get("leave_out") or raw.get("role"):
        special_parts.append(f"entity ablation, leave out {raw.get('leave_out')}"
                             + (f", {raw['role']}" if raw.get("role") else ""))
    if config.get("init_encoder"):
        special_parts.append(f"from encoder {Path(str(config['init_encoder'])).name}")
    special = "; ".join(special_parts) or None
    model_config = raw.get("model_config") if isinstance(raw.get("model_config"), dict) else {}
    return Record(
        main=str(raw["main"]), model=str(raw["model"]), aux=tuple(raw.get("aux") or ()),
        seed=raw.get("seed"), fraction=float(raw.get("train_fraction") or 1.0),
        preset=raw.get("preset"), decoding=decoding, test_f1=test,
        token_f1=math.nan if token is None else token,
        devel_f1=math.nan if devel is None else devel,
        settings=settings_of(config), special=special,
        encoder=model_config.get("encoder", options.get("encoder")), budget=budget_of(config),
        source=source, versions=raw.get("versions") or {}, old_keys=old, cell=raw.get("cell"),
        unit_counts=raw.get("unit_counts") if isinstance(raw.get("unit_counts"), dict) else None,
        heads=raw.get("heads") if isinstance(raw.get("heads"), dict) else None)


def results_files(directories: list[Path]) -> list[Path]:
    files: list[Path] = []
    for directory in directories:
        if not directory.is_dir():
            raise InputError(f"{directory}: not a directory; pass run directories that hold "
                             "results.jsonl")
        found = sorted(directory.rglob("results.jsonl"))
        if not found:
            raise InputError(f"{directory}: no results.jsonl under it; pass a run directory "
                             "written by experiments/train.py, pairwise.py or another tool")
        files += [f for f in found if f.resolve() not in {g.resolve() for g in files}]
    return files


def read_records(files: list[Path]) -> tuple[list[Record], int]:
    """Every record once: a cell found in two files is one run, counted once."""
    records, seen, duplicates = [], set(), 0
    for path in files:
        lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if line.strip()]
        for number, raw in zip(lines, ResultsFile(path).records()):
            record = normalise(raw, f"{path}:{number}", path)
            if record.cell and record.cell in seen:
                duplicates += 1
                continue
            if record.cell:
                seen.add(record.cell)
            records.append(record)
    if not records:
        raise InputError(f"no records in {', '.join(map(str, files))}; did every run fail?")
    return records, duplicates


def group_records(records: list[Record]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for r in records:
        key = (r.preset, r.fraction, r.main, r.model, r.aux, r.decoding, r.settings, r.special)
        groups.setdefault(key, Group()).records.append(r)
    return list(groups.values())


# --- Formatting. ---


def fraction_text(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def cell(group: Group | None, metric: str = "test_f1", mark: str = "") -> str:
    """'mean ± std (n)', the std left out for one seed."""
    if group is None:
        return "–"
    mean, std = stats.mean_std(group.values(metric))
    if mean != mean:
        return "–"
    spread = f" ± {100 * std:.2f}" if group.n > 1 else ""
    return f"{100 * mean:.2f}{spread} ({group.n}){mark}"


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


ABSENT = "(unset)"


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
        if value != usual.get(name, ABSENT) and name != "loss_weights":
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
    if group is None or base is None:
        return None
    name = {"token_f1": "test_token_macro_f1"}.get(metric, metric)
    g = stats.gain("", base.runs(), group.runs(), metric=name)
    return g.p if g.seeds > 1 else None


def mark(p: float | None) -> str:
    return "*" if stats.significant(p) else ""


def baseline_for(group: Group, groups: list[Group]) -> Group | None:
    """The single-task run a multi-task one is tested against: the family's single-task model
    on the same corpus, preset and fraction; the same settings where such a run exists."""
    candidates = [g for g in groups if g.main == group.main and g.preset == group.preset
                  and g.fraction == group.fraction and g.model == STM_OF.get(group.model)
                  and not g.aux and not g.special]
    same = [g for g in candidates if g.decoding == group.decoding
            and g.base_settings() == group.base_settings()]
    return best_on_devel(same or candidates)


def settings_sections(groups: list[Group]) -> list[tuple[str | None, float]]:
    keys = {(g.preset, g.fraction) for g in groups if not g.special}
    return sorted(keys, key=lambda k: (PRESET_ORDER.get(k[0] or "", 2), str(k[0]), -k[1]))


def setting_title(preset: str | None, fraction: float) -> str:
    data = "full training data" if fraction == 1.0 else \
        f"{fraction_text(fraction)} of the main training data"
    return f"{preset or 'no'} preset, {data}"


def corpus_order(names: Iterable[str], reference: dict) -> list[str]:
    names = set(names)
    return [c for c in reference if c in names] + sorted(names - set(reference))


@dataclass
class Tests:
    """Every t-test a table made, listed under it so the marks can be checked."""

    lines: list[str] = field(default_factory=list)

    def add(self, what: str, group: Group, base: Group, p: float | None) -> None:
        result = "no test" if p is None else f"p = {p:.3g}{mark(p)}"
        self.lines.append(f"{what}: n = {group.n} vs {base.n}, {result}")


def window_table(groups: list[Group], modal: dict, note: bool = True) -> list[str]:
    """CRICHTON table 9: MLP / STM / MO-MTM (best partner) / D-MTM per corpus."""
    out, tests = [], Tests()
    columns = {
        "MLP": lambda g: g.model == "mlp" and not g.aux,
        "STM": lambda g: g.model == "window-cnn" and not g.aux,
        "MO-MTM": lambda g: g.model == "window-cnn" and bool(g.aux),
        "D-MTM": lambda g: g.model == "dependent-cnn",
    }
    header = ["corpus"] + [h for c in columns for h in (f"{c} ours", f"{c} CRICHTON")]
    rows, shown = [], []
    for corpus in corpus_order({g.main for g in groups}, CRICHTON_TABLE_9):
        mine = [g for g in groups if g.main == corpus]
        chosen = {c: best_on_devel(g for g in mine if test(g)) for c, test in columns.items()}
        shown += chosen.values()
        row = [corpus]
        for column, group in chosen.items():
            text = "–"
            if group is not None:
                p = None
                if column in ("MO-MTM", "D-MTM") and chosen["STM"] is not None:
                    p = test_against(group, chosen["STM"])
                    tests.add(f"{corpus} {column} vs STM", group, chosen["STM"], p)
                text = cell(group, mark=mark(p))
                if group.aux:
                    text += f" with {aux_text(group.aux)}"
                text = tagged(text, variant(group, modal))
            row += [text, ref(CRICHTON_TABLE_9.get(corpus, {}).get(column))]
        rows.append(row)
    out += table(header, rows)
    if note:
        out += ["", "Test mention-level F1 (strict, %): ours as mean ± sample std over seeds "
                "(number of seeds); CRICHTON = the paper's table 9 (PubMed-PMC word2vec), "
                "copied into report.py, not our runs. MO-MTM is the partner set with the best "
                "mean *devel* F1, named after `with`; D-MTM is `dependent-cnn`. Where a cell "
                "has several variants (in [brackets]) the one with the best devel F1 is shown; "
                "all are listed under All record groups. `*`: p < 0.05 in a paired test over "
                "seeds (training.stats) against the STM cell of the same corpus; n < 2 on either "
                "side gives no test and no mark."]
    return out + budget_line(shown) + test_lines(tests)


def budget_line(shown: Iterable[Group | None]) -> list[str]:
    """Training budgets of the cells shown: runs cut short of the paper's length read lower."""
    budgets: dict[str, set[str]] = {}
    for g in shown:
        if g is not None:
            known = {r.budget for r in g.records if r.budget != "?"}
            if known:
                budgets.setdefault(g.model, set()).update(known)
    if not budgets:
        return []
    return ["", "Training budget of the cells shown: " + "; ".join(
        f"`{m}` {', '.join(sorted(b))}" for m, b in sorted(budgets.items())) + "."]


def test_lines(tests: Tests) -> list[str]:
    if not tests.lines:
        return []
    return ["", "t-tests: " + "; ".join(tests.lines) + "."]


WANG_COLUMNS = {
    "STM": lambda g: g.model == "bilstm-crf" and not g.aux,
    "FS-MTM": lambda g: g.model == "bilstm-crf" and bool(g.aux),
    "SP-MTM": lambda g: g.model == "shared-private" and bool(g.aux),
    "ADV-MTM": lambda g: g.model == "adversarial" and bool(g.aux),
    "CS-MTM": lambda g: g.model == "cross-sharing" and bool(g.aux),
}


def wang_table(groups: list[Group], modal: dict, note: bool = True) -> list[str]:
    """WANG table 2: token-level macro F1 (their metric) beside theirs, mention F1 beside."""
    tests = Tests()
    header = ["corpus"] + [h for c in WANG_COLUMNS
                           for h in (f"{c} token ours", f"{c} WANG", f"{c} mention ours")]
    rows, shown = [], []
    for corpus in corpus_order({g.main for g in groups}, WANG_TABLE_2):
        mine = [g for g in groups if g.main == corpus]
        chosen = {c: best_on_devel(g for g in mine if test(g)) for c, test in WANG_COLUMNS.items()}
        stm = chosen["STM"]
        shown += chosen.values()
        row = [corpus]
        for column, group in chosen.items():
            token = mention = "–"
            if group is not None:
                p_token = p_mention = None
                if column != "STM" and stm is not None:
                    p_token = test_against(group, stm, "token_f1")
                    p_mention = test_against(group, stm)
                    tests.add(f"{corpus} {column} vs STM (token)", group, stm, p_token)
                    tests.add(f"{corpus} {column} vs STM (mention)", group, stm, p_mention)
                token = cell(group, "token_f1", mark(p_token))
                if group.aux:
                    token += f" with {aux_text(group.aux)}"
                token = tagged(token, variant(group, modal))
                mention = cell(group, mark=mark(p_mention))
            row += [token, ref(WANG_TABLE_2.get(corpus, {}).get(column)), mention]
        rows.append(row)
    partners = ", ".join(f"{c} <- {p}" for c, p in WANG_BEST_PARTNER.items())
    return table(header, rows) + ([] if not note else [
        "", "Token-level macro F1 without `O` (WANG's metric, %) beside WANG's table 2 (GloVe "
        "100d, copied into report.py, not our runs); `mention ours` is our strict mention-level "
        "F1 of the same runs. STM = `bilstm-crf` alone, FS-MTM = `bilstm-crf` with partners, "
        "SP/ADV/CS = `shared-private`, `adversarial`, `cross-sharing`; each cell is the "
        f"variant with the best devel F1. WANG's best partners: {partners}. `*`: p < 0.05, "
        "paired test over seeds (training.stats) against the STM cell, on the column's metric; "
        "n < 2 gives no test."]) + budget_line(shown) + test_lines(tests)


def bert_tables(groups: list[Group], modal: dict, note: bool = True) -> list[str]:
    """Per main corpus: single-task and multi-head BERT runs beside the BERT papers."""
    out: list[str] = []
    for corpus in sorted({g.main for g in groups}):
        mine = [g for g in groups if g.main == corpus]
        singles = [g for g in mine if not g.aux]
        base = best_on_devel(singles)
        multis = sorted((g for g in mine if g.aux), key=lambda g: -g.mean())
        refs = BERT_REFERENCE.get(corpus, {})
        rows = []
        for g in sorted(singles, key=lambda g: -g.mean()) + multis:
            p = test_against(g, base) if g.aux and base is not None else None
            papers = refs.get("multi" if g.aux else "single", [])
            encoder = Path(g.encoder).name if g.encoder else "all-MiniLM-L6-v2 (default)"
            rows.append(["single-task" if not g.aux else f"multi-head with {aux_text(g.aux)}",
                         encoder, variant(g, modal) or "–", cell(g, mark=mark(p)),
                         "–" if not g.aux else ("n < 2" if p is None else f"{p:.3g}"),
                         cell(g, "token_f1"),
                         "; ".join(f"{name} {value:.2f}" for name, value in papers) or "–"])
        out += [f"#### {corpus}", ""] + table(
            ["model", "encoder", "variant", "test F1 ours", "p vs single-task",
             "token macro F1", "papers (BioBERT v1.1)"], rows, left=3) + budget_line(mine)
        out.append("")
    return out + ([] if not note else [
        "Test mention-level F1 (%), mean ± std (seeds). The papers' numbers (copied into "
        "report.py) used BioBERT v1.1, a far larger biomedical encoder: compare trends, not "
        "levels, when our encoder differs. p: paired test (training.stats) against the "
        "single-task "
        "row with the best devel F1 (`*` p < 0.05); n < 2 gives no test."])


# --- Sections. ---


def provenance(files: list[Path], records: list[Record], duplicates: int) -> list[str]:
    """What the report was made from, since results records carry no dates."""
    def counted(counter: Counter) -> str:
        return ", ".join(f"{k} ({v})" for k, v in sorted(counter.items(), key=lambda kv: str(kv)))

    per_file = Counter(r.source for r in records)
    versions: dict[str, set[str]] = {}
    for r in records:
        for package, version in r.versions.items():
            versions.setdefault(package, set()).add(str(version))
    old = sum(r.old_keys for r in records)
    lines = ["## Provenance", "",
             f"- {len(records)} records from {len(files)} results files "
             "(records carry no dates; the versions below are what they were trained with):"]
    lines += [f"  - `{f}`: {per_file.get(f, 0)} record" + ("" if per_file.get(f) == 1 else "s")
              for f in files]
    lines += [
        f"- presets: {counted(Counter(r.preset or '(none)' for r in records))}",
        f"- decodings: {counted(Counter(r.decoding for r in records))}"
        + (f"; {old} records use the older keys viterbi/argmax, read as "
           "constrained/unconstrained" if old else ""),
        f"- models: {counted(Counter(r.model for r in records))}",
        "- training fractions: " + counted(Counter(fraction_text(r.fraction) for r in records)),
        "- versions: " + ("; ".join(f"{p} {', '.join(sorted(v))}"
                                    for p, v in sorted(versions.items())) or "not recorded"),
    ]
    if duplicates:
        lines.append(f"- {duplicates} records repeat a run (same cell) already read and are "
                     "counted once")
    lines += ["", "Seeds are pooled only when corpus, model, partners, preset, training "
              "fraction, decoding and the run's settings all match. F1 in %."]
    return lines


def paper_tables(groups: list[Group], modal: dict) -> list[str]:
    out = ["## Single-task and multi-task by corpus", ""]
    plain = [g for g in groups if not g.special]
    noted: set[str] = set()  # each family's explanation once, under its first table
    for preset, fraction in settings_sections(plain):
        here = [g for g in plain if g.preset == preset and g.fraction == fraction]
        title = setting_title(preset, fraction)
        window = [g for g in here if g.model in WINDOW_FAMILY]
        bilstm = [g for g in here if g.model in BILSTM_FAMILY]
        bert = [g for g in here if g.model == "bert"]
        if window:
            out += [f"### Window-CNN family vs CRICHTON table 9 ({title})", ""]
            out += window_table(window, modal, "window" not in noted) + [""]
            noted.add("window")
        if bilstm:
            out += [f"### BiLSTM-CNN-CRF family vs WANG table 2 ({title})", ""]
            out += wang_table(bilstm, modal, "bilstm" not in noted) + [""]
            noted.add("bilstm")
        if bert:
            out += [f"### BERT multi-head ({title})", ""]
            out += bert_tables(bert, modal, "bert" not in noted) + [""]
            noted.add("bert")
    return out


def pairwise_rows(base: Group | None, partners: list[Group]) -> list[dict]:
    """Partners with their paired gains (training.stats, Holm over the grid), sorted by
    devel gain; by devel F1 without a baseline."""
    if base is None:
        return [{"group": g, "gain": None} for g in
                sorted(partners, key=lambda g: -g.mean("devel_f1"))]
    gains = stats.compare_all(base.runs(), {g.aux[0]: g.runs() for g in partners})
    by_name = {g.aux[0]: g for g in partners}
    return [{"group": by_name[g.name], "gain": g} for g in gains]


def pairwise_section(groups: list[Group], modal: dict) -> list[str]:
    """Which partner helps each corpus: one grid per corpus, model and setting."""
    grids: dict[tuple, list[Group]] = {}
    for g in groups:
        if len(g.aux) == 1 and not g.special:
            key = (g.preset, g.fraction, g.main, g.model, g.decoding, g.base_settings())
            grids.setdefault(key, []).append(g)
    if not grids:
        return []
    out = ["## Pairwise grids", "",
           "One auxiliary partner at a time, sorted by devel gain (the choice); each partner's "
           "test gain (mention F1, points) over the single-task baseline with its 95% CI "
           f"({stats.METHOD}); `*`: Holm-corrected p < 0.05.", ""]
    order = sorted(grids, key=lambda k: (PRESET_ORDER.get(k[0] or "", 2), str(k[0]), -k[1],
                                         k[2], k[3]))
    for key in order:
        partners = grids[key]
        first = partners[0]
        base = baseline_for(first, groups)
        label = variant(first, modal)
        out += [f"### {first.main}: {first.model}, {setting_title(first.preset, first.fraction)}"
                + (f" [{label}]" if label else ""), ""]
        rows = []
        if base is not None:
            rows.append([f"(single-task {base.model})", str(base.n), cell(base), "–", "–", "–",
                         cell(base, "token_f1")])
        ranked = pairwise_rows(base, partners)
        for r in ranked:
            g, gain = r["group"], r["gain"]
            if gain is None:
                rows.append([g.aux[0], str(g.n), cell(g), "–", "–", "–", cell(g, "token_f1")])
                continue
            p = "n < 2" if gain.seeds < 2 else (f"{gain.p_holm:.3g}"
                                                + ("*" if gain.helps or gain.hurts else ""))
            rows.append([g.aux[0], str(g.n), cell(g), f"{100 * gain.mean:+.2f}",
                         f"[{100 * gain.low:+.2f}, {100 * gain.high:+.2f}]", p,
                         cell(g, "token_f1")])
        out += table(["partner", "seeds", "test F1", "gain", "95% CI", "p (Holm)",
                      "token macro F1"], rows)
        if base is None:
            out += ["", f"No single-task baseline for {first.main} in this setting: gains "
                        f"unknown; best devel F1 with {ranked[0]['group'].aux[0]}."]
        else:
            out += ["", f"Verdict for {first.main}: "
                        f"{stats.verdict([r['gain'] for r in ranked])}."]
        out.append("")
    return out


def ablation_section(groups: list[Group], modal: dict, out_dir: Path) -> tuple[list[str],
                                                                             list[Path]]:
    """F1 against the share of training data, single-task beside multi-task (CRICHTON t.10)."""
    families: dict[tuple, dict[tuple, dict[float, Group]]] = {}
    for g in groups:
        if g.special:
            continue
        key = (g.preset, g.main, STM_OF.get(g.model, g.model), g.decoding, g.base_settings())
        series = families.setdefault(key, {}).setdefault((g.model, g.aux), {})
        series[g.fraction] = g
    keep = {k: v for k, v in families.items() if any(len(s) > 1 for s in v.values())}
    if not keep:
        return [], []
    out = ["## Data ablation", "",
           "Test mention-level F1 (%) against the share of the main corpus's training sentences "
           "(devel, test and partners stay whole); `loss` = points below the same model at "
           "100%. `*`: p < 0.05 against single-task at the same fraction (paired test, "
           "training.stats); "
           "n < 2 gives no test. CRICHTON table 10 (mean over their corpora, points lost): "
           + "; ".join(f"{name} " + " / ".join(f"{v:.1f}" for v in losses.values())
                       for name, losses in CRICHTON_TABLE_10.items())
           + " at 50 / 25 / 10%.", ""]
    plots, used = [], set()
    for key in sorted(keep, key=lambda k: (PRESET_ORDER.get(k[0] or "", 2), str(k[0]), k[1],
                                           k[2])):
        preset, main, stm, _, _ = key
        series = keep[key]
        st_key = (stm, ())
        names = sorted(series, key=lambda s: (s != st_key, s))
        fractions = sorted({f for s in series.values() for f in s})
        first = next(iter(series[names[0]].values()))
        label = variant(first, modal)
        out += [f"### {main}: {stm} family, {preset or 'no'} preset"
                + (f" [{label}]" if label else ""), ""]
        header, rows = ["train fraction"], []
        for name in names:
            title = "single-task" if name == st_key else \
                f"{name[0]}" + (f" with {aux_text(name[1])}" if name[1] else "")
            header += [title] + (["loss"] if 1.0 in series[name] else [])
        crichton = stm == "window-cnn"
        if crichton:
            header.append("CRICHTON t.10 loss STM / MO-MTM")
        for fraction in fractions:
            row = [fraction_text(fraction)]
            base = series.get(st_key, {}).get(fraction)
            for name in names:
                g = series[name].get(fraction)
                p = test_against(g, base) if name != st_key else None
                row.append(cell(g, mark=mark(p)))
                if 1.0 in series[name]:
                    full = series[name][1.0].mean()
                    row.append("–" if g is None else f"{100 * (full - g.mean()):.2f}")
            if crichton:
                losses = [v.get(fraction) for v in CRICHTON_TABLE_10.values()]
                row.append("–" if None in losses else " / ".join(f"{v:.1f}" for v in losses))
            rows.append(row)
        out += table(header, rows)
        if (main, min(fractions)) in TONG_FRACTION and stm == "bert":
            out += ["", TONG_FRACTION[(main, min(fractions))] + " (BioBERT v1.1)."]
        stem = slug(f"ablation_{main}_{stm}_{preset or 'none'}")
        name, number = stem, 2
        while name in used:
            name, number = f"{stem}-{number}", number + 1
        used.add(name)
        path = out_dir / f"{name}.png"
        plot_ablation(path, series, names, st_key, f"{main}: {stm} family, {preset} preset")
        plots.append(path)
        out += ["", f"![{path.name}]({path.name})", ""]
    return out, plots


def plot_ablation(path: Path, series: dict, names: list, st_key: tuple, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        points = sorted(series[name].items())
        means = [100 * stats.mean_std(g.values())[0] for _, g in points]
        spread = [100 * stats.mean_std(g.values())[1] for _, g in points]
        label = "single-task" if name == st_key else \
            name[0] + (f" + {aux_text(name[1])}" if name[1] else "")
        ax.errorbar([100 * f for f, _ in points], means, yerr=spread, marker="o", capsize=3,
                    label=label)
    ax.set_xlabel("share of the main training sentences (%)")
    ax.set_ylabel("test mention F1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
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


def heads_section(groups: list[Group]) -> list[str]:
    """KHAN / RODRIGUEZ report one model on all its corpora: every head of each multi-head
    cell (model selection on the main corpus's devel)."""
    rows = []
    for g in groups:
        if not g.aux or not all(r.heads for r in g.records):
            continue
        for head in (g.main, *g.aux):
            f1 = {split: [r.heads[head][split]["f1"] for r in g.records if head in r.heads]
                  for split in ("devel", "test")}
            if not f1["test"]:
                continue
            shown = {k: f"{100 * stats.mean_std(v)[0]:.2f} ± {100 * stats.mean_std(v)[1]:.2f}"
                     for k, v in f1.items()}
            rows.append([g.main, g.model, aux_text(g.aux), g.preset or "–", head,
                         "main" if head == g.main else "partner", str(len(f1["test"])),
                         shown["test"], shown["devel"]])
    if not rows:
        return []
    return ["## Every head of multi-head models", "",
            "One model scored on each of its corpora (mention F1 %, mean ± std over seeds); "
            "its weights were selected on the main corpus's devel F1.", ""] + table(
        ["main", "model", "partners", "preset", "head", "role", "seeds", "test F1",
         "devel F1"], rows, left=6) + [""]


def all_groups_section(groups: list[Group], modal: dict) -> list[str]:
    rows = []
    order = sorted(groups, key=lambda g: (PRESET_ORDER.get(g.preset or "", 2), str(g.preset),
                                          -g.fraction, g.main, g.model, g.aux))
    for g in order:
        seeds = [str(r.seed) for r in g.records]
        repeat = " (repeated)" if len(set(seeds)) < len(seeds) else ""
        sources = sorted({str(r.source.parent) for r in g.records})
        rows.append([g.main, g.model, aux_text(g.aux), g.preset or "–", fraction_text(g.fraction),
                     variant(g, modal) or "–", ",".join(seeds) + repeat, cell(g),
                     cell(g, "token_f1"), cell(g, "devel_f1"), g.budget, ", ".join(sources)])
    return ["## All record groups", "",
            "Every group of seeds, including the variants and entity-ablation runs that the "
            "tables above leave out. F1 in %, mean ± std (seeds).", ""] + table(
        ["corpus", "model", "partners", "preset", "fraction", "variant", "seeds",
         "test F1", "test token macro F1", "devel F1", "budget", "run directory"], rows, left=6)


def build_report(directories: list[Path], out: Path) -> str:
    """The whole markdown text; writes the ablation plots next to `out` on the way."""
    files = results_files(directories)
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories to read")
    p.add_argument("--out", help="report file (default RUN_DIR/report.md for one directory, "
                   "else ./report.md)")
    args = p.parse_args(argv)
    directories = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else (
        directories[0] / "report.md" if len(directories) == 1 else Path("report.md"))
    text = build_report(directories, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"report: {out}")


if __name__ == "__main__":
    sys.exit(run(main))
