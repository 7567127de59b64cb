"""The bad-input suite: every command run as a user runs it (a subprocess in a folder of real
files) over malformed inputs, bad flags and faults. For each case: exit code 2, exactly one
line on stderr, `error: ...`, naming the file or value; no traceback; no input file changed
(results files and bundles included: no finished result lost).

The cases run side by side (a thread per subprocess) in one test, which reports every failing
case at once. Nearly all of them stop before TensorFlow is imported (a fraction of a second);
the few that need a loaded model are marked `heavy`.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import make_record

ROOT = Path(__file__).resolve().parents[1]
MAIN = "NCBI-disease"
WORKERS = max(2, min(8, (os.cpu_count() or 2) * 2))  # the subprocesses mostly wait on start-up
TIMEOUT = 120  # seconds per case; a case that trains would take longer and fail here

# a small corpus, a sentence per split, and its IOB2 lines
SENTENCES = "IL-2\tB-Gene\ngene\tI-Gene\nand\tO\naspirin\tB-Chem\n\nTNF\tB-Gene\nrises\tO\n"
GOLD = SENTENCES
PRED = SENTENCES.replace("gene\tI-Gene", "gene\tO")
GZ = gzip.compress(SENTENCES.encode())
NO_ENTITY = "a\tO\nb\tO\n\nc\tO\n"  # sentences without a mention
BUNDLED = ROOT / "data" / "corpora"  # the bundled corpora's folders


def corpus(**splits: str | bytes | None) -> dict[str, str | bytes]:
    """A corpus directory's files: every split good but those named (train=..., devel=None
    for none, train_gz=... for a train.tsv.gz)."""
    files: dict[str, str | bytes] = {f"{s}.tsv": SENTENCES for s in ("train", "devel", "test")}
    for key, content in splits.items():
        split, _, gz = key.partition("_")
        files.pop(f"{split}.tsv")
        if content is not None:
            files[f"{split}.tsv{'.gz' if gz else ''}"] = content
    return files


def inside(folder: str, files: dict) -> dict:
    return {f"{folder}/{name}": content for name, content in files.items()}


def records(*fields: dict) -> Callable[[Path], str]:
    """results.jsonl with one whole record per `fields` (command, cell...), appended as a
    grid appends them."""
    def text(_: Path) -> str:
        return "".join(make_record(**{"cell": f"c{i}", "command": "pairwise", **f}).to_json()
                       + "\n" for i, f in enumerate(fields))
    return text


def other_settings_record() -> str:
    """A devel-selected train.py record of MAIN at the quick preset, its learning rate other."""
    from bioner_mtl.training.spec.config import replace
    from bioner_mtl.training.spec.presets import resolve

    config = resolve(MAIN, "window-cnn", "quick")
    config = replace(config, train=replace(config.train, learning_rate=0.01))
    return make_record(main=MAIN, model="window-cnn", command="train", cell="c0",
                       config=config.to_dict()).to_json() + "\n"


@dataclass
class Case:
    name: str
    command: str  # a script of experiments/, without .py
    args: list[str]  # {d}: the case's folder, absolute
    needle: str  # what the error line must say ({d} too)
    files: dict = field(default_factory=dict)  # path -> text, bytes or a function of the folder
    heavy: bool = False  # loads a model (TensorFlow): kept few
    env: dict = field(default_factory=dict)  # environment variables the user set


@dataclass(frozen=True)
class Bundle:
    """A copy of the suite's real bundle, its bundle.json edited (change_json(dict) -> JSON
    value) or its weights damaged (change_weights(bytes) -> bytes)."""

    change_json: Callable | None = None
    change_weights: Callable | None = None

    def write(self, directory: Path) -> None:
        shutil.copytree(BUNDLE[0], directory)
        if self.change_json:
            meta = directory / "bundle.json"
            meta.write_text(json.dumps(self.change_json(json.loads(meta.read_text()))))
        if self.change_weights:
            weights = directory / "model.weights.h5"
            weights.write_bytes(self.change_weights(weights.read_bytes()))


def bundle(change_json: Callable | None = None, change_weights: Callable | None = None
           ) -> dict:
    return {"model": Bundle(change_json, change_weights)}


def edited(change: Callable[[dict], None]) -> Callable[[dict], dict]:
    def apply(meta: dict) -> dict:
        change(meta)
        return meta
    return apply


def zeroed(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(min(4096, len(data) - middle)) + data[middle + 4096:]


# the commands the suite covers (each has cases)
COMMANDS = ("train", "pairwise", "ablation", "groups", "adversarial", "entity_ablation",
            "cell_time", "throughput", "inference_speed", "bench", "evaluate", "corpora",
            "report", "vectors", "predict", "serve", "serve_bench", "export", "recommend")
BUNDLE: list[Path] = []  # the suite's real bundle, while the test runs
TEXT = {"notes.txt": "Mutations in the APC gene cause colon cancer.\n"}


def pubtator_docs(extra: str = "") -> str:
    """Three PubTator documents (lines 1-3, 5-7, 9-11), `extra` lines ending the last."""
    return "\n".join(f"{i}|t|Aspirin helps.\n{i}|a|It works.\n{i}\t0\t7\tAspirin\tChemical\n"
                     + (extra if i == 3 else "") for i in (1, 2, 3))


def bioc_json(text="Aspirin helps.", offset=0) -> str:
    """A BioC JSON collection of three documents, the last one's passage text and first
    location offset as given (any JSON value)."""
    def document(i: int) -> dict:
        last = i == 3
        return {"id": str(i), "passages": [{
            "offset": 0, "text": text if last else "Aspirin helps.",
            "annotations": [{"id": "a", "infons": {"type": "Chemical"}, "text": "Aspirin",
                             "locations": [{"offset": offset if last else 0, "length": 7}]}]}]}
    return json.dumps({"documents": [document(i) for i in (1, 2, 3)]})


# a pairwise grid of main A: single-task and partner B, three seeds each (a gain to collect)
GAINS_GRID = records(*({"main": "A", "aux": aux, "seed": seed, "test_f1": f1 + gain,
                        "devel_f1": f1 + gain, "preset": "quick"}
                       for aux, gain in (([], 0), (["B"], 0.1))
                       for seed, f1 in ((1, 0.7), (2, 0.72), (3, 0.74))))
BRAT_DOCS = {f"docs/d{i}.{suffix}": content for i in (1, 2, 3) for suffix, content in (
    ("txt", "Aspirin and ibuprofen help.\n"), ("ann", "T1\tChem 0 7\tAspirin\n"))}

CASES = [
    # --- train.py: values and combinations (before TensorFlow is imported) ---
    Case("train-unknown-corpus", "train", ["--main", "BC2G"], "unknown corpus 'BC2G'; did you "
         "mean 'BC2GM'?"),
    Case("train-unknown-model", "train", ["--main", MAIN, "--model", "nope"],
         "unknown model 'nope'; valid models: mlp"),
    Case("train-steps-negative", "train", ["--main", MAIN, "--steps", "-5"], "--steps -5: "),
    Case("train-steps-not-a-number", "train", ["--main", MAIN, "--steps", "abc"],
         "argument --steps: invalid int value: 'abc'"),
    Case("train-steps-and-epochs", "train", ["--main", MAIN, "--steps", "5", "--epochs", "2"],
         "give one training length, not both"),
    Case("train-batch-size-zero", "train", ["--main", MAIN, "--set", "train.batch_size=0"],
         "--set train.batch_size=0: "),
    Case("train-misspelt-setting", "train", ["--main", MAIN, "--set", "hiden=3"],
         "--set hiden: not a setting"),
    Case("train-set-without-value", "train", ["--main", MAIN, "--set", "hidden"],
         "--set 'hidden': expected KEY=VALUE"),
    Case("train-devel-limit-zero", "train", ["--main", MAIN, "--set", "devel_limit=0"],
         "--set devel_limit=0: "),
    Case("train-even-window", "train", ["--main", MAIN, "--set", "window=6"],
         "--set window=6: an odd number of words"),
    Case("train-cross-sharing-two-partners", "train",
         ["--main", MAIN, "--aux", "BC5CDR,Linnaeus", "--model", "cross-sharing"],
         "cross-sharing gates exactly two corpora"),
    Case("train-bert-max-length-1", "train", ["--main", MAIN, "--model", "bert", "--set",
                                              "max_length=1"], "max_length=1: "),
    Case("train-pos-main", "train", ["--main", "GENIA-POS"], "GENIA-POS is a part-of-speech"),
    Case("train-pos-aux", "train", ["--main", MAIN, "--aux", "GENIA-POS"],
         "GENIA-POS is a part-of-speech"),
    Case("train-main-is-aux", "train", ["--main", MAIN, "--aux", MAIN],
         f"main corpus {MAIN} is also listed as its own auxiliary"),
    Case("pairwise-partner-cut-of-main", "pairwise", ["--main", MAIN, "--aux", f"{MAIN}%50"],
         f"{MAIN} and {MAIN}%50 are the same corpus, one cut to a share"),
    Case("train-fraction-two", "train", ["--main", MAIN, "--train-fraction", "2"],
         "--train-fraction 2.0: "),
    Case("train-bad-activation", "train", ["--main", MAIN, "--model", "bilstm-crf", "--set",
                                           "projection_activation=foo"],
         "projection_activation=foo: not a Keras activation"),
    Case("train-bad-scheme", "train", ["--main", MAIN, "--tag-scheme", "BIO"],
         "argument --tag-scheme: invalid choice: 'BIO'"),
    Case("train-negative-aux-weight", "train", ["--main", MAIN, "--aux", "BC5CDR",
                                                "--aux-weight", "-1"],
         "loss weight -1.0 for BC5CDR (--aux-weight)"),
    Case("train-missing-vectors-file", "train", ["--main", MAIN, "--vectors", "w2v.bin"],
         "--vectors w2v.bin: no such vectors file"),
    Case("train-unknown-flag", "train", ["--main", MAIN, "--epocs", "3"],
         "unrecognized arguments"),
    Case("train-no-main", "train", [], "the following arguments are required: --main"),
    Case("train-out-is-a-file", "train", ["--main", MAIN, "--out", "a-file"],
         "--out a-file: a file, not a directory", {"a-file": "keep me\n"}),
    Case("train-save-model-is-a-file", "train", ["--main", MAIN, "--save-model", "a-file",
                                                 "--out", "o"],
         "--save-model a-file: a file, not a directory", {"a-file": "keep me\n"}),
    Case("train-out-holds-results", "train", ["--main", MAIN, "--out", "old"],
         "old already holds results; pass --resume", {"old/results.jsonl": records({})}),
    Case("train-resume-into-pairwise-grid", "train", ["--main", MAIN, "--resume", "--out",
                                                      "grid"],
         "grid holds results of experiments/pairwise.py; experiments/train.py --resume",
         {"grid/results.jsonl": records({"command": "pairwise"})}),
    Case("train-resume-foreign-line", "train", ["--main", MAIN, "--resume", "--out", "grid"],
         "grid/results.jsonl:2: not a JSON record",
         {"grid/results.jsonl": lambda d: records({"command": "train"})(d)
          + "<<<<<<< merge\n" + records({"command": "train", "cell": "x"})(d)}),
    Case("train-resume-old-format", "train", ["--main", MAIN, "--resume", "--out", "grid"],
         "grid/results.jsonl:1: a results record written by an older bioner-mtl",
         {"grid/results.jsonl": lambda d: json.dumps(
             {k: v for k, v in json.loads(records({"command": "train"})(d)).items()
              if k != "format"}) + "\n"}),
    # --- train.py: the BERT family's paper options (TONG's heads, RODRIGUEZ's subwords) ---
    Case("train-bert-aux-activation", "train", ["--main", MAIN, "--model", "bert-tong", "--set",
                                                "aux_activation=nope"],
         "--set aux_activation=nope: not a Keras activation"),
    Case("train-bert-aux-projection", "train", ["--main", MAIN, "--model", "bert-tong", "--set",
                                                "aux_projection=-1"],
         "--set aux_projection=-1: a whole number of 0 or more"),
    Case("train-bert-ner-weight", "train", ["--main", MAIN, "--model", "bert-tong", "--set",
                                            "ner_weight=-1"],
         "--set ner_weight=-1.0: a weight of 0 or more"),
    Case("train-bert-every-last-crf", "train", ["--main", MAIN, "--model", "bert", "--set",
                                                "label_on=every-last", "--set", "crf=true"],
         "label_on=every-last trains every subword: use softmax heads"),
    # --- train.py --train-on train+devel (a fixed length) and --select-on ---
    Case("train-final-without-length", "train", ["--main", MAIN, "--train-on", "train+devel"],
         "--train-on train+devel trains a fixed length: give one of --epochs N, --steps N or "
         "--epochs-from RESULTS"),
    Case("train-final-two-lengths", "train", ["--main", MAIN, "--train-on", "train+devel",
                                              "--epochs", "3", "--epochs-from", "x"],
         "not --epochs 3 and --epochs-from x"),
    Case("train-final-with-patience", "train", ["--main", MAIN, "--train-on", "train+devel",
                                                "--epochs", "3", "--set", "train.patience=2"],
         "trains on devel for a fixed length: drop --set train.patience=2 (no early stopping)"),
    Case("train-final-with-eval-every", "train", ["--main", MAIN, "--train-on", "train+devel",
                                                  "--epochs", "3", "--set",
                                                  "train.eval_every=50"],
         "drop --set train.eval_every=50 (no devel evaluations)"),
    Case("train-final-select-on-mean", "train", ["--main", MAIN, "--train-on", "train+devel",
                                                 "--epochs", "3", "--select-on", "mean"],
         "drop --select-on mean"),
    Case("train-epochs-from-alone", "train", ["--main", MAIN, "--epochs-from", "r.jsonl"],
         "--epochs-from r.jsonl: it sets the length of a fixed-length run; add --train-on "
         "train+devel"),
    Case("train-epochs-from-missing", "train", ["--main", MAIN, "--train-on", "train+devel",
                                                "--epochs-from", "none.jsonl"],
         "--epochs-from none.jsonl: no such results file"),
    Case("train-epochs-from-no-match", "train", ["--main", MAIN, "--train-on", "train+devel",
                                                 "--epochs-from", "sel"],
         f"--epochs-from sel: no devel-selected run of {MAIN}, model window-cnn in sel/results",
         {"sel/results.jsonl": records({"command": "train"})}),
    Case("train-epochs-from-other-settings", "train", ["--main", MAIN, "--train-on",
                                                       "train+devel", "--epochs-from", "sel"],
         f"sel/results.jsonl:1: that run of {MAIN}, model window-cnn has other settings "
         "(train.learning_rate=0.01, this run: 0.004)",
         {"sel/results.jsonl": lambda d: other_settings_record()}),
    Case("train-select-on-unknown", "train", ["--main", MAIN, "--select-on", "max"],
         "argument --select-on: invalid choice: 'max'"),
    # --- a corpus given as a directory (relative and absolute), its files damaged ---
    Case("train-corpus-dir-missing", "train", ["--main", "no/such/dir"],
         "unknown corpus 'no/such/dir'"),
    Case("train-corpus-truncated-gzip", "train", ["--main", "mine"],
         "mine/train.tsv.gz: gzip file is truncated or corrupt",
         inside("mine", corpus(train_gz=GZ[: len(GZ) // 2]))),
    Case("train-corpus-bad-tag-absolute", "train", ["--main", "{d}/mine"],
         "{d}/mine/devel.tsv:1: tag 'X' is not O",
         inside("mine", corpus(devel="IL-2\tX\n"))),
    Case("train-corpus-no-test-split", "train", ["--main", "mine"], "mine: no test.tsv",
         inside("mine", corpus(test=None))),
    Case("train-corpus-empty-split", "train", ["--main", "mine"], "mine/test.tsv",
         inside("mine", corpus(test="\n\n"))),
    Case("train-corpus-utf16", "train", ["--main", "mine"], "mine/train.tsv: the file is UTF-16",
         inside("mine", corpus(train=SENTENCES.encode("utf-16")))),
    Case("train-corpus-stray-inside", "train", ["--main", "mine"],
         "mine/train.tsv:2: I-Chem follows B-Gene",
         inside("mine", corpus(train="IL-2\tB-Gene\nx\tI-Chem\n"))),
    Case("train-aux-corpus-broken-iobes", "train", ["--main", MAIN, "--aux", "./mine"],
         "mine/train.tsv:2: tag sequence breaks IOBES",
         inside("mine", corpus(train="IL-2\tS-Gene\ngene\tI-Gene\n"))),
    # --- pairwise.py ---
    Case("pairwise-unknown-model", "pairwise", ["--main", "BC2GM", "--model", "nope"],
         "unknown model 'nope'"),
    Case("pairwise-fraction-two", "pairwise", ["--main", "BC2GM", "--train-fraction", "2"],
         "--train-fraction 2.0: "),
    Case("pairwise-unknown-aux", "pairwise", ["--main", "BC2GM", "--aux", "nope"],
         "unknown corpus 'nope'"),
    Case("pairwise-no-main", "pairwise", ["--main", ","], "--main ',' names no corpus"),
    Case("pairwise-no-aux", "pairwise", ["--main", "BC2GM", "--aux", ","],
         "--aux ',' names no corpus"),
    Case("pairwise-unknown-class", "pairwise", ["--main", "BC2GM", "--aux-group", "Genes"],
         "unknown entity class 'Genes'"),
    Case("pairwise-main-as-partner", "pairwise", ["--main", "BC2GM", "--aux", "BC2GM,BC5CDR"],
         "--aux lists the main corpus BC2GM as its own partner"),
    Case("pairwise-aa-two-mains", "pairwise", ["--main", "BC2GM,BC5CDR", "--aa"],
         "--aa checks one main corpus at a time"),
    Case("pairwise-aux-and-group", "pairwise", ["--main", "BC2GM", "--aux", "BC5CDR",
                                                "--aux-group", "Chemical"],
         "argument --aux-group: not allowed with argument --aux"),
    Case("pairwise-out-is-a-file", "pairwise", ["--main", "BC2GM", "--aux", "BC5CDR", "--out",
                                                "a-file"], "--out a-file: a file",
         {"a-file": "keep me\n"}),
    Case("pairwise-resume-into-train-dir", "pairwise", ["--main", "BC2GM", "--aux", "BC5CDR",
                                                        "--resume", "--out", "grid"],
         "grid holds results of experiments/train.py; experiments/pairwise.py --resume",
         {"grid/results.jsonl": records({"command": "train"})}),
    Case("pairwise-corpus-dir-bad-tag", "pairwise", ["--main", "mine", "--aux", "BC5CDR"],
         "mine/train.tsv:4: tag 'b-chem' has a lower-case prefix",
         inside("mine", corpus(train=SENTENCES.replace("B-Chem", "b-chem")))),
    Case("pairwise-partner-dir-nul", "pairwise", ["--main", "BC2GM", "--aux", "{d}/mine"],
         "{d}/mine/devel.tsv:1: NUL byte",
         inside("mine", corpus(devel="IL-2\x00\tO\n"))),
    Case("pairwise-margin-zero", "pairwise", ["--main", MAIN, "--margin", "0"],
         "--margin 0: the equivalence margin is in F1 points and must be a number above 0"),
    Case("pairwise-margin-negative", "pairwise", ["--main", MAIN, "--margin", "-1"],
         "--margin -1: the equivalence margin"),
    Case("pairwise-margin-nan", "pairwise", ["--main", MAIN, "--margin", "nan"],
         "--margin nan: the equivalence margin"),
    Case("pairwise-budget-zero", "pairwise", ["--main", MAIN, "--budget", "0"],
         "--budget 0: minutes of training; give a number above 0"),
    Case("pairwise-budget-negative", "pairwise", ["--main", MAIN, "--budget", "-3"],
         "--budget -3: minutes of training"),
    Case("pairwise-max-seeds-one", "pairwise", ["--main", MAIN, "--max-seeds", "1"],
         "--max-seeds 1: a verdict needs at least 2 seeds"),
    Case("pairwise-max-seeds-absurd", "pairwise", ["--main", MAIN, "--max-seeds", "100000"],
         "--max-seeds 100000: at most 1000 seeds"),
    Case("pairwise-max-seeds-below-seeds", "pairwise", ["--main", MAIN, "--seeds", "6",
                                                        "--max-seeds", "4"],
         "--max-seeds 4 is below --seeds 6"),
    Case("pairwise-aa-budget-zero", "pairwise", ["--main", MAIN, "--aa", "--budget", "0"],
         "--budget 0: minutes of training"),
    Case("pairwise-resume-other-plan", "pairwise", ["--main", MAIN, "--aux", "BC5CDR",
                                                    "--max-seeds", "20", "--resume", "--out",
                                                    "grid"],
         "grid was run as 'sequential looks=3,6,10 margin=1'; this command plans 'sequential "
         "looks=3,6,10,17,20 margin=1'; resume with the flags it was started with",
         {"grid/results.jsonl": records({"experiment": "sequential looks=3,6,10 margin=1"})}),
    # --- ablation.py ---
    Case("ablation-margin-zero", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                              "--margin", "0"], "--margin 0: the equivalence"),
    Case("groups-margin-inf", "groups", ["--class", "Chemical", "--margin", "inf"],
         "--margin inf: the equivalence margin"),
    Case("ablation-partner-is-main", "ablation", ["--main", MAIN, "--partner", MAIN],
         f"partner {MAIN} is the main corpus"),
    Case("ablation-bad-fractions", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                                "--fractions", "1,abc"],
         "--fractions/--removed: numbers separated by commas"),
    Case("ablation-fraction-above-one", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                                     "--fractions", "1.5"],
         "training fraction 1.5 must be in (0, 1]"),
    Case("ablation-remove-everything", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                                    "--removed", "1"],
         "training fraction 0.0 must be in (0, 1]"),
    Case("ablation-unknown-partner", "ablation", ["--main", MAIN, "--partner", "nope"],
         "unknown corpus 'nope'"),
    Case("ablation-best-from-empty-dir", "ablation", ["--main", MAIN, "--best-from", "grid"],
         f"grid: no pairwise results for main corpus {MAIN}", {"grid/notes.txt": "x\n"}),
    Case("ablation-best-from-torn-record", "ablation", ["--main", MAIN, "--best-from", "grid"],
         "grid/results.jsonl:1: not a JSON record",
         {"grid/results.jsonl": '{"main": "NCBI-disease", "aux": [\n{}\n'}),
    Case("ablation-out-is-a-file", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                                "--out", "a-file"], "--out a-file: a file",
         {"a-file": "keep me\n"}),
    Case("ablation-no-partner", "ablation", ["--main", MAIN],
         "one of the arguments --partner --best-from --against is required"),
    Case("ablation-against-itself", "ablation", ["--main", MAIN, "--model", "bert",
                                                 "--against", "bert"],
         "--against bert is --model itself; name another model"),
    Case("ablation-against-unknown-model", "ablation", ["--main", MAIN, "--against", "nope"],
         "unknown model 'nope'"),
    Case("ablation-against-and-partner", "ablation", ["--main", MAIN, "--against", "bert",
                                                      "--partner", "BC5CDR"],
         "argument --partner: not allowed with argument --against"),
    Case("ablation-cut-partner-without-partner", "ablation", ["--main", MAIN, "--against",
                                                              "bert", "--cut-partner"],
         "--cut-partner cuts a partner's data: --against has no partner"),
    Case("ablation-partner-share-hundred", "ablation", ["--main", MAIN, "--partner",
                                                        "BC5CDR%100"],
         "BC5CDR%100: after % give the percentage of training sentences kept"),
    # --- groups.py ---
    Case("groups-unknown-class", "groups", ["--class", "Genes"], "unknown entity class"),
    Case("groups-one-corpus", "groups", ["--class", "Species", "--corpora", "Linnaeus"],
         "group Species has 1 corpus (Linnaeus); a group needs at least two"),
    Case("groups-unknown-corpus", "groups", ["--all-corpora", "--corpora", "BC2GM,nope"],
         "unknown corpus 'nope'"),
    Case("groups-out-is-a-file", "groups", ["--all-corpora", "--corpora", "BC2GM,BC5CDR",
                                            "--out", "a-file"], "--out a-file: a file",
         {"a-file": "keep me\n"}),
    # --- adversarial.py ---
    Case("adversarial-other-model", "adversarial", ["--main", MAIN, "--aux", "BC5CDR",
                                                    "--model", "bilstm-crf"],
         "--model bilstm-crf: the alpha/beta grid is for the adversarial model"),
    Case("adversarial-aux-is-main", "adversarial", ["--main", MAIN, "--aux", MAIN],
         f"--aux {MAIN} is the main corpus"),
    Case("adversarial-bad-alphas", "adversarial", ["--main", MAIN, "--aux", "BC5CDR",
                                                   "--alphas", "0,x"],
         "--alphas '0,x': expected numbers separated by commas"),
    Case("adversarial-negative-beta", "adversarial", ["--main", MAIN, "--aux", "BC5CDR",
                                                      "--betas", "-1"],
         "orthogonality_weight=-1.0: a weight of 0 or more"),
    Case("adversarial-unknown-aux", "adversarial", ["--main", MAIN, "--aux", "nope"],
         "unknown corpus 'nope'"),
    Case("adversarial-out-is-a-file", "adversarial", ["--main", MAIN, "--aux", "BC5CDR",
                                                      "--out", "a-file"],
         "--out a-file: a file", {"a-file": "keep me\n"}),
    # --- entity_ablation.py ---
    Case("entity-ablation-unknown-class", "entity_ablation",
         ["--corpora", "NCBI-disease,BC2GM", "--leave-out", "Diseases"], "unknown entity class"),
    Case("entity-ablation-nothing-left-out", "entity_ablation",
         ["--corpora", "BC2GM,Linnaeus", "--leave-out", "Disease"],
         "--leave-out Disease: no corpus of BC2GM, Linnaeus annotates it"),
    Case("entity-ablation-bad-fractions", "entity_ablation",
         ["--corpora", "NCBI-disease,BC2GM", "--leave-out", "Disease", "--fractions", "x"],
         "--fractions 'x': numbers in (0, 1]"),
    Case("entity-ablation-fraction-two", "entity_ablation",
         ["--corpora", "NCBI-disease,BC2GM", "--leave-out", "Disease", "--fractions", "2"],
         "--fractions '2': numbers in (0, 1]"),
    Case("entity-ablation-full-mtl-bad-partner", "entity_ablation",
         ["--corpora", "NCBI-disease,BC5CDR-chem%0", "--leave-out", "Disease", "--full-mtl"],
         "BC5CDR-chem%0: after % give the percentage"),
    Case("entity-ablation-steps-zero", "entity_ablation",
         ["--corpora", "NCBI-disease,BC2GM", "--leave-out", "Disease", "--steps", "0"],
         "--steps 0: "),
    Case("entity-ablation-out-is-a-file", "entity_ablation",
         ["--corpora", "NCBI-disease,BC2GM", "--leave-out", "Disease", "--out", "a-file"],
         "--out a-file: a file", {"a-file": "keep me\n"}),
    # --- cell_time.py ---
    Case("cell-time-unknown-corpus", "cell_time", ["--main", "BC2G"], "unknown corpus 'BC2G'"),
    Case("cell-time-steps-zero", "cell_time", ["--main", MAIN, "--steps", "0"], "--steps 0: "),
    Case("cell-time-threads-zero", "cell_time", ["--main", MAIN, "--threads", "0"],
         "--threads 0: at least 1"),
    Case("cell-time-unknown-path", "cell_time", ["--main", MAIN, "--path", "nope"],
         "argument --path: invalid choice: 'nope'"),
    Case("cell-time-job-no-seeds", "cell_time", ["--main", MAIN, "--job", "--seeds", "0"],
         "--seeds 0: need at least one seed"),
    # --- throughput.py, inference_speed.py, bench.py ---
    Case("throughput-unknown-model", "throughput", ["--model", "nope"], "unknown model 'nope'"),
    Case("throughput-steps-zero", "throughput", ["--steps", "0"], "--steps 0: timed training"),
    Case("throughput-unknown-corpus", "throughput", ["--corpus", "BC2G"],
         "unknown corpus 'BC2G'"),
    Case("inference-speed-bad-heads", "inference_speed", ["--heads", "1,x"], "--heads '1,x': "),
    Case("inference-speed-too-many-heads", "inference_speed", ["--heads", "9"], "--heads '9': "),
    Case("inference-speed-unknown-model", "inference_speed", ["--models", "window-cnn,nope"],
         "unknown model 'nope'"),
    Case("inference-speed-batches-without-train", "inference_speed", ["--batches", "5"],
         "--batches 5 counts training batches: add --train"),
    Case("inference-speed-train-batches-zero", "inference_speed", ["--train", "--batches", "0"],
         "--batches 0: train at least 1 batch of each corpus"),
    Case("bench-unknown-comparison", "bench", ["--only", "nope"], "--only nope: unknown"),
    Case("bench-repeats-zero", "bench", ["--only", "multihead", "--repeats", "0"],
         "--repeats 0: "),
    Case("bench-out-is-a-file", "bench", ["--only", "multihead", "--out", "a-file"],
         "--out a-file: a file, not a directory", {"a-file": "keep me\n"}),
    # --- evaluate.py ---
    Case("evaluate-pred-tag-X", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv:1: tag 'X' is not O, B-TYPE, I-TYPE",
         {"gold.tsv": GOLD, "pred.tsv": PRED.replace("B-Gene", "X", 1)}),
    Case("evaluate-pred-broken-iobes", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv:2: tag sequence breaks IOBES at 'I-Gene'",
         {"gold.tsv": "a\tB-Gene\nb\tI-Gene\n", "pred.tsv": "a\tS-Gene\nb\tI-Gene\n"}),
    Case("evaluate-pred-bare-B", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv:3: tag 'B-' has no entity type",
         {"gold.tsv": GOLD, "pred.tsv": PRED.replace("and\tO", "and\tB-")}),
    Case("evaluate-gold-stray-inside", "evaluate", ["gold.tsv", "pred.tsv"],
         "gold.tsv:2: I-Gene follows O", {"gold.tsv": "a\tO\nb\tI-Gene\n",
                                          "pred.tsv": "a\tO\nb\tB-Gene\n"}),
    Case("evaluate-gold-empty", "evaluate", ["gold.tsv", "pred.tsv"],
         "gold.tsv: no sentences to score", {"gold.tsv": "", "pred.tsv": ""}),
    Case("evaluate-pred-missing", "evaluate", ["gold.tsv", "nope.tsv"],
         "nope.tsv: cannot read (No such file or directory)", {"gold.tsv": GOLD}),
    Case("evaluate-pred-not-utf8", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv:6: bytes that are not UTF-8",
         {"gold.tsv": GOLD, "pred.tsv": PRED.encode().replace(b"TNF", b"TN\xff")}),
    Case("evaluate-pred-utf16", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv: the file is UTF-16", {"gold.tsv": GOLD, "pred.tsv": PRED.encode("utf-16")}),
    Case("evaluate-gold-truncated-gzip", "evaluate", ["gold.tsv.gz", "pred.tsv"],
         "gold.tsv.gz: gzip file is truncated or corrupt",
         {"gold.tsv.gz": GZ[: len(GZ) // 2], "pred.tsv": PRED}),
    Case("evaluate-gold-corrupt-gzip", "evaluate", ["gold.tsv.gz", "pred.tsv"],
         "gold.tsv.gz: gzip file is truncated or corrupt",
         {"gold.tsv.gz": GZ[:20] + bytes(len(GZ) - 28) + GZ[-8:], "pred.tsv": PRED}),
    Case("evaluate-one-two-column-file", "evaluate", ["gold.tsv"],
         "gold.tsv:1: found 2 column(s), expected token<TAB>gold<TAB>predicted",
         {"gold.tsv": GOLD}),
    Case("evaluate-pred-fewer-sentences", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv: 1 sentences but gold.tsv has 2",
         {"gold.tsv": GOLD, "pred.tsv": PRED.split("\n\n")[0] + "\n"}),
    Case("evaluate-pred-token-differs", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv:6: token 'TNFa' differs from gold.tsv:6",
         {"gold.tsv": GOLD, "pred.tsv": PRED.replace("TNF", "TNFa")}),
    Case("evaluate-pred-sentences-merged", "evaluate", ["gold.tsv", "pred.tsv"],
         "pred.tsv:5: the sentence goes on here", {"gold.tsv": GOLD,
                                                   "pred.tsv": PRED.replace("\n\n", "\n")}),
    # --- corpora.py ---
    Case("corpora-validate-missing-dir", "corpora", ["validate", "no/such/dir"],
         "unknown corpus 'no/such/dir'"),
    Case("corpora-validate-truncated-gzip", "corpora", ["validate", "mine"],
         "mine/train.tsv.gz: gzip file is truncated or corrupt",
         inside("mine", corpus(train_gz=GZ[: len(GZ) // 2]))),
    Case("corpora-validate-three-columns", "corpora", ["validate", "{d}/mine"],
         "{d}/mine/devel.tsv:1: found 3 column(s)",
         inside("mine", corpus(devel="IL-2\tB-Gene\tB-Gene\n"))),
    Case("corpora-validate-no-devel", "corpora", ["validate", "mine"], "mine: no devel.tsv",
         inside("mine", corpus(devel=None))),
    Case("corpora-validate-type-ending-in-dash", "corpora", ["validate", "mine"],
         "mine/test.tsv:1: ", inside("mine", corpus(test="IL-2\tB-Gene-\n"))),
    Case("corpora-convert-out-is-a-file", "corpora", ["convert", "mine", "--out", "a-file"],
         "a-file", {"a-file": "keep me\n", **inside("mine", corpus())}),
    Case("corpora-convert-unknown", "corpora", ["convert", "nope", "--out", "o"],
         "unknown corpus 'nope'"),
    Case("corpora-convert-over-its-own-files", "corpora", ["convert", "mine", "--out", "mine"],
         "writing train.tsv there would overwrite the corpus's own file",
         inside("mine", corpus())),
    # --- report.py ---
    Case("report-missing-dir", "report", ["nope"], "nope: not a directory"),
    Case("report-no-results", "report", ["grid"], "grid: no results.jsonl under it",
         {"grid/notes.txt": "x\n"}),
    Case("report-foreign-line", "report", ["grid"], "grid/results.jsonl:2: not a JSON record",
         {"grid/results.jsonl": lambda d: records({})(d) + "garbage\n"}),
    Case("report-record-of-a-list", "report", ["grid"], "grid/results.jsonl:1",
         {"grid/results.jsonl": "[1, 2]\n"}),
    Case("report-old-format", "report", ["grid"],
         "grid/results.jsonl:1: a results record written by an older bioner-mtl",
         {"grid/results.jsonl": lambda d: json.dumps(
             {k: v for k, v in json.loads(records({})(d)).items() if k != "format"}) + "\n"}),
    # --- vectors.py ---
    Case("vectors-out-not-npz", "vectors", ["train", "--out", "v.txt"],
         "--out v.txt: the vectors are saved as .npz"),
    Case("vectors-empty-corpora", "vectors", ["train", "--corpora", ","], "--corpora is empty"),
    Case("vectors-dim-zero", "vectors", ["train", "--dim", "0"], "dim"),
    Case("vectors-missing-file", "vectors", ["coverage", "--vectors", "nope.bin", "--corpus",
                                             MAIN], "nope.bin"),
    Case("vectors-unknown-corpus", "vectors", ["coverage", "--vectors", "v.txt", "--corpus",
                                               "BC2G"], "unknown corpus 'BC2G'",
         {"v.txt": "2 2\na 1 2\nb 3 4\n"}),
    Case("vectors-garbage-file", "vectors", ["coverage", "--vectors", "v.txt", "--corpus",
                                             MAIN], "v.txt", {"v.txt": "\x00\x01\x02 not vectors"}),
    Case("vectors-unknown-command", "vectors", ["trian"], "invalid choice: 'trian'"),
    # --- predict.py: damaged bundles (refused before the model is built) ---
    Case("predict-no-bundle", "predict", ["--model", "nope", "notes.txt"],
         "nope: not a model bundle", TEXT),
    Case("predict-chunk-negative", "predict", ["--model", "model", "--chunk", "-1", "notes.txt"],
         "--chunk -1: ", {**TEXT, **bundle()}),
    Case("predict-empty-heads", "predict", ["--model", "model", "--heads", ",", "notes.txt"],
         "--heads ',': no head names", {**TEXT, **bundle()}),
    Case("predict-brat-without-out", "predict", ["--model", "model", "--format", "brat",
                                                 "notes.txt"], "--format brat writes NAME.ann",
         {**TEXT, **bundle()}),
    Case("predict-out-is-a-file", "predict", ["--model", "model", "--out", "a-file",
                                              "notes.txt"], "--out a-file: a file",
         {**TEXT, **bundle(), "a-file": "keep me\n"}),
    Case("predict-output-is-the-input", "predict", ["--model", "model", "--format", "conll",
                                                    "--out", ".", "x.conll"],
         "would overwrite an input file", {"x.conll": "IL-2\nrises\n", **bundle()}),
    Case("predict-two-inputs-one-output", "predict", ["--model", "model", "--out", "o",
                                                      "a/notes.txt", "b/notes.txt"],
         "a/notes.txt and b/notes.txt would both write o/notes.jsonl",
         {"a/notes.txt": "x\n", "b/notes.txt": "y\n", **bundle()}),
    Case("predict-bundle-json-list", "predict", ["--model", "model", "notes.txt"],
         "model/bundle.json: a JSON list where a bundle description",
         {**TEXT, **bundle(lambda meta: [meta])}),
    Case("predict-bundle-json-not-json", "predict", ["--model", "model", "notes.txt"],
         "model/bundle.json: unreadable bundle description",
         {**TEXT, **bundle(), "model/bundle.json": "{'heads': "}),
    Case("predict-bundle-missing-heads", "predict", ["--model", "model", "notes.txt"],
         "'heads' is missing", {**TEXT, **bundle(edited(lambda m: m.pop("heads")))}),
    Case("predict-bundle-unknown-model", "predict", ["--model", "model", "notes.txt"],
         "unknown model 'cnn3'", {**TEXT, **bundle(edited(lambda m: m.update(model="cnn3")))}),
    Case("predict-bundle-bad-dropout", "predict", ["--model", "model", "notes.txt"],
         "model_config: dropout=1.5: the drop rate must be in [0, 1)",
         {**TEXT, **bundle(edited(lambda m: m["model_config"].update(dropout=1.5)))}),
    Case("predict-bundle-newer-format", "predict", ["--model", "model", "notes.txt"],
         "model: bundle format 99", {**TEXT, **bundle(edited(lambda m: m.update(format=99)))}),
    Case("predict-zeroed-weights", "predict", ["--model", "model", "notes.txt"],
         "model/model.weights.h5: its SHA-256 differs", {**TEXT, **bundle(change_weights=zeroed)}),
    Case("predict-truncated-weights", "predict", ["--model", "model", "notes.txt"],
         "model/model.weights.h5: its SHA-256 differs",
         {**TEXT, **bundle(change_weights=lambda data: data[: len(data) // 2])}),
    Case("predict-min-confidence-above-one", "predict", ["--model", "model", "--min-confidence",
                                                         "2", "notes.txt"],
         "minimum confidence 2.0 is not a probability", {**TEXT, **bundle()}),
    Case("predict-missing-input", "predict", ["--model", "model", "nope.txt"],
         "nope.txt: no such file", bundle()),
    Case("predict-workers-zero", "predict", ["--model", "model", "--workers", "0", "notes.txt"],
         "--workers 0: processes that tag, from 1 to 256", {**TEXT, **bundle()}),
    Case("predict-workers-absurd", "predict", ["--model", "model", "--workers", "100000",
                                               "notes.txt"],
         "--workers 100000: processes that tag, from 1 to 256", {**TEXT, **bundle()}),
    Case("predict-workers-not-a-number", "predict", ["--model", "model", "--workers", "two",
                                                     "notes.txt"],
         "--workers: invalid int value: 'two'", {**TEXT, **bundle()}),
    Case("predict-max-tokens-zero", "predict", ["--model", "model", "--max-tokens", "0",
                                                "notes.txt"],
         "--max-tokens 0: tokens per tagged piece of a long sentence, at least 1",
         {**TEXT, **bundle()}),
    Case("predict-precision-float16", "predict", ["--model", "model", "--precision", "float16",
                                                  "notes.txt"],
         "argument --precision: invalid choice: 'float16'",
         {**TEXT, **bundle()}),
    Case("predict-precision-empty", "predict", ["--model", "model", "--precision", "",
                                                "notes.txt"],
         "argument --precision: invalid choice: ''", {**TEXT, **bundle()}),
    # --- corpora.py import ---
    Case("corpora-import-missing-source", "corpora", ["import", "nope", "--format", "brat",
                                                      "--out", "o"], "nope: no such file"),
    Case("corpora-import-unknown-format", "corpora", ["import", ".", "--format", "brat2",
                                                      "--out", "o"],
         "argument --format: invalid choice: 'brat2'"),
    # --- serve.py and export.py ---
    Case("serve-no-bundle", "serve", ["--model", "nope"], "nope: not a model bundle"),
    Case("serve-port-out-of-range", "serve", ["--model", "model", "--port", "99999"],
         "--port 99999: must be 0 to 65535", bundle()),
    Case("serve-drain-seconds-negative", "serve", ["--model", "model", "--drain-seconds", "-1"],
         "--drain-seconds -1: must be between 0 and 3600"),
    Case("serve-allow-host-with-scheme", "serve",
         ["--model", "model", "--allow-host", "http://tagger.lab"], "--allow-host "),
    Case("serve-max-chars-zero", "serve", ["--model", "model", "--max-chars", "0"],
         "--max-chars 0: must be at least 1", bundle()),
    Case("serve-precision-float16", "serve", ["--model", "model", "--precision", "float16"],
         "argument --precision: invalid choice: 'float16'", bundle()),
    Case("serve-precision-empty", "serve", ["--model", "model", "--precision", ""],
         "argument --precision: invalid choice: ''", bundle()),
    Case("serve_bench-no-bundle", "serve_bench", ["--model", "nope"],
         "nope: not a model bundle"),
    Case("serve_bench-no-clients", "serve_bench", ["--url", "http://127.0.0.1:1", "--clients",
                                                   "0"], "must be at least 1"),
    Case("train-pretrain-eval-every-zero", "train", ["--main", MAIN, "--model", "dependent-cnn",
                                                     "--set", "train.pretrain_eval_every=0"],
         "--set train.pretrain_eval_every=0: pretraining steps between devel evaluations"),
    Case("train-pretrain-patience-negative", "train", ["--main", MAIN, "--set",
                                                       "train.pretrain_patience=-1"],
         "--set train.pretrain_patience=-1: evaluations without a devel gain"),
    Case("train-decay-with-warmup", "train", ["--main", MAIN, "--set", "train.lr_decay=0.03"],
         "--set train.lr_decay=0.03: a per-epoch decay and the warm-up schedule"),
    Case("train-ema-one", "train", ["--main", MAIN, "--set", "train.ema=1"],
         "--set train.ema=1.0: the weight-averaging decay per step must be in [0, 1)"),
    Case("pairwise-train-on-devel", "pairwise", ["--main", MAIN, "--aux", "BC5CDR", "--set",
                                                 "train_on=train+devel"],
         "--set train_on=train+devel: the grid ranks partners by their devel gain"),
    Case("pairwise-ema-nan", "pairwise", ["--main", MAIN, "--aux", "BC5CDR", "--set",
                                          "train.ema=nan"],
         "--set train.ema=nan: the weight-averaging decay"),
    Case("export-no-bundle", "export", ["--model", "nope", "--out", "o"],
         "nope: not a model bundle"),
    Case("export-out-is-a-file", "export", ["--model", "model", "--out", "a-file"],
         "--out a-file: a file is there", {**bundle(), "a-file": "keep me\n"}),
    Case("export-precision-auto", "export", ["--model", "model", "--out", "o", "--precision",
                                             "auto"],
         "argument --precision: invalid choice: 'auto'"),
    Case("export-out-not-empty", "export", ["--model", "model", "--out", "full"],
         "--out full: the directory is not empty", {**bundle(), "full/f.txt": "keep me\n"}),
    # --- predict.py: what only a loaded model can check (TensorFlow starts) ---
    Case("predict-unknown-head", "predict", ["--model", "model", "--heads", "BC2GM",
                                             "notes.txt"], "unknown head(s) BC2GM",
         {**TEXT, **bundle()}, heavy=True),
    # --- recommend.py: the partner recommender (no TensorFlow) ---
    Case("recommend-unknown-corpus", "recommend", ["--main", "BC2G"],
         "unknown corpus 'BC2G'; did you mean 'BC2GM'?"),
    Case("recommend-unknown-aux", "recommend", ["--main", MAIN, "--aux", "BC5CDR,Foo"],
         "unknown corpus 'Foo'"),
    Case("recommend-gains-lacks-field", "recommend", ["--validate", "gains.jsonl"],
         "gains.jsonl:1: lacks the field 'ci_low'",
         {"gains.jsonl": '{"main": "NCBI-disease", "aux": "BC5CDR", "gain": 1.0}\n'}),
    Case("recommend-gains-missing", "recommend", ["--main", MAIN, "--gains", "nope.jsonl"],
         "nope.jsonl: no such gains file"),
    Case("recommend-collect-no-results", "recommend", ["--collect", ".", "--out", "g.jsonl"],
         ": no results.jsonl; pass a directory written by experiments/pairwise.py"),
    Case("pairwise-recommend-zero", "pairwise", ["--main", MAIN, "--recommend", "0"],
         "--recommend 0: train at least one partner"),
    # --- issue 26: no output replaces what the user has without --force (refused before any
    # work), and none replaces an input even with --force ---
    Case("predict-brat-over-the-gold-ann", "predict", ["--model", "model", "notes.txt",
                                                       "--format", "brat", "--out", "."],
         "notes.ann already exists (a file) and would be replaced; choose another --out, or "
         "add --force", {**TEXT, **bundle(), "notes.ann": "T1\tDisease 32 44\tcolon cancer\n"}),
    Case("predict-over-an-earlier-output", "predict", ["--model", "model", "notes.txt",
                                                       "--out", "o"],
         "o/notes.jsonl already exists", {**TEXT, **bundle(), "o/notes.jsonl": "{}\n"}),
    Case("report-out-is-the-grid-s-results", "report", ["grid", "--out", "grid/results.jsonl"],
         "--out grid/results.jsonl: writing there would replace the input grid/results.jsonl",
         {"grid/results.jsonl": records({})}),
    Case("report-out-exists", "report", ["grid", "--out", "notes.md"],
         "notes.md already exists (a file)", {"grid/results.jsonl": records({}),
                                              "notes.md": "my notes\n"}),
    Case("recommend-collect-over-the-grid-s-results", "recommend",
         ["--collect", "grid", "--out", "grid/results.jsonl"],
         "would replace the input grid/results.jsonl", {"grid/results.jsonl": GAINS_GRID}),
    Case("recommend-collect-out-exists", "recommend", ["--collect", "grid", "--out", "g.jsonl"],
         "g.jsonl already exists", {"grid/results.jsonl": GAINS_GRID, "g.jsonl": "mine\n"}),
    Case("train-save-model-over-a-bundle", "train", ["--main", MAIN, "--save-model", "bundle",
                                                     "--out", "o"],
         "bundle already exists (a directory that is not empty) and would be replaced; choose "
         "another --save-model, or add --force", {"bundle/bundle.json": "{}\n"}),
    Case("corpora-convert-over-a-corpus", "corpora", ["convert", "mine", "--out", "old"],
         "old already exists (a directory that is not empty)",
         {**inside("mine", corpus()), **inside("old", corpus())}),
    Case("corpora-convert-over-a-folder-holding-it", "corpora",
         ["convert", "all/mine", "--out", "all", "--force"],
         "--out all: writing there would replace the input all/mine/train.tsv",
         inside("all/mine", corpus())),
    Case("corpora-import-over-a-corpus", "corpora", ["import", "docs.pubtator", "--format",
                                                     "pubtator", "--out", "old"],
         "old already exists", {"docs.pubtator": pubtator_docs(), **inside("old", corpus())}),
    Case("corpora-import-force-over-a-folder-of-other-files", "corpora",
         ["import", "docs.pubtator", "--format", "pubtator", "--out", "home", "--force"],
         "--out home: holds thesis.tex, not only a corpus's files; --force replaces a corpus "
         "whole", {"docs.pubtator": pubtator_docs(), "home/thesis.tex": "years of work\n",
                   "home/train.tsv": SENTENCES}),
    Case("train-save-model-force-over-a-folder-of-other-files", "train",
         ["--main", MAIN, "--save-model", "project", "--force", "--out", "o"],
         "--save-model project: holds notes.md, not only a model bundle's files",
         {"project/notes.md": "mine\n"}),
    Case("corpora-import-into-its-source", "corpora", ["import", "docs", "--format", "brat",
                                                       "--out", "docs", "--force"],
         "--out docs: writing there would replace the input docs", BRAT_DOCS),
    Case("vectors-out-exists", "vectors", ["train", "--out", "v.npz"],
         "v.npz already exists (a file)", {"v.npz": b"my vectors"}),
    # --- issue 26: readers that guessed (malformed offsets, numbers for text, binary data,
    # ids a format cannot hold, offsets of another text) ---
    Case("corpora-import-pubtator-offset-with-a-letter", "corpora",
         ["import", "docs.pubtator", "--format", "pubtator", "--out", "o"],
         "docs.pubtator:12: not a PubTator line: mention start '1x' is not an offset",
         {"docs.pubtator": pubtator_docs("3\t1x\t7\tspirin\tChemical\n")}),
    Case("corpora-import-pubtator-offset-superscript", "corpora",
         ["import", "docs.pubtator", "--format", "pubtator", "--out", "o"],
         "docs.pubtator:12: not a PubTator line: mention start '1²' is not an offset",
         {"docs.pubtator": pubtator_docs("3\t1²\t7\tspirin\tChemical\n")}),
    Case("corpora-import-pubtator-offset-decimal", "corpora",
         ["import", "docs.pubtator", "--format", "pubtator", "--out", "o"],
         "docs.pubtator:12: not a PubTator line: mention end '7.5' is not an offset",
         {"docs.pubtator": pubtator_docs("3\t0\t7.5\tAspirin\tChemical\n")}),
    Case("corpora-import-bioc-json-fractional-offset", "corpora",
         ["import", "docs.json", "--format", "bioc", "--out", "o"],
         "docs.json: document 3, passage 1, annotation a: location offset 3.9 is not an "
         "offset", {"docs.json": bioc_json(offset=3.9)}),
    Case("corpora-import-bioc-json-number-for-text", "corpora",
         ["import", "docs.json", "--format", "bioc", "--out", "o"],
         "docs.json: document 3, passage 1: the passage text is int '5', not text",
         {"docs.json": bioc_json(text=5)}),
    Case("corpora-import-offsets-of-another-text", "corpora",
         ["import", "docs", "--format", "brat", "--out", "o"],
         "docs/d2.ann:1: 3 of the 3 mention texts of document d2 differ from the text at "
         "their offsets", {**BRAT_DOCS, "docs/d2.ann": "T1\tChem 2 9\tAspirin\n"
                           "T2\tChem 14 23\tibuprofen\nT3\tChem 23 27\thelp\n"}),
    Case("predict-binary-file", "predict", ["--model", "model", "scan.txt"],
         "scan.txt:1: a NUL byte: binary data, not text",
         {"scan.txt": b"GIF89a\x01\x00\x01\x00\xff", **bundle()}),
    Case("predict-latin-1-file", "predict", ["--model", "model", "notes.txt"],
         "notes.txt:2: not UTF-8 text", {"notes.txt": "Fine.\nCaf\xe9 au lait.\n".encode(
             "latin-1"), **bundle()}),
    Case("predict-pubtator-id-with-a-bar", "predict", ["--model", "model", "a|b.txt",
                                                       "--format", "pubtator"],
         "document id 'a|b' holds '|', which PubTator cannot hold",
         {"a|b.txt": "IL-2 rises.\n", **bundle()}),
    Case("serve_bench-url-without-scheme", "serve_bench", ["--url", "127.0.0.1:8000"],
         "--url '127.0.0.1:8000': give http://HOST:PORT"),
    Case("serve_bench-closed-port", "serve_bench", ["--url", "http://127.0.0.1:1"],
         "--url http://127.0.0.1:1: no service answers"),
    Case("train-executor-garbage", "train", ["--main", MAIN, "--out", "o"],
         "BIONER_EXECUTOR='garbage': set it to inprocess or pool",
         env={"BIONER_EXECUTOR": "garbage"}),
    # --- issue 27: runs from a file (--config, --from-record) and --tensorboard ---
    Case("train-config-missing", "train", ["--config", "nope.toml"],
         "--config nope.toml: no such file; give a TOML run file"),
    Case("train-config-not-toml", "train", ["--config", "run.toml"],
         "run.toml: not valid TOML: ", {"run.toml": f'main = "{MAIN}\nseeds = 2\n'}),
    Case("train-config-latin-1", "train", ["--config", "run.toml"], "run.toml: not UTF-8 text",
         {"run.toml": 'main = "Caf\xe9"\n'.encode("latin-1")}),
    Case("train-config-unknown-key", "train", ["--config", "run.toml"],
         "run.toml: unknown key 'hiden': not a flag of train.py; the keys are its flags",
         {"run.toml": f'main = "{MAIN}"\nhiden = 3\n'}),
    Case("train-config-set-setting-at-the-top", "train", ["--config", "run.toml"],
         "run.toml: devel_limit is not a flag of train.py; it is a --set setting: move the "
         "line `devel_limit = ...` under [set]", {"run.toml": f'main = "{MAIN}"\n'
                                                              "devel_limit = 50\n"}),
    Case("train-config-train-table", "train", ["--config", "run.toml"],
         "run.toml: [train]: not a table of a run file",
         {"run.toml": f'main = "{MAIN}"\n[train]\nlearning_rate = 1e-3\n'}),
    Case("train-config-seeds-a-string", "train", ["--config", "run.toml"],
         'run.toml: seeds = "3": a whole number (as --seeds takes)',
         {"run.toml": f'main = "{MAIN}"\nseeds = "3"\n'}),
    Case("train-config-switch-a-number", "train", ["--config", "run.toml"],
         "run.toml: viterbi = 1: true or false (as --viterbi takes)",
         {"run.toml": f'main = "{MAIN}"\nviterbi = 1\n'}),
    Case("train-config-unknown-preset", "train", ["--config", "run.toml"],
         'run.toml: preset = "fast": choose one of quick, paper',
         {"run.toml": f'main = "{MAIN}"\npreset = "fast"\n'}),
    Case("train-config-unknown-corpus", "train", ["--config", "run.toml"],
         'run.toml: main = "BC2G": unknown corpus \'BC2G\'; did you mean \'BC2GM\'?',
         {"run.toml": 'main = "BC2G"\n'}),
    Case("train-config-set-wrong-type", "train", ["--config", "run.toml"],
         'run.toml: set.hidden = "big": a whole number; write e.g. hidden = ',
         {"run.toml": f'main = "{MAIN}"\n[set]\nhidden = "big"\n'}),
    Case("train-config-set-misspelt", "train", ["--config", "run.toml"],
         "run.toml: set.hiden = 3: not a setting of the run, of training (train.NAME) or of "
         "model window-cnn", {"run.toml": f'main = "{MAIN}"\n[set]\nhiden = 3\n'}),
    Case("train-config-set-bad-value", "train", ["--config", "run.toml"],
         "run.toml: set.devel_limit = 0: score the first N sentences",
         {"run.toml": f'main = "{MAIN}"\n[set]\ndevel_limit = 0\n'}),
    Case("train-config-set-flag-only", "train", ["--config", "run.toml"],
         "run.toml: set.seed = 2: set it with --seed/--seeds, not --set",
         {"run.toml": f'main = "{MAIN}"\n[set]\nseed = 2\n'}),
    Case("train-config-set-other-table", "train", ["--config", "run.toml"],
         "run.toml: [set.model]: only [set.train] is a table",
         {"run.toml": f'main = "{MAIN}"\n[set.model]\nhidden = 3\n'}),
    Case("train-config-two-lengths", "train", ["--config", "run.toml"],
         "run.toml: steps and epochs: give one (--steps or --epochs, not both)",
         {"run.toml": f'main = "{MAIN}"\nsteps = 5\nepochs = 2\n'}),
    Case("train-config-and-from-record", "train", ["--config", "run.toml", "--from-record",
                                                   "grid"],
         "--config and --from-record: give one run to start from",
         {"run.toml": f'main = "{MAIN}"\n', "grid/results.jsonl": records({})}),
    Case("train-from-record-which-line", "train", ["--from-record", "grid", "--print-config"],
         "grid/results.jsonl holds 2 records; add :LINE to say which",
         {"grid/results.jsonl": records({}, {})}),
    Case("train-from-record-no-such-line", "train", ["--from-record", "grid/results.jsonl:9"],
         "no record on line 9 of grid/results.jsonl; its records are on lines 1",
         {"grid/results.jsonl": records({})}),
    Case("train-from-record-no-config", "train", ["--from-record", "grid/results.jsonl:1"],
         "grid/results.jsonl:1: the record holds no resolved run configuration",
         {"grid/results.jsonl": records({})}),
    Case("pairwise-config-bad-margin", "pairwise", ["--config", "run.toml"],
         "run.toml: margin = 200: the equivalence margin is in F1 points",
         {"run.toml": f'main = "{MAIN}"\naux = "BC5CDR"\nmargin = 200\n'}),
    Case("ablation-config-negative-rate", "ablation", ["--config", "run.toml"],
         "run.toml: set.train.learning_rate = -1: the learning rate must be a number above 0",
         {"run.toml": f'main = "{MAIN}"\npartner = "BC5CDR"\n[set.train]\n'
                      "learning_rate = -1\n"}),
    Case("groups-config-no-seeds", "groups", ["--config", "run.toml"],
         "run.toml: seeds = 0: need at least one seed",
         {"run.toml": 'class = "Disease"\nseeds = 0\n'}),
    Case("entity_ablation-config-max-length", "entity_ablation", ["--config", "run.toml"],
         "run.toml: set.max_length = 1: a whole number of at least 3",
         {"run.toml": 'corpora = "NCBI-disease,BC5CDR-chem"\nleave-out = "Disease"\n'
                      "[set]\nmax_length = 1\n"}),
    Case("adversarial-config-alphas", "adversarial", ["--config", "run.toml"],
         'run.toml: alphas = "x": expected numbers separated by commas',
         {"run.toml": f'main = "{MAIN}"\naux = "BC5CDR"\nalphas = "x"\n'}),
    Case("cell_time-config-threads", "cell_time", ["--config", "run.toml"],
         'run.toml: threads = "x": a whole number (as --threads takes)',
         {"run.toml": f'main = "{MAIN}"\nthreads = "x"\n'}),
    Case("train-tensorboard-is-a-file", "train", ["--main", MAIN, "--tensorboard", "a-file"],
         "a-file: a file, not a directory; give a directory for the TensorBoard logs",
         {"a-file": "keep me\n"}),
    # --- issue 26: one corpus given twice (by name, by its folder, by another path) would
    # count one partner's runs twice, or train the main corpus as its own partner ---
    Case("pairwise-aux-listed-twice", "pairwise", ["--main", MAIN, "--aux", "BC5CDR,BC5CDR"],
         "--aux BC5CDR,BC5CDR: BC5CDR is listed twice; give each corpus once"),
    Case("pairwise-aux-by-name-and-by-folder", "pairwise",
         ["--main", MAIN, "--aux", f"BC5CDR,{BUNDLED}/BC5CDR/"],
         f"BC5CDR and {BUNDLED}/BC5CDR/ are the same corpus; give each corpus once"),
    Case("pairwise-main-as-partner-by-folder", "pairwise",
         ["--main", MAIN, "--aux", f"BC5CDR,{BUNDLED}/{MAIN}"],
         f"--aux lists the main corpus {MAIN} as its own partner (as {BUNDLED}/{MAIN})"),
    Case("pairwise-main-as-partner-by-another-path", "pairwise",
         ["--main", "mine", "--aux", "BC5CDR,{d}/mine/"],
         "--aux lists the main corpus mine as its own partner (as {d}/mine/)",
         inside("mine", corpus())),
    Case("pairwise-two-mains-one-corpus", "pairwise", ["--main", "mine,./mine", "--aux",
                                                       "BC5CDR"],
         "--main mine,./mine: mine and ./mine are the same corpus", inside("mine", corpus())),
    Case("pairwise-derived-corpus-as-its-own-partner", "pairwise",
         ["--main", "BC5CDR-chem", "--aux", "BC5CDR@Chemical"],
         "--aux lists the main corpus BC5CDR-chem as its own partner (as BC5CDR@Chemical)"),
    Case("train-aux-by-name-and-by-folder", "train",
         ["--main", MAIN, "--aux", f"BC5CDR,{BUNDLED}/BC5CDR"],
         f"auxiliary corpora listed twice: BC5CDR and {BUNDLED}/BC5CDR, the same corpus"),
    Case("train-main-as-aux-by-path", "train", ["--main", "mine", "--aux", "./mine/"],
         "main corpus mine is also listed as its own auxiliary (as ./mine/)",
         inside("mine", corpus())),
    Case("recommend-main-as-partner-by-folder", "recommend",
         ["--main", MAIN, "--aux", f"BC5CDR,{BUNDLED}/{MAIN}/"],
         f"--aux lists the main corpus {MAIN} as its own partner (as {BUNDLED}/{MAIN}/)"),
    # --- issue 26: nothing to learn, to select on or to score (refused before training) ---
    Case("train-corpus-without-entities", "train", ["--main", "mine"],
         "mine: its train split has no entity (every tag is O), so the main corpus has "
         "nothing to teach", inside("mine", corpus(train=NO_ENTITY, devel=NO_ENTITY,
                                                   test=NO_ENTITY))),
    Case("pairwise-partner-without-entities", "pairwise", ["--main", MAIN, "--aux", "mine"],
         "mine: its train split has no entity (every tag is O), so the auxiliary corpus",
         inside("mine", corpus(train=NO_ENTITY))),
    Case("train-devel-without-entities", "train", ["--main", "mine"],
         "mine: its devel split has no entity: the run selects its weights on devel F1, "
         "which would stay 0", inside("mine", corpus(devel=NO_ENTITY))),
    Case("pairwise-devel-without-entities", "pairwise", ["--main", "mine", "--aux", "BC5CDR"],
         "mine: its devel split has no entity: the run selects its weights on devel F1",
         inside("mine", corpus(devel=NO_ENTITY))),
    # --- issue 26: sizes that cannot fit in memory, seeds by the million (before TensorFlow)
    Case("train-hidden-cannot-fit", "train", ["--main", MAIN, "--set", "hidden=10000000000"],
         "--set hidden=10000000000: model window-cnn would need at least"),
    Case("pairwise-lstm-cannot-fit", "pairwise", ["--main", MAIN, "--aux", "BC5CDR", "--model",
                                                  "bilstm-crf", "--set", "lstm=100000000"],
         "--set lstm=100000000: model bilstm-crf would need at least"),
    Case("train-bert-max-length-cannot-fit", "train", ["--main", MAIN, "--model", "bert",
                                                       "--set", "max_length=100000000"],
         "--set max_length=100000000: model bert would need at least"),
    Case("train-vector-dim-cannot-fit", "train", ["--main", MAIN, "--set",
                                                  "vector_dim=1000000000000"],
         "--set vector_dim=1000000000000: model window-cnn would need at least"),
    Case("train-seeds-by-the-million", "train", ["--main", MAIN, "--seeds", "100000000"],
         "--seeds 100000000: at most 1000 seeds per cell"),
    Case("pairwise-seeds-by-the-million", "pairwise", ["--main", MAIN, "--aux", "BC5CDR",
                                                       "--seeds", "100000000"],
         "--seeds 100000000: at most 1000 seeds per cell"),
    Case("groups-seeds-by-the-million", "groups", ["--class", "Chemical", "--seeds",
                                                   "100000000"],
         "--seeds 100000000: at most 1000 seeds per cell"),
    # found by tests/hostile_sweep.py
    Case("train-out-under-a-file", "train", ["--main", MAIN, "--out", "a-file/run"],
         "a-file: a file is in the way", {"a-file": "notes\n"}),
    Case("pairwise-results-not-a-regular-file", "pairwise", ["--main", MAIN, "--aux", "BC5CDR",
                                                              "--resume", "--out", "grid"],
         "grid/results.jsonl: not a regular file", {"grid/results.jsonl/x": ""}),
    Case("bench-out-under-a-file", "bench", ["--only", "multihead", "--out", "a-file/b"],
         "--out a-file/b: a file is in the way", {"a-file": "notes\n"}),
]


def materialise(case: Case, folder: Path) -> dict[Path, bytes]:
    """Write the case's files; return every file's bytes (what must not change)."""
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Bundle):
            content.write(path)
            continue
        if callable(content):
            content = content(folder)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def user_environment() -> dict[str, str]:
    """The environment a user's shell gives a command: no TensorFlow log level of the tests'
    (conftest.py), this checkout importable."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}


