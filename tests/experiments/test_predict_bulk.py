"""predict.py on large inputs (issue 28): several worker processes give the single process's
output, a killed run continues where it stopped (the inputs it finished kept), a full disk
stops with one line and the rerun continues, over-long sentences are tagged in pieces."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bioner_mtl.data import resumable
from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.experiments import predict as predict_cli
from bioner_mtl.training.cli import run
from tests.experiments.test_documents_io import CapitalsTagger

MAIN, AUX = "NCBI-disease", "BC5CDR-chem"


@pytest.fixture(scope="module")
def bundle(two_head_bundle):
    """A small two-head window CNN (MAIN, AUX) that finds entities (tests/conftest.py)."""
    return two_head_bundle[1]


@pytest.fixture()
def text(tmp_path):
    """60 test sentences, a blank line after every fifth."""
    sentences = [" ".join(s.tokens) for s in load_corpus(MAIN).test[:60]]
    path = tmp_path / "abstracts.txt"
    path.write_text("".join(s + ("\n\n" if i % 5 == 4 else " ")
                            for i, s in enumerate(sentences)), encoding="utf-8")
    return path


def predict(*args) -> int:
    return run(predict_cli.main, [str(a) for a in args])


@pytest.mark.parametrize("fmt", ["jsonl", "conll"])
def test_two_workers_write_what_one_process_writes(bundle, text, tmp_path, capsys, fmt):
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert predict("--model", bundle, text, "--format", fmt, "--chunk", 4,
                       "--workers", workers, "--out", out) == 0
        outputs[workers] = (out / f"abstracts.{'jsonl' if fmt == 'jsonl' else 'conll'}"
                            ).read_text(encoding="utf-8")
    capsys.readouterr()
    assert outputs[1] == outputs[2]  # same tags, same order, same confidences
    assert outputs[1].count("B-") + outputs[1].count('"head"') > 5  # the check has substance


class Killed(KeyboardInterrupt):
    """What a kill looks like to the writer: the run stops between two chunks."""


@pytest.mark.parametrize("fmt", ["jsonl", "brat"])
def test_a_killed_run_continues_where_it_stopped(bundle, text, tmp_path, capsys,
                                                 monkeypatch, fmt):
    tagged = []  # the chunks handed out for tagging
    original = predict_cli.after_skipping

    def counting(chunks, done):
        for chunk in original(chunks, done):
            tagged.append(chunk)
            yield chunk

    monkeypatch.setattr(predict_cli, "after_skipping", counting)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    suffix = ".jsonl" if fmt == "jsonl" else ".ann"
    assert predict("--model", bundle, text, "--format", fmt, "--chunk", 4, "--workers", 1,
                   "--out", whole) == 0
    expected = (whole / f"abstracts{suffix}").read_text(encoding="utf-8")
    chunks = len(tagged)
    assert chunks > 6

    checkpoint, calls = resumable.ResumableOutput.checkpoint, []

    def dies_after_three(self, progress):
        checkpoint(self, progress)
        calls.append(progress)
        if len(calls) == 3:
            self.handle.write("half a line written after the last checkpoint")
            raise Killed

    monkeypatch.setattr(resumable.ResumableOutput, "checkpoint", dies_after_three)
    assert predict("--model", bundle, text, "--format", fmt, "--chunk", 4, "--workers", 1,
                   "--out", cut) == 130
    assert not (cut / f"abstracts{suffix}").exists()  # nothing half-written under its name
    assert (cut / f".abstracts{suffix}.partial").exists()
    monkeypatch.setattr(resumable.ResumableOutput, "checkpoint", checkpoint)
    capsys.readouterr()
    tagged.clear()
    assert predict("--model", bundle, text, "--format", fmt, "--chunk", 4, "--workers", 1,
                   "--out", cut) == 0
    assert f"resuming after {calls[-1]['sentences']} sentences" in capsys.readouterr().err
    assert (cut / f"abstracts{suffix}").read_text(encoding="utf-8") == expected
    assert len(tagged) == chunks - 3  # the first three chunks were not tagged again
    # no partial file left; the journal stays, marked finished: a rerun keeps the output
    assert sorted(p.name for p in cut.iterdir() if p.name.startswith(".")) == [
        f".abstracts{suffix}.journal"]
    assert resumable.read_journal(cut / f"abstracts{suffix}")["finished"] is True


def test_a_journal_of_other_settings_is_not_resumed(bundle, text, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".abstracts.jsonl.partial").write_text("stale\n")
    (out / ".abstracts.jsonl.journal").write_text(json.dumps(
        {"fingerprint": {"other": 1}, "bytes": 6, "progress": {"sentences": 4}}))
    assert predict("--model", bundle, text, "--chunk", 4, "--workers", 1, "--out", out) == 0
    assert "resuming" not in capsys.readouterr().err
    assert "stale" not in (out / "abstracts.jsonl").read_text(encoding="utf-8")


def test_text_with_no_sentence_end_is_tagged_in_pieces(bundle, tmp_path, capsys):
    words = " ".join(" ".join(s.tokens[:-1]) for s in load_corpus(MAIN).test[:30])
    path = tmp_path / "log.txt"
    path.write_text(words, encoding="utf-8")  # no full stop, no line end
    assert predict("--model", bundle, path, "--max-tokens", 16, "--workers", 1) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert rows and all(words[r["start"]:r["end"]] == r["text"] for r in rows)
    assert predict("--model", bundle, path, "--max-tokens", 16, "--workers", 1,
                   "--format", "conll") == 0
    pieces = capsys.readouterr().out.strip().split("\n\n")
    assert len(pieces) > 10 and max(len(p.splitlines()) for p in pieces) <= 16


@pytest.mark.parametrize(("args", "needle"), [
    (["--workers", "0"], "--workers 0: processes that tag, from 1 to 256"),
    (["--workers", "-2"], "--workers -2: processes that tag"),
    (["--workers", "100000"], "--workers 100000: processes that tag"),
    (["--max-tokens", "0"], "--max-tokens 0: tokens per tagged piece"),
])
def test_bad_worker_and_piece_sizes_are_refused_before_loading(tmp_path, capsys, args, needle):
    text = tmp_path / "notes.txt"
    text.write_text("Aspirin works.")
    assert predict("--model", tmp_path / "no-bundle", text, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err, err


def test_a_directory_is_its_files_tagged_by_one_pool(bundle, text, tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(text.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("Germline BRCA1 mutations cause breast cancer.\n")
    (folder / ".hidden.txt").write_text("never read\n")
    assert predict("--model", bundle, folder, "--chunk", 4, "--workers", 2, "--out",
                   tmp_path / "two") == 0
    for name in ("a", "b"):
        source = folder / "a.txt" if name == "a" else folder / "sub" / "b.txt"
        assert predict("--model", bundle, source, "--chunk", 4, "--workers", 1, "--out",
                       tmp_path / "one") == 0
        assert ((tmp_path / "two" / f"{name}.jsonl").read_text(encoding="utf-8")
                == (tmp_path / "one" / f"{name}.jsonl").read_text(encoding="utf-8"))
    assert sorted(p.name for p in (tmp_path / "two").iterdir()
                  if not p.name.startswith(".")) == ["a.jsonl", "b.jsonl"]  # and journals
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert predict("--model", bundle, tmp_path / "empty") == 2
    assert "a directory with no files to tag" in capsys.readouterr().err


TRICKY = ("Germline BRCA1 mutations (e.g. 185delAG) were found by J. Smith et al. The carriers "
          "had breast cancer. Treated with amphotericin B. Patterns of vitamin C. deficiency "
          "differ in the U.S. and in E. coli vs. controls (see Fig. 2). Was it inherited?! "
          "\"Yes.\" p53 was mutated in 3.5 % of cases.\nc-Myc was not. ")


def test_chunks_end_where_sentences_end(bundle, tmp_path, capsys):
    """Chunks of about one sentence (--chunk 1) cut a text with no blank line between its
    sentences, some of which end in abbreviations: every chunk still ends where a sentence
    does, so two workers write what one does, and the entities are those the Python API
    finds in the whole text at once."""
    from bioner_mtl.training.product.bundle import load

    sentences = [" ".join(s.tokens) for s in load_corpus(MAIN).test[:30]]
    words = TRICKY * 3 + " ".join(sentences)
    path = tmp_path / "one-paragraph.txt"
    path.write_text(words, encoding="utf-8")
    outputs = []
    for workers in (1, 2):
        assert predict("--model", bundle, path, "--chunk", 1, "--workers", workers) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    rows = [json.loads(line) for line in outputs[0].splitlines()]
    spans = [(e.head, e.type, e.start, e.end, e.text) for e in load(bundle).tag(words)]
    assert [(r["head"], r["type"], r["start"], r["end"], r["text"]) for r in rows] == spans
    assert len(spans) > 5


# ----- reruns of a killed run over several inputs, a full disk: a stand-in tagger, no model ----
@pytest.fixture()
def capitals(monkeypatch):
    """bundle.load gives a stand-in tagger (every capitalised word an entity; no TensorFlow):
    with --workers 1 predict.py tags in this process."""
    from bioner_mtl.training.product import bundle as bundle_module

    monkeypatch.setattr(bundle_module, "load", lambda path, precision=None: CapitalsTagger())


def fake_predict(*args) -> int:
    return run(predict_cli.main, ["--model", "m", "--workers", "1", *(str(a) for a in args)])


@pytest.fixture()
def folder(tmp_path):
    """Three text files of 15 test sentences each: several chunks each with --chunk 2."""
    sentences = [" ".join(s.tokens) for s in load_corpus(MAIN).test[:45]]
    path = tmp_path / "pubmed"
    path.mkdir()
    for i, name in enumerate("abc"):
        (path / f"{name}.txt").write_text(" ".join(sentences[15 * i:15 * i + 15]) + "\n",
                                          encoding="utf-8")
    return path


def written(out: Path) -> dict[str, str]:
    """The outputs in --out (the journals beside them left out)."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())
            if not p.name.startswith(".")}


