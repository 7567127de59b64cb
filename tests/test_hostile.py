"""Issue 26's hostile cases whose answer is not a plain refusal from the table in
tests/test_bad_input.py: a result that must be right (offsets counted in other units
converted and said once, a linked folder read, counts that match what was written, a damaged
cache trained again), or a refusal that needs more than files (a symbolic link, bytes on
stdin, a server that is not ours, a write that fails half way). Each command runs through
its real command line: a subprocess in a folder of files, or its main through
training.cli.run (where a stand-in is patched in)."""

from __future__ import annotations

import errno
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bioner_mtl.experiments import corpora as corpora_cli
from bioner_mtl.experiments import pairwise as pairwise_cli
from bioner_mtl.experiments import predict as predict_cli
from bioner_mtl.experiments import train as train_cli
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile
from tests.experiments.test_documents_io import CapitalsTagger
from tests.helpers import make_record
from tests.test_bad_input import SENTENCES, user_environment

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "devel", "test")


def command(folder: Path, name: str, *args: str, stdin: bytes | None = None,
            env: dict | None = None) -> tuple[int, list[str]]:
    """experiments/NAME.py run as a user runs it in `folder`: exit code and stderr lines."""
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args],
                          cwd=folder, input=stdin, capture_output=True, timeout=120,
                          env={**user_environment(), **(env or {})})
    return done.returncode, done.stderr.decode(errors="replace").strip().splitlines()


def refused(folder: Path, name: str, *args: str, needle: str, **how) -> None:
    """Exit 2, exactly one `error:` line saying `needle`, no traceback."""
    code, lines = command(folder, name, *args, **how)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert needle in lines[0], lines


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def tagged(corpus: Path) -> list[tuple[str, str]]:
    """(token, tag) of every entity token of the corpus's three splits."""
    return [tuple(line.split("\t")) for split in SPLITS
            for line in (corpus / f"{split}.tsv").read_text().splitlines()
            if line and not line.endswith("\tO")]


# ----- offsets counted in other units: converted, said once ------------------------------------
CRLF_TEXT = "First line here.\r\nAspirin and ibuprofen help.\r\nThird: naproxen.\r\n"
# offsets an annotation tool counted on the text with LF line ends
CRLF_ANN = "T1\tChem 17 24\tAspirin\nT2\tChem 29 38\tibuprofen\nT3\tChem 52 60\tnaproxen\n"
EXPECTED = [("Aspirin", "B-Chem"), ("ibuprofen", "B-Chem"), ("naproxen", "B-Chem")] * 3


def test_brat_offsets_counted_on_lf_text_are_converted_and_said_once(tmp_path):
    for i in (1, 2, 3):
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "docs" / f"d{i}.txt").write_bytes(CRLF_TEXT.encode())
        (tmp_path / "docs" / f"d{i}.ann").write_text(CRLF_ANN)
    code, lines = command(tmp_path, "corpora", "import", "docs", "--format", "brat",
                          "--out", "corpus")
    assert code == 0, lines
    assert sorted(tagged(tmp_path / "corpus")) == sorted(EXPECTED)  # old code: shifted
    said = [line for line in lines if "Windows line end (CR LF)" in line]
    assert len(said) == 1 and "converted to characters" in said[0], lines
    assert not [line for line in lines if "the file says" in line], lines  # no per-item noise
    assert "3 documents whose offsets count other units than characters (converted)" \
        in lines[-1], lines