def run_case(case: Case, folder: Path) -> tuple[str | None, float]:
    """What is wrong with the command's answer to the case (None: nothing), and its wall time."""
    folder.mkdir(parents=True)
    before = materialise(case, folder)
    args = [a.replace("{d}", str(folder)) for a in case.args]
    script = ROOT / "experiments" / f"{case.command}.py"
    env = {**user_environment(), **case.env}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(script), *args], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"still running after {TIMEOUT} s (it trains instead of refusing?)", TIMEOUT
    seconds = time.perf_counter() - started
    lines = done.stderr.strip().splitlines()
    needle = case.needle.replace("{d}", str(folder))
    problems = []
    if done.returncode != 2:
        problems.append(f"exit code {done.returncode}, not 2")
    if "Traceback" in done.stderr:
        problems.append("a traceback")
    if len(lines) != 1 or not lines[0].startswith("error: "):
        problems.append(f"{len(lines)} stderr line(s), not one 'error: ' line")
    elif needle not in lines[0]:
        problems.append(f"the error line does not say {needle!r}")
    changed = sorted(str(p.relative_to(folder)) for p, data in before.items()
                     if not p.is_file() or p.read_bytes() != data)
    if changed:
        problems.append(f"input files changed or removed: {', '.join(changed)}")
    if problems:
        return "; ".join(problems) + f"\n    stderr: {done.stderr.strip()[-600:]!r}", seconds
    return None, seconds