@pytest.mark.parametrize("fmt", ["jsonl", "brat", "bioc"])
def test_a_rerun_keeps_the_outputs_the_killed_run_finished(capitals, folder, tmp_path, capsys,
                                                            monkeypatch, fmt):
    """`pubmed/ --out tagged/`, killed while tagging b.txt, run again: a's output is kept
    (not refused as an existing file, not tagged again), b's continues after its last whole
    chunk (BioC, written whole at the end, starts b again), c is tagged; a third run keeps
    all three; --force tags everything again."""
    tagged = []  # (input, chunk) for every chunk handed out
    kill_at = []  # (input, how many of its chunks) at which the run is killed
    original = predict_cli.after_skipping

    def counting(chunks, done):
        for chunk in original(chunks, done):
            name = Path(chunk[0].name).name
            if kill_at and (name, sum(n == name for n, _ in tagged) + 1) == kill_at[0]:
                raise Killed
            tagged.append((name, chunk))
            yield chunk

    monkeypatch.setattr(predict_cli, "after_skipping", counting)
    args = [folder, "--format", fmt, "--chunk", 2]
    assert fake_predict(*args, "--out", tmp_path / "whole") == 0
    expected = written(tmp_path / "whole")
    per_input = {n: sum(t == n for t, _ in tagged) for n in ("a.txt", "b.txt", "c.txt")}
    assert min(per_input.values()) > 3

    out = tmp_path / "tagged"
    tagged.clear()
    kill_at.append(("b.txt", 3))  # asked for b's third chunk: two are written whole
    assert fake_predict(*args, "--out", out) == 130
    kill_at.clear()
    capsys.readouterr()
    tagged.clear()
    assert fake_predict(*args, "--out", out) == 0
    err = capsys.readouterr().err
    target = out / f"a{predict_cli.SUFFIXES[fmt]}"
    assert f"{folder / 'a.txt'}: already tagged in {target} (kept)" in err
    assert ("resuming after" in err) == (fmt != "bioc")
    assert written(out) == expected
    again = {n: sum(t == n for t, _ in tagged) for n in per_input}
    assert again == {"a.txt": 0, "b.txt": per_input["b.txt"] - (2 if fmt != "bioc" else 0),
                     "c.txt": per_input["c.txt"]}

    tagged.clear()
    assert fake_predict(*args, "--out", out) == 0
    assert capsys.readouterr().err.count("(kept)") == 3 and tagged == []
    assert fake_predict(*args, "--out", out, "--force") == 0
    assert "(kept)" not in capsys.readouterr().err and len(tagged) == sum(per_input.values())
    assert written(out) == expected


