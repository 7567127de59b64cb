"""Model bundles and the predict command, as a user runs them."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.errors import InputError
from bioner_mtl.experiments import predict as predict_cli
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.product import bundle as bundle_module
from bioner_mtl.training.product.bundle import FORMAT, load, save_bundle

ROOT = Path(__file__).resolve().parents[2]
MAIN, AUX = "NCBI-disease", "BC5CDR-chem"


@pytest.fixture(scope="module")
def bundle(two_head_bundle):
    """A small two-head window CNN (MAIN, AUX) trained well enough to find entities, saved as
    a bundle (tests/conftest.py)."""
    return two_head_bundle


def test_bundle_in_a_fresh_process_predicts_identically(bundle):
    trainer, path = bundle
    devel = trainer.tasks[MAIN].devel
    expected = trainer.predict(MAIN, devel, viterbi=True)
    sentences = [list(s.tokens) for s in devel.sentences]
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]);"
              "from bioner_mtl.training.product.bundle import load;"
              "tagger = load(sys.argv[2]);"
              "out = tagger.tag_sentences(json.load(sys.stdin), ['NCBI-disease']);"
              "print(json.dumps(out['NCBI-disease'][0]))")
    done = subprocess.run([sys.executable, "-c", script, str(ROOT), str(path)],
                          input=json.dumps(sentences), capture_output=True, text=True,
                          check=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin"})
    assert json.loads(done.stdout) == expected
    assert any(tag != "O" for tags in expected for tag in tags)  # the check has substance


def messy_text() -> str:
    """Real sentences joined with tabs, runs of spaces, NBSP, newlines and non-ASCII words."""
    sentences = [" ".join(s.tokens) for s in load_corpus(MAIN).test[:40]]
    joins = ["\t", "  ", "\u00a0", "\n", "   \t ", "\n\n"]
    text = "Über α-synuclein:\t"
    for i, sentence in enumerate(sentences):
        text += sentence.replace(" ", ["  ", "\t", " "][i % 3], 3) + joins[i % len(joins)]
    return text


def test_entity_offsets_slice_the_original_text(bundle):
    _, path = bundle
    text = messy_text()
    entities = load(path).tag(text)
    assert len(entities) > 5
    for entity in entities:
        assert text[entity.start:entity.end] == entity.text
        assert 0 < entity.confidence <= 1 and entity.head in (MAIN, AUX)


def predict(*args):
    return run(predict_cli.main, [str(a) for a in args])


def test_output_formats_parse_back(bundle, tmp_path, capsys):
    _, path = bundle
    source = tmp_path / "notes.txt"
    source.write_text(messy_text(), encoding="utf-8")
    text = source.read_text(encoding="utf-8")

    assert predict("--model", path, source) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(text[r["start"]:r["end"]] == r["text"] for r in rows)
    assert {r["document"] for r in rows} == {str(source)}

    assert predict("--model", path, source, "--format", "brat", "--out", tmp_path / "ann") == 0
    brat_text = (tmp_path / "ann" / "notes.txt").read_text(encoding="utf-8")
    assert brat_text == text
    for line in (tmp_path / "ann" / "notes.ann").read_text(encoding="utf-8").splitlines():
        ident, middle, mention = line.split("\t")
        kind, start, end = middle.split(" ")
        assert ident.startswith("T") and kind.split("_")[0] in ("NCBI-disease", "BC5CDR-chem")
        assert re.sub(r"\s", " ", brat_text[int(start):int(end)]) == mention

    conll = tmp_path / "in.conll"
    conll.write_text("\n\n".join("\n".join(s.tokens) for s in load_corpus(MAIN).test[:20]))
    capsys.readouterr()
    assert predict("--model", path, conll, "--format", "conll", "--heads", MAIN) == 0
    blocks = [b for b in capsys.readouterr().out.split("\n\n") if b.strip()]
    assert len(blocks) == 20
    for block, sentence in zip(blocks, load_corpus(MAIN).test[:20]):
        rows = [line.split("\t") for line in block.splitlines()]
        assert [r[0] for r in rows] == list(sentence.tokens) and {len(r) for r in rows} == {2}


def test_clear_errors(bundle, tmp_path, capsys):
    _, path = bundle
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    cases = [
        (["--model", tmp_path, empty], "not a model bundle"),
        (["--model", path, empty], "no text to tag"),
        (["--model", path, tmp_path / "missing.txt"], "no such file"),
        (["--model", path, empty, "--heads", "BC2GM"], "unknown head(s) BC2GM"),
    ]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    cases.append((["--model", path, bad], "not UTF-8 text"))
    for args, message in cases:
        assert predict(*args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    meta = json.loads((path / "bundle.json").read_text())
    old = tmp_path / "old"
    old.mkdir()
    (old / "bundle.json").write_text(json.dumps({**meta, "format": 0}))
    assert predict("--model", old, empty) == 2
    assert f"bundle format 0 but this bioner-mtl reads format {FORMAT}" in capsys.readouterr().err


def test_outputs_never_overwrite_inputs_or_each_other(tmp_path, capsys):
    predict = predict_cli
    data = tmp_path / "data"
    data.mkdir()
    conll = data / "X.conll"
    conll.write_text("Aspirin\nworks\n\n")
    model = str(tmp_path / "no-model")  # never opened: outputs are checked first
    assert run(predict.main, ["--model", model, str(conll), "--format", "conll",
                              "--out", str(data)]) == 2
    assert "would overwrite an input file" in capsys.readouterr().err
    assert conll.read_text() == "Aspirin\nworks\n\n"  # untouched
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text("Aspirin works.")
    assert run(predict.main, ["--model", model, str(tmp_path / "a" / "notes.txt"),
                              str(tmp_path / "b" / "notes.txt"), "--out",
                              str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "would both write" in err and err.count("\n") == 1
    (tmp_path / "file").write_text("")
    assert run(predict.main, ["--model", model, str(conll), "--out",
                              str(tmp_path / "file")]) == 2
    assert "a file, not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "needle"), [
    (["--chunk", "0"], "--chunk 0: sentences tagged per batch, at least 1"),
    (["--chunk", "-1"], "--chunk -1: sentences tagged per batch, at least 1"),
    (["--heads", ","], "--heads ',': no head names"),
])
def test_predict_refuses_bad_flags_before_loading(capsys, tmp_path, args, needle):
    text = tmp_path / "notes.txt"
    text.write_text("Aspirin works.")
    rc = run(predict_cli.main, ["--model", str(tmp_path / "no-bundle"), str(text), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and needle in err, err
    assert "\n" not in err and "Traceback" not in err


def test_min_confidence_drops_less_certain_entities(bundle, tmp_path, capsys):
    _, path = bundle
    source = tmp_path / "notes.txt"
    source.write_text(messy_text(), encoding="utf-8")
    assert predict("--model", path, source) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    confidences = sorted({r["confidence"] for r in rows})  # rounded to 4 places when printed
    middle = len(confidences) // 2
    cut = (confidences[middle - 1] + confidences[middle]) / 2  # about half stay, no ties
    assert predict("--model", path, source, "--min-confidence", cut) == 0
    kept = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert kept == [r for r in rows if r["confidence"] >= cut] and 0 < len(kept) < len(rows)

    assert predict("--model", path, source, "--min-confidence", "1.5") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "1.5" in err and "\n" not in err


# --------------------------------------------------------------------------- --precision

AGREEMENT = 0.99  # share of token tags bfloat16 must keep (a trained MiniLM: 99.98%)


@pytest.fixture(scope="session")
def bert_bundle(tiny_run, tmp_path_factory):
    """A two-layer MiniLM tagger trained until it finds entities, saved as a bundle (its
    stored precision auto: float32 on a CPU)."""
    path = tmp_path_factory.mktemp("bert-bundle") / "model"
    # 40 steps, seeds 1-3: 73-180 entity tags of the 150 sentences, bfloat16 agreement 1.0
    trainer = Trainer(tiny_run(MAIN, (), "bert", steps=40, eval_every=40), progress=False)
    trainer.fit()
    save_bundle(trainer, path, calibrate=False)
    return path


def conll_tags(path: Path) -> list[str]:
    return [line.split("\t")[1] for line in path.read_text().splitlines() if line]


def test_bfloat16_tags_agree_with_float32(bert_bundle, tmp_path, capsys):
    source = tmp_path / "test.conll"
    source.write_text("".join("".join(f"{t}\n" for t in s.tokens) + "\n"
                              for s in load_corpus(MAIN).test[:150]))
    tags = {}
    for precision in ("float32", "bfloat16"):
        out = tmp_path / precision
        assert predict("--model", bert_bundle, source, "--format", "conll", "--out", out,
                       "--precision", precision, "--workers", 1) == 0
        assert f"(encoder in {precision})" in capsys.readouterr().err  # the summary line
        tags[precision] = conll_tags(out / "test.conll")
    assert sum(tag != "O" for tag in tags["float32"]) > 20  # the check has substance
    kept = np.mean([a == b for a, b in zip(tags["float32"], tags["bfloat16"])])
    assert len(tags["float32"]) == len(tags["bfloat16"]) and kept >= AGREEMENT, kept
    # the bundle is not changed: it loads as saved, in float32 on this CPU
    assert load(bert_bundle).precision == "float32"


def test_the_precision_reaches_every_worker(bert_bundle, tmp_path, monkeypatch, capsys):
    """A worker loads the bundle in the precision the reading process resolved."""
    from bioner_mtl.training.product import bulk

    jobs = []

    class Recorded(bulk.Engine):
        def __init__(self, job, *args):
            jobs.append(job)
            super().__init__(job, *args)

    monkeypatch.setattr(bulk, "Engine", Recorded)
    monkeypatch.setattr(bulk, "_WORKER", {})
    monkeypatch.setattr(bundle_module, "cpu_flags", lambda *_: {"avx512f", "amx_bf16"})
    source = tmp_path / "notes.txt"
    source.write_text("Mutations in the APC gene cause colon cancer.\n")
    # two workers, one chunk: tagged here, the Job made as for the workers
    assert predict("--model", bert_bundle, source, "--workers", 2) == 0
    assert jobs[-1].precision == "bfloat16"  # auto, on a CPU with AMX
    chunk = [bulk.Segment(0, str(source), 0, source.read_text())]
    assert bulk.tag_chunk(jobs[-1], chunk).text == capsys.readouterr().out
    assert bulk._WORKER["tagger"].precision == "bfloat16"


@pytest.mark.parametrize(("flags", "gpu", "expected"), [
    ({"avx512f", "amx_bf16", "amx_int8"}, False, "bfloat16"),  # a CPU with AMX
    ({"avx512f", "avx512_bf16"}, False, "float32"),  # bfloat16 instructions, no AMX: unmeasured
    (set(), True, "bfloat16"),  # a GPU
    (set(), False, "float32"),
])
def test_auto_precision(monkeypatch, flags, gpu, expected):
    monkeypatch.setattr(bundle_module, "cpu_flags", lambda *_: flags)
    monkeypatch.setattr(bundle_module, "gpu_present", lambda: gpu)
    assert bundle_module.tagging_precision("auto") == expected
    assert {bundle_module.tagging_precision(p) for p in ("float32", "bfloat16")} == {
        "float32", "bfloat16"}  # an explicit choice is kept


def test_auto_decides_whatever_the_bundle_was_trained_in(bert_bundle, tmp_path, monkeypatch):
    stored = tmp_path / "float32-bundle"
    shutil.copytree(bert_bundle, stored)
    meta = json.loads((stored / "bundle.json").read_text())
    meta["model_config"]["precision"] = "float32"
    (stored / "bundle.json").write_text(json.dumps(meta))
    monkeypatch.setattr(bundle_module, "cpu_flags", lambda *_: {"amx_bf16"})
    assert bundle_module.Tagger(stored, build=False, precision="auto").precision == "bfloat16"
    assert bundle_module.Tagger(stored, build=False).precision == "float32"  # the API's default
    with pytest.raises(InputError, match="precision 'float16': give one of auto, float32"):
        bundle_module.Tagger(stored, build=False, precision="float16")


def test_cpu_flags_read_proc_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx512_bf16 amx_bf16\n"
                    "\nprocessor\t: 1\nflags\t\t: fpu avx512_bf16 amx_bf16\n")
    assert bundle_module.cpu_flags(info) == {"fpu", "avx512_bf16", "amx_bf16"}
    assert bundle_module.cpu_flags(tmp_path / "missing") == set()  # not Linux


def test_bfloat16_for_a_family_without_an_encoder_warns_once(bundle, tmp_path, capsys, caplog):
    _, path = bundle
    source = tmp_path / "notes.txt"
    source.write_text(messy_text(), encoding="utf-8")
    assert predict("--model", path, source) == 0
    expected = capsys.readouterr().out
    caplog.clear()
    assert predict("--model", path, source, "--precision", "bfloat16") == 0
    assert capsys.readouterr().out == expected  # the computation is the same
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["--precision bfloat16: a window-cnn bundle has no BERT encoder; it "
                        "tags in float32 as always"]
    assert load(path, "bfloat16").precision is None