def test_bioc_offsets_in_utf16_units_after_an_emoji_are_converted(tmp_path):
    text = "Patient \U0001F600 took aspirin, then ibuprofen."
    units = lambda i: len(text[:i].encode("utf-16-le")) // 2  # noqa: E731

    def document(n: int) -> dict:
        spans = [(text.index(word), len(word)) for word in ("aspirin", "ibuprofen")]
        return {"id": str(n), "passages": [{"offset": 0, "text": text, "annotations": [
            {"id": f"a{k}", "infons": {"type": "Chem"}, "text": text[s:s + n_],
             "locations": [{"offset": units(s), "length": n_}]}
            for k, (s, n_) in enumerate(spans)]}]}

    (tmp_path / "docs.json").write_text(json.dumps({"documents": [document(n)
                                                                  for n in (1, 2, 3)]}))
    code, lines = command(tmp_path, "corpora", "import", "docs.json", "--format", "bioc",
                          "--out", "corpus")
    assert code == 0, lines
    assert sorted(tagged(tmp_path / "corpus")) == sorted(
        [("aspirin", "B-Chem"), ("ibuprofen", "B-Chem")] * 3)  # old code: 'spirin ,' ...
    assert len([line for line in lines if "UTF-16 code units" in line]) == 1, lines


# ----- what a reader left out or counted wrongly -----------------------------------------------
def brat_documents(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.txt").write_text("Aspirin helps.\n")
        (folder / f"{name}.ann").write_text("T1\tChem 0 7\tAspirin\n")


def test_a_brat_folder_s_linked_subfolder_is_read(tmp_path):
    brat_documents(tmp_path / "docs", ["d1", "d2"])
    brat_documents(tmp_path / "elsewhere" / "more", ["d3", "d4"])
    (tmp_path / "docs" / "more").symlink_to(tmp_path / "elsewhere" / "more")
    code, lines = command(tmp_path, "corpora", "import", "docs", "--format", "brat",
                          "--out", "corpus")
    assert code == 0, lines
    ids = sorted(i for s in SPLITS for i in (tmp_path / "corpus" / f"{s}.ids").read_text()
                 .split())
    assert ids == ["d1", "d2", "more/d3", "more/d4"]  # old code: the linked two were skipped
    assert "4 documents" in lines[-1], lines


def test_a_folder_reached_twice_through_links_is_refused(tmp_path):
    brat_documents(tmp_path / "docs" / "a", ["d1", "d2", "d3"])
    (tmp_path / "docs" / "b").symlink_to(tmp_path / "docs" / "a")
    refused(tmp_path, "corpora", "import", "docs", "--format", "brat", "--out", "corpus",
            needle="docs/b: the same folder as docs/a (a symbolic link); its documents would "
                   "be read twice")


def test_split_files_that_leave_a_document_out_count_only_what_is_written(tmp_path):
    (tmp_path / "docs.pubtator").write_text("\n".join(
        f"{i}|t|Aspirin and ibuprofen help.\n{i}|a|x\n{i}\t0\t7\tAspirin\tChem\n"
        f"{i}\t12\t21\tibuprofen\tChem\n{i}\tCID\tD1\tD2\n" for i in (1, 2, 3, 4)))
    for split, ident in zip(SPLITS, "123"):
        (tmp_path / f"{split}.ids").write_text(f"{ident}\n")
    code, lines = command(tmp_path, "corpora", "import", "docs.pubtator", "--format",
                          "pubtator", "--out", "corpus", "--split-files",
                          "train.ids,devel.ids,test.ids")
    assert code == 0, lines
    written = len(tagged(tmp_path / "corpus"))
    assert written == 6
    # old code: "4 documents (train 1, devel 1, test 1), 8 mentions kept: no problems"
    assert "4 documents (train 1, devel 1, test 1, 1 left out), 6 mentions kept: no " \
        "problems (4 relation lines ignored)" in lines[-1], lines


# ----- binary input, ids a format cannot hold, servers that are not ours ----------------------
@pytest.mark.parametrize(("data", "needle"), [
    (b"GIF89a\x01\x00\x01\x00\x00\x00", "stdin:1: a NUL byte: binary data, not text"),
    (b"fine\n\xff\xfe\xfd binary\n", "stdin:2: not UTF-8 text"),
])
def test_binary_bytes_on_stdin_are_refused_before_the_model_loads(tmp_path, data, needle):
    refused(tmp_path, "predict", "--model", "nope", "-", stdin=data, needle=needle)


def test_a_pubtator_output_of_an_id_with_a_bar_is_refused(tmp_path, monkeypatch, capsys):
    from bioner_mtl.training.product import bundle

    monkeypatch.setattr(bundle, "load", lambda path, precision=None: CapitalsTagger())
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"documents": [
        {"id": "PMC1|v2", "passages": [{"offset": 0, "text": "Aspirin helps."}]}]}))
    out = tmp_path / "out"
    # old code: wrote 'PMC1|v2|t|Aspirin helps.', which reads back as another line entirely
    assert run(predict_cli.main, ["--model", "m", "--workers", "1", str(source),
                                  "--format", "pubtator", "--out", str(out)]) == 2
    assert "document id 'PMC1|v2' holds '|', which PubTator cannot hold" in \
        capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert run(predict_cli.main, ["--model", "m", "--workers", "1", str(source),
                                  "--format", "bioc-json", "--out", str(out)]) == 0  # BioC holds it


