"""Issue 26's second hostile sweep: cases beyond tests/test_bad_input.py's table and
tests/test_hostile.py, over every command, the console command and the service.

    .venv/bin/python tests/hostile_sweep.py [-v]

Each case runs a real command line (experiments/NAME.py, or the installed `bioner-mtl`) in a
folder of real files and declares what a good answer is: a refusal (exit 2, exactly one
`error: ` line on stderr, naming what it must name), a result (exit 0 and a check of what it
wrote), or either of the two where both are right (a name with a trailing space may be taken
or refused, never misread). Every answer is put in one class:

    handled well    the declared answer
    data loss       a file that was there before (an input, an earlier output) changed or went
    silently wrong  exit 0 where a refusal was due, or a result that fails its check
    traceback       a Python traceback on stderr
    hang            still running after the case's time limit
    unclear         any other answer (another exit code, several stderr lines)

The script prints one line per failing case (every case with -v), a table of counts per class
and per command, and exits 1 if any case is not handled well and not marked as a known
failure (`known=` names the issue). Not collected by pytest (no test_ prefix): it trains a
bundle and starts the service, about a minute on two cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
CONSOLE = ROOT / ".venv" / "bin" / "bioner-mtl"
MAIN = "NCBI-disease"
BUNDLED = ROOT / "data" / "corpora"
WORKERS = 3  # the subprocesses mostly wait on start-up; two cores
CLASSES = ("handled well", "data loss", "silently wrong", "traceback", "hang", "unclear")

SENTENCES = "IL-2\tB-Gene\ngene\tI-Gene\nand\tO\naspirin\tB-Chem\n\nTNF\tB-Gene\nrises\tO\n"
TEXT = "Mutations in the APC gene cause colon cancer.\n"
# the tiny bundle's training run: a few steps on 1% of NCBI-disease (about 8 s)
TINY = ["--main", MAIN, "--steps", "2", "--train-fraction", "0.01", "--set", "devel_limit=20",
        "--set", "test_limit=20", "--set", "vector_dim=16", "--set", "vector_corpora=run",
        "--set", "filters=8", "--set", "hidden=32"]


def corpus(**splits: str | bytes) -> dict[str, str | bytes]:
    """A corpus folder's files: every split SENTENCES but those given (train_gz=... for a
    train.tsv.gz)."""
    files: dict[str, str | bytes] = {f"{s}.tsv": SENTENCES for s in ("train", "devel", "test")}
    for key, content in splits.items():
        split, _, gz = key.partition("_")
        files.pop(f"{split}.tsv")
        files[f"{split}.tsv{'.gz' if gz else ''}"] = content
    return files


def inside(folder: str, files: dict) -> dict:
    return {f"{folder}/{name}": content for name, content in files.items()}


# --- what a result must hold ------------------------------------------------------------


def stdout_has(*needles: str) -> Callable:
    def check(out: str, folder: Path) -> str | None:
        missing = [n for n in needles if n not in out]
        return f"stdout lacks {missing}" if missing else None
    return check


def f1_is(value: float) -> Callable:
    """evaluate.py --json: the overall F1 (points or a fraction, whichever it prints)."""
    def check(out: str, folder: Path) -> str | None:
        try:
            scores = json.loads(out)
        except ValueError:
            return f"stdout is not JSON: {out[:200]!r}"
        found = [v for k, v in flat(scores) if k.lower() in ("f1", "f")]
        if not found:
            return f"no F1 in {out[:200]!r}"
        f1 = found[0] * (100 if found[0] <= 1 else 1)
        return None if abs(f1 - value) < 1e-6 else f"F1 {found[0]}, not {value}"
    return check


def flat(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flat(v, k)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield key, value


def file_check(path: str, test: Callable[[bytes], bool], what: str) -> Callable:
    def check(out: str, folder: Path) -> str | None:
        target = folder / path
        if not target.is_file():
            return f"{path} was not written"
        return None if test(target.read_bytes()) else f"{path}: {what}"
    return check


def every_token(data: bytes) -> bool:
    """The conll output of HUGE_LINE: all its 200,001 tokens, in order."""
    tokens = [line.split(b"\t")[0] for line in data.splitlines() if line.strip()]
    return len(tokens) == 200_001 and tokens[-1] == b"end"


def all_of(*checks: Callable) -> Callable:
    def check(out: str, folder: Path) -> str | None:
        return next((p for c in checks if (p := c(out, folder))), None)
    return check


# --- the cases --------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    command: str  # a script of experiments/ without .py, or "bioner-mtl" for the console
    args: list[str]  # {d}: the case's folder
    expect: str = "refuse"  # refuse | ok | either
    needle: str = ""  # what the error line must say
    check: Callable | None = None  # ok/either: what the result must hold
    files: dict = field(default_factory=dict)  # path -> text or bytes
    links: dict = field(default_factory=dict)  # path -> where the link points ({d} too)
    bundle: bool = False  # copies the sweep's bundle to model/
    stdin: bytes | None = None  # None: stdin closed (/dev/null)
    env: dict = field(default_factory=dict)
    timeout: int = 60
    known: str = ""  # a known failure: which issue it is


GZ_TEXT = SENTENCES.encode()  # plain text in a file named .gz
CRLF = SENTENCES.replace("\n", "\r\n")
TAB_TOKEN = "IL\t2\tB-Gene\ngene\tI-Gene\n\nTNF\tB-Gene\n"
BOM_TOML = "\ufeffmain = \"NCBI-disease\"\n"
HUGE_LINE = ("word " * 200_000 + "end").encode()  # one line of a megabyte, no newline


def record_line() -> str:
    sys.path.insert(0, str(ROOT))
    from tests.helpers import make_record

    return make_record(cell="c0", command="pairwise").to_json() + "\n"


CASES = [
    # the console command
    Case("console-no-command", "bioner-mtl", [], "ok", check=stdout_has("commands:")),
    Case("console-unknown-command", "bioner-mtl", ["trian"], needle="trian"),
    Case("console-version", "bioner-mtl", ["--version"], "ok", check=stdout_has("bioner-mtl 0.")),
    Case("console-dashed-name-routes", "bioner-mtl", ["entity-ablation", "--class", "Genes"],
         needle="bioner-mtl entity-ablation --help"),
    Case("console-corpora-list", "bioner-mtl", ["corpora", "list"], "ok",
         check=stdout_has("NCBI-disease", "BC2GM")),
    Case("console-only-an-option", "bioner-mtl", ["--steps", "5"], needle="--steps"),
    # train
    Case("train-seeds-zero", "train", ["--main", MAIN, "--seeds", "0"], needle="--seeds 0"),
    Case("train-steps-nan", "train", ["--main", MAIN, "--steps", "nan"], needle="nan"),
    Case("train-train-fraction-nan", "train", ["--main", MAIN, "--train-fraction", "nan"],
         needle="nan"),
    Case("train-train-fraction-negative", "train", ["--main", MAIN, "--train-fraction", "-0.5"],
         needle="-0.5"),
    Case("train-aux-weight-inf", "train", ["--main", MAIN, "--aux", "BC5CDR", "--aux-weight",
                                           "inf"], needle="inf"),
    Case("train-learning-rate-nan", "train", ["--main", MAIN, "--set", "train.learning_rate=nan"],
         needle="nan"),
    Case("train-config-is-a-directory", "train", ["--config", "conf"], needle="conf",
         files={"conf/run.toml": "main = \"NCBI-disease\"\n"}),
    Case("train-config-with-a-bom", "train", ["--config", "run.toml", "--print-config"],
         "either", needle="run.toml", check=stdout_has("NCBI-disease"),
         files={"run.toml": BOM_TOML}),
    Case("train-main-trailing-space", "train", ["--main", MAIN + " ", "--print-config"],
         "either", needle="NCBI-disease", check=stdout_has('"NCBI-disease"')),
    Case("train-aux-empty", "train", ["--main", MAIN, "--aux", "", "--print-config"], "either",
         needle="--aux", check=stdout_has('"NCBI-disease"')),
    Case("train-corpus-gz-not-gzip", "train", ["--main", "mine"], needle="mine/train.tsv.gz",
         files=inside("mine", corpus(train_gz=GZ_TEXT))),
    Case("train-corpus-tab-inside-a-token", "train", ["--main", "mine"], needle="mine/train.tsv",
         files=inside("mine", corpus(train=TAB_TOKEN))),
    Case("train-results-linked-to-dev-null", "train", ["--main", MAIN, "--resume", "--out",
                                                       "grid", *TINY[2:]],
         needle="results.jsonl", links={"grid/results.jsonl": "/dev/null"}, timeout=120),
    Case("train-out-under-a-file", "train", ["--main", MAIN, "--out", "a-file/run"],
         needle="a-file", files={"a-file": "notes\n"}),
    # pairwise
    Case("pairwise-margin-inf", "pairwise", ["--main", MAIN, "--margin", "inf"], needle="inf"),
    Case("pairwise-seeds-zero", "pairwise", ["--main", MAIN, "--seeds", "0"], needle="--seeds 0"),
    Case("pairwise-budget-nan", "pairwise", ["--main", MAIN, "--budget", "nan"], needle="nan"),
    Case("pairwise-main-blank", "pairwise", ["--main", "  "], needle="--main"),
    Case("pairwise-config-is-a-directory", "pairwise", ["--config", "."], needle="."),
    Case("pairwise-aux-not-gzip", "pairwise", ["--main", MAIN, "--aux", "mine"],
         needle="mine/devel.tsv.gz", files=inside("mine", corpus(devel_gz=b"\x1f\x8b garbage"))),
    # ablation
    Case("ablation-seeds-zero", "ablation", ["--main", MAIN, "--partner", "BC5CDR", "--seeds",
                                             "0"], needle="--seeds 0"),
    Case("ablation-margin-minus-inf", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                                   "--margin=-inf"], needle="-inf"),
    Case("ablation-fractions-nan", "ablation", ["--main", MAIN, "--partner", "BC5CDR",
                                                "--fractions", "0.5,nan"], needle="nan"),
    # groups
    Case("groups-class-empty", "groups", ["--class", ""], needle="class"),
    Case("groups-seeds-zero", "groups", ["--class", "Chemical", "--seeds", "0"],
         needle="--seeds 0"),
    # entity_ablation
    Case("entity-ablation-steps-nan", "entity_ablation", ["--corpora", "NCBI-disease,BC5CDR",
                                                          "--leave-out", "Disease", "--steps",
                                                          "nan"], needle="nan"),
    Case("entity-ablation-seeds-zero", "entity_ablation", ["--corpora", "NCBI-disease,BC5CDR",
                                                           "--leave-out", "Disease", "--seeds",
                                                           "0"], needle="--seeds 0"),
    # adversarial
    Case("adversarial-alphas-inf", "adversarial", ["--main", MAIN, "--aux", "BC5CDR", "--alphas",
                                                   "0.05,inf"], needle="inf"),
    Case("adversarial-betas-nan", "adversarial", ["--main", MAIN, "--aux", "BC5CDR", "--betas",
                                                  "nan"], needle="nan"),
    # cell_time
    Case("cell-time-threads-zero", "cell_time", ["--main", MAIN, "--threads", "0"],
         needle="--threads"),
    Case("cell-time-seeds-zero", "cell_time", ["--main", MAIN, "--seeds", "0"],
         needle="--seeds 0"),
    # throughput, inference_speed, bench
    Case("throughput-steps-nan", "throughput", ["--steps", "nan"], needle="nan"),
    Case("throughput-steps-negative", "throughput", ["--steps", "-3"], needle="-3"),
    Case("inference-speed-sentences-zero", "inference_speed", ["--sentences", "0"],
         needle="--sentences"),
    Case("inference-speed-heads-zero", "inference_speed", ["--heads", "0"], needle="--heads"),
    Case("bench-repeats-negative", "bench", ["--only", "multihead", "--repeats", "-1"],
         needle="--repeats"),
    Case("bench-out-under-a-file", "bench", ["--only", "multihead", "--out", "a-file/b"],
         needle="a-file", files={"a-file": "notes\n"}),
    # evaluate
    Case("evaluate-crlf-gold-lf-pred", "evaluate", ["--json", "gold.tsv", "pred.tsv"], "either",
         needle="gold.tsv", check=f1_is(100.0),
         files={"gold.tsv": CRLF, "pred.tsv": SENTENCES}),
    Case("evaluate-same-file-through-dotdot", "evaluate", ["--json", "gold.tsv",
                                                           "sub/../gold.tsv"], "ok",
         check=f1_is(100.0), files={"gold.tsv": SENTENCES, "sub/x": ""}),
    Case("evaluate-pred-empty", "evaluate", ["gold.tsv", "pred.tsv"], needle="pred.tsv",
         files={"gold.tsv": SENTENCES, "pred.tsv": ""}),
    Case("evaluate-tab-inside-a-token", "evaluate", ["gold.tsv", "pred.tsv"], needle="gold.tsv",
         files={"gold.tsv": TAB_TOKEN, "pred.tsv": TAB_TOKEN}),
    Case("evaluate-gold-is-a-directory", "evaluate", ["gold", "pred.tsv"], needle="gold",
         files={"gold/x": "", "pred.tsv": SENTENCES}),
    Case("evaluate-gold-dev-null", "evaluate", ["/dev/null", "pred.tsv"], needle="/dev/null",
         files={"pred.tsv": SENTENCES}),
    # corpora
    Case("corpora-stats-bundled", "corpora", ["stats", "NCBI-disease"], "ok",
         check=stdout_has("NCBI-disease")),
    Case("corpora-validate-crlf", "corpora", ["validate", "mine"], "either", needle="mine",
         check=stdout_has("mine"), files=inside("mine", corpus(train=CRLF))),
    Case("corpora-validate-gz-not-gzip", "corpora", ["validate", "mine"],
         needle="mine/train.tsv.gz", files=inside("mine", corpus(train_gz=GZ_TEXT))),
    Case("corpora-convert-over-itself-through-dotdot", "corpora",
         ["convert", "mine", "--out", "sub/../mine"], needle="mine",
         files={**inside("mine", corpus()), "sub/x": ""}),
    Case("corpora-convert-over-itself-through-a-link", "corpora",
         ["convert", "mine", "--out", "link"], needle="link",
         files=inside("mine", corpus()), links={"link": "mine"}),
    Case("corpora-import-empty-pubtator", "corpora", ["import", "docs.pubtator", "--format",
                                                      "pubtator", "--out", "new"],
         needle="docs.pubtator", files={"docs.pubtator": ""}),
    Case("corpora-unknown-subcommand", "corpora", ["lsit"], needle="lsit"),
    # report
    Case("report-results-linked-to-dev-null", "report", ["grid"], needle="grid",
         links={"grid/results.jsonl": "/dev/null"}),
    Case("report-results-empty", "report", ["grid"], needle="grid",
         files={"grid/results.jsonl": ""}),
    Case("report-out-is-a-directory", "report", ["grid", "--out", "grid"], needle="grid",
         files={"grid/results.jsonl": record_line}),
    # recommend
    Case("recommend-gains-is-a-directory", "recommend", ["--main", MAIN, "--gains", "g"],
         needle="g", files={"g/x": ""}),
    Case("recommend-main-trailing-space", "recommend", ["--main", MAIN + " ", "--aux",
                                                        "BC5CDR,BC2GM"], "either",
         needle="NCBI-disease", check=stdout_has("BC5CDR")),
    Case("recommend-collect-out-is-a-directory", "recommend", ["--collect", "grid", "--out",
                                                               "grid"], needle="grid",
         files={"grid/results.jsonl": record_line}),
    # vectors
    Case("vectors-dim-nan", "vectors", ["train", "--dim", "nan"], needle="nan"),
    Case("vectors-coverage-empty-file", "vectors", ["coverage", "--vectors", "v.txt", "--corpus",
                                                    MAIN], needle="v.txt", files={"v.txt": ""}),
    # predict (the first three load the bundle)
    Case("predict-empty-file", "predict", ["--model", "model", "--out", "o", "empty.txt"], "either",
         needle="empty.txt: no text to tag",
         check=file_check("o/empty.jsonl", lambda b: not b.strip(), "entities in no text"),
         files={"empty.txt": ""}, bundle=True, timeout=120),
    Case("predict-huge-single-line", "predict", ["--model", "model", "--format", "conll",
                                          "--out", "o", "big.txt"],
         "either", needle="big.txt",
         check=file_check("o/big.conll", every_token, "tokens lost"),
         files={"big.txt": HUGE_LINE}, bundle=True, timeout=180),
    Case("predict-stdin-closed", "predict", ["--model", "model", "-"], "either",
         needle="-: no text to tag",
         check=lambda out, folder: None, bundle=True, timeout=120),
    Case("predict-min-confidence-nan", "predict", ["--model", "model", "--min-confidence", "nan",
                                                   "notes.txt"], needle="nan",
         files={"notes.txt": TEXT}, bundle=True),
    Case("predict-chunk-zero", "predict", ["--model", "model", "--chunk", "0", "notes.txt"],
         needle="--chunk", files={"notes.txt": TEXT}, bundle=True),
    Case("predict-over-the-input-through-dotdot", "predict",
         ["--model", "model", "--format", "conll", "--out", "sub/..", "x.conll"],
         needle="x.conll", files={"x.conll": "IL-2\nrises\n", "sub/x": ""}, bundle=True),
    Case("predict-over-the-input-through-a-link", "predict",
         ["--model", "model", "--format", "conll", "--out", "link", "x.conll"],
         needle="x.conll", files={"x.conll": "IL-2\nrises\n"}, links={"link": "."},
         bundle=True),
    Case("predict-model-is-a-file", "predict", ["--model", "notes.txt", "notes.txt"],
         needle="notes.txt", files={"notes.txt": TEXT}),
    # export
    Case("export-out-under-a-file", "export", ["--model", "model", "--out", "a-file/sm"],
         needle="a-file", files={"a-file": "notes\n"}, bundle=True),
    Case("export-out-is-the-bundle", "export", ["--model", "model", "--out", "model"],
         needle="model", bundle=True),
    # serve, serve_bench (refused before the model loads)
    Case("serve-port-negative", "serve", ["--model", "model", "--port", "-1"], needle="--port",
         bundle=True),
    Case("serve-max-texts-zero", "serve", ["--model", "model", "--max-texts", "0"],
         needle="--max-texts", bundle=True),
    Case("serve-batch-window-nan", "serve", ["--model", "model", "--batch-window-ms", "nan"],
         needle="nan", bundle=True),
    Case("serve-drain-seconds-inf", "serve", ["--model", "model", "--drain-seconds", "inf"],
         needle="inf", bundle=True),
    Case("serve_bench-requests-zero", "serve_bench", ["--url", "http://127.0.0.1:1",
                                                      "--requests", "0"], needle="--requests"),
    Case("serve_bench-clients-zero", "serve_bench", ["--url", "http://127.0.0.1:1", "--clients",
                                                     "0,4"], needle="--clients"),
    Case("serve_bench-sentences-negative", "serve_bench", ["--url", "http://127.0.0.1:1",
                                                           "--sentences", "-2"],
         needle="--sentences"),
]


# --- running a case ---------------------------------------------------------------------


def environment(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "100", **extra}


def snapshot(folder: Path) -> dict[str, str]:
    """A hash of every regular file under the folder (links not followed)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def materialise(case: Case, folder: Path, bundle: Path | None) -> None:
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content = content()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for name, target in case.links.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target.replace("{d}", str(folder)))
    if case.bundle:
        shutil.copytree(bundle, folder / "model")