@pytest.mark.parametrize("fmt", ["jsonl", "brat", "pubtator"])
def test_an_output_not_written_by_the_same_job_is_refused(capitals, folder, tmp_path, capsys,
                                                          fmt):
    """A file in --out that another job wrote (other settings, an input changed since), that
    changed since, or that no run of predict.py wrote, is refused with one line naming it
    and --force; --force replaces it."""
    source, out = folder / "a.txt", tmp_path / "o"
    suffix = predict_cli.SUFFIXES[fmt]
    assert fake_predict(source, "--format", fmt, "--out", out) == 0

    def refused(*args, needle: str) -> None:
        capsys.readouterr()
        assert fake_predict(source, "--format", fmt, "--out", out, *args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and needle in err and "\n" not in err, err

    refused("--min-confidence", 0.5,
            needle=f"{out / ('a' + suffix)}: written by another run of predict.py (another "
                   f"--min-confidence); add --force to tag {source} again, or choose another "
                   "--out")
    refused("--chunk", 7, needle="(another --chunk)")
    before = source.read_text(encoding="utf-8")
    source.write_text(before + "More text.\n", encoding="utf-8")
    refused(needle="(the input changed since)")
    source.write_text(before, encoding="utf-8")
    refused(needle="(the input changed since)")  # same size, a newer time: maybe edited
    assert fake_predict(source, "--format", fmt, "--out", out, "--force") == 0
    assert fake_predict(source, "--format", fmt, "--out", out) == 0
    assert "(kept)" in capsys.readouterr().err
    with (out / f"a{suffix}").open("a", encoding="utf-8") as edited:
        edited.write("a line the user added\n")
    refused(needle=f"a{suffix}: changed since predict.py wrote it")
    resumable.journal_path(out / f"a{suffix}").unlink()  # no journal: a file like any other
    refused(needle=f"a{suffix} already exists (a file) and would be replaced")


def test_brat_keeps_its_text_copy_and_refuses_a_text_file_it_did_not_write(capitals, folder,
                                                                           tmp_path, capsys):
    out = tmp_path / "ann"
    assert fake_predict(folder / "a.txt", "--format", "brat", "--out", out) == 0
    assert resumable.read_journal(out / "a.ann")["beside"] == ["a.txt"]
    assert fake_predict(folder / "a.txt", "--format", "brat", "--out", out) == 0
    assert "(kept)" in capsys.readouterr().err
    (out / "b.txt").write_text("the annotator's own text\n")  # no journal lists it
    assert fake_predict(folder / "b.txt", "--format", "brat", "--out", out) == 2
    assert "b.txt already exists (a file)" in capsys.readouterr().err


def test_journals_and_partial_files_are_never_inputs(tmp_path):
    (tmp_path / "a.txt").write_text("Aspirin works.\n")
    for hidden in (".a.jsonl.journal", ".a.jsonl.partial", ".a.xml.journal"):
        (tmp_path / hidden).write_text("{}")
    assert predict_cli.expand_directories([str(tmp_path)]) == [str(tmp_path / "a.txt")]


FULL_DISK = """
import resource, sys
from bioner_mtl.experiments import predict
from bioner_mtl.training.cli import run
from bioner_mtl.training.product import bundle

class Capitals:
    heads, precision = {"fake": None}, None
    meta = {"model": "capitals", "weights_sha256": "0" * 64}  # as CapitalsTagger's
    def heads_for(self, heads):
        return ["fake"]
    def entities(self, sentences, heads, min_confidence=None, documents=None):
        return [[("fake", "Upper", i, i + 1, 0.75) for i, word in enumerate(s)
                 if word[0].isupper()] for s in sentences]

bundle.load = lambda path, precision=None: Capitals()
limit = int(sys.argv[1])  # bytes any one file may grow to (writing past it: EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
sys.exit(run(predict.main, sys.argv[2:]))
"""


def test_a_full_disk_is_one_line_and_the_rerun_continues(capitals, folder, tmp_path, capsys):
    """A write that fails half way (here a file-size limit, as a full disk would) stops with
    one `error:` line naming the file, keeps the partial output and its journal, and the same
    command run again continues and writes what an undisturbed run writes."""
    resource = pytest.importorskip("resource")
    source = folder / "a.txt"
    assert fake_predict(source, "--chunk", 1, "--out", tmp_path / "whole") == 0
    expected = (tmp_path / "whole" / "a.jsonl").read_text(encoding="utf-8")
    limit = len(expected.encode()) // 2
    assert limit > 1000 and resource.RLIMIT_FSIZE  # room for several chunks first

    out = tmp_path / "out"
    args = ["--model", "m", "--workers", "1", str(source), "--chunk", "1", "--out", str(out)]
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(limit), *args], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})
    err = done.stderr.strip()
    assert done.returncode == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith(f"error: {out / '.a.jsonl.partial'}: cannot write (File too large)")
    assert "run the same command again" in err
    assert not (out / "a.jsonl").exists()
    record = resumable.read_journal(out / "a.jsonl")  # kept, with the chunks written whole
    assert record["progress"]["chunks"] > 0 and not record.get("finished")
    assert (out / ".a.jsonl.partial").stat().st_size >= record["bytes"]

    capsys.readouterr()
    assert fake_predict(source, "--chunk", 1, "--out", out) == 0
    assert "resuming after" in capsys.readouterr().err
    assert (out / "a.jsonl").read_text(encoding="utf-8") == expected