def test_serve_bench_refuses_a_server_that_is_not_ours(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        refused(tmp_path, "serve_bench", "--url", f"http://127.0.0.1:{server.server_port}",
                needle="GET /health answered 404")
    finally:
        server.shutdown()


# ----- caches and writes that fail half way -----------------------------------------------------
def test_a_truncated_vectors_cache_is_trained_again(tmp_path):
    args = ["train", "--corpora", "NCBI-disease", "--dim", "8", "--epochs", "1",
            "--workers", "1", "--cache-dir", "cache"]
    code, lines = command(tmp_path, "vectors", *args)
    assert code == 0, lines
    [cached] = (tmp_path / "cache").glob("*.npz")
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])  # a full disk
    code, lines = command(tmp_path, "vectors", *args)  # old code: a BadZipFile traceback
    assert code == 0, lines
    assert any("ignoring a damaged cache entry" in line for line in lines), lines
    from bioner_mtl.embeddings.vectors import WordVectors

    assert len(WordVectors.load(cached)) > 100  # whole again


def corpus_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_an_import_that_fails_half_way_leaves_the_old_corpus(tmp_path, monkeypatch, capsys):
    from bioner_mtl.data.errors import InputError

    brat_documents(tmp_path / "docs", ["d1", "d2", "d3", "d4"])
    brat_documents(tmp_path / "new", ["n1", "n2", "n3", "n4"])  # other ids: other .ids files
    out = tmp_path / "corpus"
    assert run(corpora_cli.main, ["import", str(tmp_path / "docs"), "--format", "brat",
                                  "--out", str(out)]) == 0
    before = corpus_of(out)
    real = corpora_cli.write_split

    def full_disk(path, sentences, *args):
        if path.name == "devel.tsv":
            raise InputError(f"{path}: cannot write (No space left on device)")
        return real(path, sentences, *args)

    monkeypatch.setattr(corpora_cli, "write_split", full_disk)
    assert run(corpora_cli.main, ["import", str(tmp_path / "new"), "--format", "brat",
                                  "--out", str(out), "--force"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    # old code: a new train.tsv beside the old devel and test, which validate called ok
    assert corpus_of(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "docs", "new"]  # no temp
    monkeypatch.setattr(corpora_cli, "write_split", real)
    (out / "train.tsv.gz").write_bytes(b"an old split, replaced with the rest")
    assert run(corpora_cli.main, ["import", str(tmp_path / "new"), "--format", "brat",
                                  "--out", str(out), "--force"]) == 0
    assert sorted(corpus_of(out)) == sorted(before)  # swapped in whole: no train.tsv.gz
    assert "n1" in "".join((out / f"{s}.ids").read_text() for s in SPLITS)
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~current_umask())


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# ----- grids: the data a cell trained on, a full disk, a diverging run, plots, partners ------
def tiny_corpus(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (folder / f"{split}.tsv").write_text(SENTENCES + extra)
    return folder


def stand_in(monkeypatch) -> list[int]:
    """The grid's trainer (executors.train_run) replaced by a record at once, its test F1
    0.9 where the main corpus's train split holds 'TNF' twice, else 0.5 (so records of two
    versions of a corpus would tell apart); returns the seeds it trained, in order."""
    from bioner_mtl.training.grids import executors

    trained = []

    def train_run(run, progress=True):
        trained.append(run.seed)
        f1 = 0.9 if (Path(run.main) / "train.tsv").read_text().count("TNF") > 1 else 0.5
        score = {"strict": {"precision": f1, "recall": f1}, "default": {"f1": f1},
                 "token": {"f1": f1}}
        return make_record(main=run.main, aux=list(run.aux), model=run.model, seed=run.seed,
                           test_f1=f1, config=run.to_dict(), parameters={"trainable": 1},
                           scores={"test": {"constrained": score}})

    monkeypatch.setattr(executors, "train_run", train_run)
    return trained


def train_command(args: list[str]) -> int:
    """train.py's main as a new process runs it: corpora and their fingerprints read afresh."""
    from bioner_mtl.data.corpora import load_corpus
    from bioner_mtl.training.fit.results import corpus_fingerprint

    load_corpus.cache_clear()
    corpus_fingerprint.cache_clear()
    return run(train_cli.main, args)


def errors(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_a_resume_after_the_corpus_changed_is_refused_not_pooled(tmp_path, monkeypatch,
                                                                 capsys):
    corpus = tiny_corpus(tmp_path / "mine")
    trained = stand_in(monkeypatch)
    out = tmp_path / "grid"
    given = ["--main", str(corpus), "--out", str(out), "--no-progress"]
    assert train_command([*given, "--seeds", "2"]) == 0
    before = (out / "results.jsonl").read_bytes()
    (corpus / "train.tsv").write_text(SENTENCES + "\nTNF\tB-Gene\n")  # the corpus is edited
    # old code: trained seed 3 alone on the new files and printed "3 seeds" over both
    assert train_command([*given, "--seeds", "3", "--resume"]) == 2
    [line] = errors(capsys)
    assert f"results.jsonl:1: the files of {corpus} changed since that run" in line, line
    assert (out / "results.jsonl").read_bytes() == before and trained == [1, 2]
    assert train_command([*given, "--seeds", "3", "--out", str(tmp_path / "new")]) == 0
    assert trained == [1, 2, 1, 2, 3]  # a new --out: every seed on the new files
    (corpus / "train.tsv").write_text(SENTENCES)  # restored: the resume trains seed 3 only
    assert train_command([*given, "--seeds", "3", "--resume"]) == 0
    assert trained[5:] == [3] and len(ResultsFile(out / "results.jsonl").records()) == 3
    # records written before they held a fingerprint: whether the files changed is unknown
    lines = (out / "results.jsonl").read_text().splitlines()
    older = "".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "data"})
                    + "\n" for line in lines)
    (out / "results.jsonl").write_text(older)
    assert train_command([*given, "--seeds", "4", "--resume"]) == 2
    [line] = errors(capsys)
    assert "written before records held a fingerprint of their corpora's files" in line
    assert (out / "results.jsonl").read_text() == older and trained[6:] == []