def run_case(case: Case, folder: Path, bundle: Path | None) -> tuple[str, str, float]:
    """(class, what was wrong or '', seconds)."""
    materialise(case, folder, bundle)
    before = snapshot(folder)
    args = [a.replace("{d}", str(folder)) for a in case.args]
    argv = ([str(CONSOLE)] if case.command == "bioner-mtl"
            else [str(PYTHON), str(ROOT / "experiments" / f"{case.command}.py")])
    started = time.perf_counter()
    try:
        done = subprocess.run(argv + args, cwd=folder, env=environment(case.env),
                              input=case.stdin,
                              stdin=subprocess.DEVNULL if case.stdin is None else None,
                              capture_output=True, timeout=case.timeout)
    except subprocess.TimeoutExpired:
        return "hang", f"still running after {case.timeout} s", case.timeout
    seconds = time.perf_counter() - started
    out = done.stdout.decode(errors="replace")
    err = done.stderr.decode(errors="replace")
    after = snapshot(folder)
    changed = sorted(p for p, digest in before.items() if after.get(p) != digest)
    tail = f"\n    stderr: {err.strip()[-400:]!r}"
    if changed:
        return "data loss", f"changed or removed: {', '.join(changed)}" + tail, seconds
    if "Traceback" in err:
        return "traceback", "a traceback" + tail, seconds
    lines = err.strip().splitlines()
    refusal = done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    needle = case.needle.replace("{d}", str(folder))
    if refusal and case.expect in ("refuse", "either"):
        if needle not in lines[0]:
            return "unclear", f"the error line does not say {needle!r}" + tail, seconds
        return "handled well", "", seconds
    if done.returncode == 0 and case.expect in ("ok", "either"):
        problem = case.check(out, folder) if case.check else None
        if problem:
            return "silently wrong", problem + tail, seconds
        return "handled well", "", seconds
    if done.returncode == 0:
        return "silently wrong", "exit 0 where a refusal was due" + tail, seconds
    return "unclear", f"exit {done.returncode}, {len(lines)} stderr line(s)" + tail, seconds