def make_bundle(tiny_run, directory: Path) -> Path:
    """An untrained bundle of the tiny window CNN (loading does not depend on training)."""
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import save_bundle

    path = directory / "model"
    save_bundle(Trainer(tiny_run(MAIN, steps=1), progress=False), path)
    return path


def needs_bundle(case: Case) -> bool:
    return any(isinstance(content, Bundle) for content in case.files.values())


def test_the_suite_covers_every_command_with_enough_cases():
    assert len(CASES) >= 80
    assert len({c.name for c in CASES}) == len(CASES), "case names repeat"
    assert set(COMMANDS) == {c.command for c in CASES}
    assert all((ROOT / "experiments" / f"{name}.py").is_file() for name in COMMANDS)
    assert sum(c.heavy for c in CASES) <= 3


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_every_bad_input_is_one_error_line_and_changes_nothing(tiny_run, tmp_path):
    started, cpu = time.perf_counter(), children_cpu()
    with ThreadPoolExecutor(WORKERS) as pool:
        # the cases without a bundle run while this process builds the bundle for the rest
        jobs = {c.name: pool.submit(run_case, c, tmp_path / c.name)
                for c in CASES if not needs_bundle(c)}
        BUNDLE[:] = [make_bundle(tiny_run, tmp_path / "bundle")]
        # the heavy cases first among the rest: the light ones fill the wait
        for case in sorted((c for c in CASES if needs_bundle(c)), key=lambda c: not c.heavy):
            jobs[case.name] = pool.submit(run_case, case, tmp_path / case.name)
        answers = {name: job.result() for name, job in jobs.items()}
    BUNDLE.clear()
    failures = [f"{case.name}: {answers[case.name][0]}" for case in CASES
                if answers[case.name][0]]
    light = [answers[case.name][1] for case in CASES if not case.heavy]
    print(f"\n{len(CASES)} cases in {time.perf_counter() - started:.1f} s wall, "
          f"{children_cpu() - cpu:.1f} s CPU in the commands; light cases "
          f"{sum(light) / len(light):.2f} s wall each on average, slowest {max(light):.2f} s")
    assert not failures, f"{len(failures)} of {len(CASES)} cases failed:\n" + "\n".join(failures)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, as a user's process would run it: what it imports is its
    own."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=user_environment())