class FullDisk:
    """The os module as results.py sees it, on a disk that fills up in the middle of the
    second record: half of its line is written, then every write fails (ENOSPC)."""

    def __init__(self):
        self.records, self.full = 0, False

    def write(self, fd, data):
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if bytes(data[:2]) == b'{"':
            self.records += 1
            if self.records == 2:
                self.full = True
                return os.write(fd, bytes(data[: len(data) // 2]))
        return os.write(fd, data)

    def __getattr__(self, name):
        return getattr(os, name)


def test_a_full_disk_stops_the_grid_at_once_and_loses_no_record_before(tmp_path,
                                                                      monkeypatch, capsys):
    from bioner_mtl.training.fit import results

    corpus = tiny_corpus(tmp_path / "mine")
    trained = stand_in(monkeypatch)
    monkeypatch.setattr(results, "os", FullDisk())
    out = tmp_path / "grid"
    # old code: the torn second line was dropped, seed 3 trained on, and a KeyError ended it
    assert run(train_cli.main, ["--main", str(corpus), "--out", str(out), "--seeds", "3",
                                "--no-progress"]) == 2
    [line] = errors(capsys)
    assert "results.jsonl: cannot write a finished run's record (No space left on device)" \
        in line and "--resume" in line
    assert trained == [1, 2]  # stopped at once: seed 3 never trained
    text = (out / "results.jsonl").read_text()
    assert text.endswith("\n") and [r.seed for r in ResultsFile(out / "results.jsonl")
                                    .records()] == [1]  # the first record whole, nothing torn


def test_a_diverging_run_ends_in_one_line_not_in_nan_scores(tmp_path):
    tiny_corpus(tmp_path / "mine")
    code, lines = command(tmp_path, "train", "--main", "mine", "--set",
                          "train.learning_rate=1e30", "--set", "vector_corpora=run", "--set",
                          "vector_dim=8", "--steps", "5", "--out", "o", "--no-progress")
    said = [line for line in lines if line.startswith("error: ")]
    # old code: a ValueError traceback from the Viterbi decoder (log_probs contains NaN)
    assert code == 2 and len(said) == 1 and not [x for x in lines if "Traceback" in x], lines
    assert "training diverged at step " in said[0] and "; lower the learning rate" in said[0]
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_two_main_corpora_in_folders_of_one_name_get_a_plot_each(tmp_path, monkeypatch,
                                                                 capsys):
    from tests.helpers import scripted_cells

    first = tiny_corpus(tmp_path / "a" / "corpus")
    second = tiny_corpus(tmp_path / "b" / "corpus", "\nTNF\tB-Gene\n")
    scripted_cells(monkeypatch, lambda r: 0.6 + 0.1 * bool(r.aux) + 0.01 * r.seed)
    given = ["--main", f"{first},{second}", "--aux", "BC5CDR", "--seeds", "3", "--max-seeds",
             "3", "--no-progress"]
    out = tmp_path / "grid"
    assert run(pairwise_cli.main, [*given, "--out", str(out)]) == 0
    plots = sorted(p.name for p in out.glob("gains_*.png"))
    assert len(plots) == 2 and all(p.startswith("gains_corpus-") for p in plots), plots  # old: 1
    assert (out / "heatmap.png").is_file()
    # a new grid never replaces a file it did not write (before anything trains)
    other = tmp_path / "other"
    other.mkdir()
    (other / "heatmap.png").write_bytes(b"my figure")
    assert run(pairwise_cli.main, [*given, "--out", str(other)]) == 2
    [line] = errors(capsys)
    assert "heatmap.png is already there, not written by this grid" in line
    assert sorted(p.name for p in other.iterdir()) == ["heatmap.png"]
    assert (other / "heatmap.png").read_bytes() == b"my figure"
    assert run(pairwise_cli.main, [*given, "--out", str(out), "--resume"]) == 0  # its own


def test_a_partner_that_is_a_link_to_the_main_corpus_is_refused(tmp_path):
    tiny_corpus(tmp_path / "mine")
    (tmp_path / "link").symlink_to("mine")
    refused(tmp_path, "pairwise", "--main", "mine", "--aux", "BC5CDR,link",
            needle="--aux lists the main corpus mine as its own partner (as link)")
    refused(tmp_path, "train", "--main", "link", "--aux", "mine",
            needle="main corpus link is also listed as its own auxiliary (as mine)")