# --- the service ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw(port: int, data: bytes, timeout: float = 15) -> tuple[int, dict | None]:
    """Send raw HTTP bytes, read the answer: (status, JSON body or None)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                raise TimeoutError from None
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def post(port: int, body: bytes, host: str = "127.0.0.1", path: str = "/tag",
         length: int | None = None, method: str = "POST") -> bytes:
    size = len(body) if length is None else length
    return (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode() + body


# name, request, the statuses that are right, whether the body must be a JSON error
SERVICE_CASES = [
    ("service-body-a-json-string", lambda p: post(p, b'"just a string"'), {400, 422}),
    ("service-texts-of-numbers", lambda p: post(p, b'{"texts": [1, 2, 3]}'), {400, 422}),
    ("service-heads-a-string", lambda p: post(p, b'{"text": "IL-2", "heads": "NCBI-disease"}'),
     {400, 422}),
    ("service-min-confidence-nan", lambda p: post(p, b'{"text": "IL-2", "min_confidence": NaN}'),
     {400, 422}),
    ("service-body-not-utf8", lambda p: post(p, b'{"text": "\xff\xfe"}'), {400, 422}),
    ("service-content-length-negative", lambda p: post(p, b'{"text": "a"}', length=-5),
     {400, 411, 413, 422}),
    ("service-content-length-lies", lambda p: post(p, b'{"text": "a"}', length=10**12), {413}),
    ("service-foreign-host", lambda p: post(p, b'{"text": "a"}', host="evil.example:80"),
     {400, 403, 421}),
    ("service-unknown-path", lambda p: post(p, b"{}", path="/tags"), {404, 405}),
    ("service-get-tag", lambda p: post(p, b"", method="GET"), {405}),
    ("service-empty-texts", lambda p: post(p, b'{"texts": []}'), {200, 400, 422}),
    ("service-null-byte-text", lambda p: post(p, b'{"text": "IL-2\\u0000 gene"}'), {200, 400}),
]

# known failures of the service: name -> what and where
KNOWN_SERVICE = {
    "service-content-length-negative": "uvicorn's HTTP parser (h11) answers a malformed "
    "Content-Length itself, a plain-text 400, before the application sees the request",
}


def sweep_service(bundle: Path, folder: Path) -> list[tuple[str, str, str, float]]:
    """Start serve.py on the bundle, send each request, then check it still answers /health
    and stops on SIGTERM in time: (name, class, problem, seconds) per case."""
    port = free_port()
    folder.mkdir(parents=True)
    before = snapshot(bundle)
    server = subprocess.Popen([str(PYTHON), str(ROOT / "experiments" / "serve.py"), "--model",
                               str(bundle), "--port", str(port), "--no-access-log"],
                              cwd=folder, env=environment({}), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answers = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if raw(port, post(port, b"", path="/health", method="GET"))[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            return [("service-start", "hang", "no /health answer in 120 s", 120.0)]
        for name, request, good in SERVICE_CASES:
            started = time.perf_counter()
            try:
                status, body = raw(port, request(port))
            except TimeoutError:
                answers.append((name, "hang", "no answer in 15 s", 15.0))
                continue
            except OSError as err:
                answers.append((name, "unclear", f"connection: {err}", 0.0))
                continue
            seconds = time.perf_counter() - started
            if status >= 500:
                answers.append((name, "traceback", f"HTTP {status}: {body}", seconds))
            elif status not in good:
                kind = "silently wrong" if status == 200 else "unclear"
                answers.append((name, kind, f"HTTP {status}, not {sorted(good)}: {body}",
                                seconds))
            elif status >= 400 and not (isinstance(body, dict) and "error" in body
                                        or isinstance(body, dict) and "detail" in body):
                answers.append((name, "unclear", f"HTTP {status} without a JSON error",
                                seconds))
            else:
                answers.append((name, "handled well", "", seconds))
        started = time.perf_counter()
        status, _ = raw(port, post(port, b"", path="/health", method="GET"))
        answers.append(("service-alive-after-the-above", "handled well" if status == 200
                        else "unclear", "" if status == 200 else f"/health {status}",
                        time.perf_counter() - started))
    finally:
        started = time.perf_counter()
        server.terminate()
        try:
            _, err = server.communicate(timeout=30)
            err = err.decode(errors="replace")
            seconds = time.perf_counter() - started
            if "Traceback" in err:
                answers.append(("service-sigterm", "traceback", err[-400:], seconds))
            elif server.returncode not in (0, -15):
                answers.append(("service-sigterm", "unclear", f"exit {server.returncode}",
                                seconds))
            else:
                answers.append(("service-sigterm", "handled well", "", seconds))
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
            answers.append(("service-sigterm", "hang", "still running 30 s after SIGTERM", 30.0))
    if snapshot(bundle) != before:
        answers.append(("service-bundle-unchanged", "data loss", "the bundle changed", 0.0))
    return answers


# --- the sweep --------------------------------------------------------------------------


def build_bundle(folder: Path) -> Path:
    done = subprocess.run([str(PYTHON), str(ROOT / "experiments" / "train.py"), *TINY,
                           "--save-model", "model", "--out", "run"], cwd=folder,
                          env=environment({}), capture_output=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit(f"error: the sweep's bundle did not train: {done.stderr.decode()[-600:]}")
    return folder / "model"


def main() -> int:
    verbose = "-v" in sys.argv[1:]
    names = [c.name for c in CASES] + [n for n, _, _ in SERVICE_CASES]
    assert len(set(names)) == len(names), "case names repeat"
    started = time.perf_counter()
    results: dict[str, tuple[str, str, str, float]] = {}  # name -> command, class, why, s
    with tempfile.TemporaryDirectory(prefix="hostile-sweep-") as tmp:
        tmp = Path(tmp)
        with ThreadPoolExecutor(WORKERS) as pool:
            light = {c.name: pool.submit(run_case, c, tmp / c.name, None)
                     for c in CASES if not c.bundle}
            (tmp / "bundle").mkdir()
            bundle = build_bundle(tmp / "bundle")
            heavy = {c.name: pool.submit(run_case, c, tmp / c.name, bundle)
                     for c in CASES if c.bundle}
            service = pool.submit(sweep_service, bundle, tmp / "service")
            for case in CASES:
                kind, why, seconds = {**light, **heavy}[case.name].result()
                results[case.name] = (case.command, kind, why, seconds)
            for name, kind, why, seconds in service.result():
                results[name] = ("service", kind, why, seconds)
    known = {c.name: c.known for c in CASES if c.known} | KNOWN_SERVICE
    counts = Counter(kind for _, kind, _, _ in results.values())
    per_command: dict[str, Counter] = {}
    for command, kind, _, _ in results.values():
        per_command.setdefault(command, Counter())[kind] += 1
    failed = []
    for name, (command, kind, why, seconds) in results.items():
        if kind != "handled well":
            mark = f" [known: {known[name]}]" if name in known else ""
            print(f"{kind.upper()}: {name} ({command}, {seconds:.1f} s){mark}: {why}")
            if name not in known:
                failed.append(name)
        elif verbose:
            print(f"ok: {name} ({command}, {seconds:.1f} s)")
    print(f"\n{len(results)} cases in {time.perf_counter() - started:.0f} s\n")
    print(f"| {'command':<16} | " + " | ".join(CLASSES) + " |")
    print(f"|{'-' * 18}|" + "|".join("-" * (len(c) + 2) for c in CLASSES) + "|")
    for command in sorted(per_command):
        print(f"| {command:<16} | " + " | ".join(f"{per_command[command][c]:>{len(c)}}"
                                                 for c in CLASSES) + " |")
    print(f"| {'all':<16} | " + " | ".join(f"{counts[c]:>{len(c)}}" for c in CLASSES) + " |")
    if failed:
        print(f"\n{len(failed)} case(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