@pytest.mark.parametrize("failing", ["journal", "beside"])
def test_a_failed_journal_or_text_write_keeps_what_was_written(tmp_path, monkeypatch, failing):
    """A full disk while writing the journal or a BRAT NAME.txt is a write that failed, not
    bad input: the partial file and the last journal stay for the rerun."""
    from bioner_mtl.data.errors import InputError

    def full(path, text, newline=None):  # what data.atomic.write_text raises then
        raise InputError(f"{path}: cannot write (No space left on device); check the free "
                         "space and permissions")

    target = tmp_path / "a.ann"
    with pytest.raises(resumable.WriteError, match="No space left on device"):
        with resumable.ResumableOutput(target, {"job": 1}) as out:
            out.handle.write("T1\tX 0 1\tA\n")
            out.checkpoint({"chunks": 1, "sentences": 1, "mentions": 1})
            monkeypatch.setattr(resumable, "write_text", full)  # the disk is full from here
            out.handle.write("T2\tX 2 3\tB\n")
            if failing == "journal":
                out.checkpoint({"chunks": 2, "sentences": 2, "mentions": 2})
            else:
                out.write_beside(tmp_path / "a.txt", "A B\n")
    assert (tmp_path / ".a.ann.partial").exists() and not target.exists()
    assert resumable.read_journal(target)["progress"]["chunks"] == 1