def test_a_mistake_is_refused_before_tensorflow_is_imported():
    """Resolving and checking a bad run imports no TensorFlow (nor Keras, nor SciPy)."""
    code = ("import sys\n"
            "from bioner_mtl.data.errors import InputError\n"
            "from bioner_mtl.training.cli import checked\n"
            "from bioner_mtl.training.spec.presets import resolve\n"
            "import bioner_mtl.training.spec.catalogue, bioner_mtl.training.spec.presets\n"
            "for main, model, options in [('BC2G', 'window-cnn', {}),\n"
            "                             ('NCBI-disease', 'bilstm-crf', {'lstm': 0}),\n"
            "                             ('NCBI-disease', 'bert', {'max_length': 1})]:\n"
            "    try:\n"
            "        checked([resolve(main, model, model_options=options)])\n"
            "    except InputError as err:\n"
            "        print('refused:', err)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'keras', 'keras_hub', 'scipy', 'sklearn'}))\n")
    done = run_python(code, ROOT)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in lines[:3]] == ["refused"] * 3, lines
    assert lines[-1] == "[]", lines


def test_export_refuses_a_bad_model_or_out_before_tensorflow_is_imported(tmp_path):
    (tmp_path / "a-file").write_text("keep me\n")
    code = ("import sys\n"
            "from bioner_mtl.experiments import export\n"
            "from bioner_mtl.training.cli import run\n"
            "for args in (['--model', 'nope', '--out', 'o'], ['--model', 'nope', '--out', "
            "'a-file']):\n"
            "    print(run(export.main, args))\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n")
    done = run_python(code, tmp_path)
    assert done.stdout.splitlines() == ["2", "2", "[]"], done.stdout + done.stderr
    assert "nope: not a model bundle" in done.stderr and "a-file: a file is there" in done.stderr
    assert (tmp_path / "a-file").read_text() == "keep me\n"


def test_train_refuses_an_unknown_corpus_at_once(tmp_path):
    script = ROOT / "experiments" / "train.py"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), "--main", "BC2G"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env=user_environment())
    seconds = time.perf_counter() - started
    assert done.returncode == 2 and "unknown corpus 'BC2G'" in done.stderr
    assert seconds < 2.0, f"{seconds:.1f} s to refuse --main BC2G (9.4 s when TF loaded first)"


def test_the_scripts_import_nothing_heavy_at_the_top():
    """Importing a training command loads no TensorFlow, Keras or SciPy: they come after the
    command has checked its arguments."""
    names = ["train", "pairwise", "ablation", "groups", "adversarial", "entity_ablation",
             "cell_time", "evaluate", "throughput", "inference_speed", "bench"]
    code = ("import sys\n" + "".join(f"import bioner_mtl.experiments.{n}\n" for n in names)
            + "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', "
              "'keras_hub', 'scipy', 'sklearn', 'seqeval'}))\n")
    done = run_python(code, ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

