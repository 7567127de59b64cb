"""predict.py on large inputs (issue 28): several worker processes give the single process's
output, a killed run continues where it stopped, over-long sentences are tagged in pieces."""

import json

import pytest

from bioner_mtl.data import resumable
from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.experiments import predict as predict_cli
from bioner_mtl.training.cli import run

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
    assert sorted(p.name for p in cut.iterdir() if p.name.startswith(".")) == []


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
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["a.jsonl", "b.jsonl"]
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
