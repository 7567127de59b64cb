"""SavedModel export: a fresh process that imports TensorFlow alone loads each exported bundle
(window CNN with constrained Viterbi, BiLSTM-CRF, BERT) and tags the bundled test sentences,
unknown words included, exactly as the bundle's `Tagger.tag_sentences` does; the in-graph
constrained Viterbi matches the numpy one on random scores with forbidden transitions."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.reader import Sentence
from bioner_mtl.experiments import export as export_cli
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.batches import TagSet
from bioner_mtl.training.fit.decoding import Transitions, viterbi_decode
from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.product.bundle import load, save_bundle
from bioner_mtl.training.product.export import (
    DESCRIPTION,
    constrained_viterbi,
    export_tagger,
    iob2_tags,
)

MAIN, AUX = "NCBI-disease", "BioNLP13PC"  # as in tests/models/test_models.py: the cached vectors
# unknown words, a token longer than the 20 characters the character CNN reads, non-ASCII
# characters, the vocabulary's own reserved names, a one-word sentence
EXTRA = [["Zyxqorbin-7", "inhibits", "ΔNp63α", "in", "supercalifragilisticexpialidocious",
          "cells", "."], ["<pad>", "<unk>", "BRCA1"], ["tumour"]]

# The loading side: TensorFlow only. Reads {export dir: inputs} from argv[1] and writes
# {export dir: outputs} (lists) and the bioner-mtl modules it saw to argv[2].
LOADER = """
import json, sys
import tensorflow as tf
jobs, out = json.load(open(sys.argv[1])), {}
for path, inputs in jobs.items():
    serve = tf.saved_model.load(path).signatures["serving_default"]
    kinds = {"tokens": tf.string}
    def call(**changes):
        given = {**inputs, **changes}
        return serve(**{k: tf.constant(v, kinds.get(k, tf.int32)) for k, v in given.items()})
    out[path] = {k: [[x.decode() if isinstance(x, bytes) else float(x) for x in row]
                     for row in v.numpy()] for k, v in call().items()}
    empty = {k: tf.zeros([0] * len(tf.constant(v).shape), kinds.get(k, tf.int32))
             for k, v in inputs.items()}
    out[path]["empty batch"] = sorted({tuple(v.shape) for v in serve(**empty).values()})
    try:
        call(lengths=[n + 100 for n in inputs["lengths"]])
    except tf.errors.InvalidArgumentError as err:
        out[path]["too long"] = str(err)
ours = ("data", "models", "training", "embeddings", "experiments")
out["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ours)
json.dump(out, open(sys.argv[2], "w"))
"""


def sentences() -> list[list[str]]:
    return [list(s.tokens) for s in load_corpus(MAIN).test[:40]] + EXTRA


def word_inputs(batch: list[list[str]]) -> dict:
    width = max(map(len, batch))
    return {"tokens": [s + ["(pad)"] * (width - len(s)) for s in batch],
            "lengths": [len(s) for s in batch]}


def subword_inputs(tagger, batch: list[list[str]]) -> tuple[dict, list]:
    """The featurizer's rows as the signature takes them, and each row's (sentence, word)."""
    split = tagger.featurizer.encode([Sentence(tuple(s), ("O",) * len(s)) for s in batch], None)
    width = max(len(r.ids) for r in split.rows)
    words = max(len(r.positions) for r in split.rows)
    return ({"token_ids": [list(map(int, r.ids)) + [0] * (width - len(r.ids))
                           for r in split.rows],
             "lengths": [len(r.ids) for r in split.rows],
             "word_positions": [list(map(int, r.positions)) + [0] * (words - len(r.positions))
                                for r in split.rows],
             "word_counts": [len(r.positions) for r in split.rows]},
            [r.words for r in split.rows])


def shake(model) -> None:
    """Noise on every trainable weight, cheaper than training steps: CRF transitions, start
    and end scores leave their zeros, so a SavedModel that lost them would tag differently."""
    rng = np.random.default_rng(0)
    for weight in model.trainable_weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.3, weight.shape).astype(weight.dtype))


@pytest.fixture(scope="session")
def exported(tiny_run, tmp_path_factory):
    """Tiny bundles (two heads each for the word models), each exported, and one fresh
    TensorFlow-only process that tags the test sentences with every SavedModel. The window
    CNN is exported twice: as trained (constrained Viterbi) and with free decoding."""
    root = tmp_path_factory.mktemp("export")
    cases = {"window-cnn": (AUX,), "bilstm-crf": (AUX,), "bert": ()}
    jobs, bundles = {}, {}
    batch = sentences()
    for name, aux in cases.items():
        options = {"max_length": 16} if name == "bert" else {}
        run = tiny_run(MAIN, aux, name, devel_limit=20, test_limit=20, model_options=options)
        trainer = Trainer(run, progress=False)
        shake(trainer.model)
        bundle = save_bundle(trainer, root / f"{name}-bundle")
        taggers = {name: load(bundle, precision="float32")}  # what export.py builds
        if name == "window-cnn":
            free = shutil.copytree(bundle, root / "free-bundle")
            meta = json.loads((free / "bundle.json").read_text())
            (free / "bundle.json").write_text(json.dumps({**meta, "viterbi": False}))
            taggers["window-cnn-free"] = load(free, precision="float32")
        for case, tagger in taggers.items():
            out = export_tagger(tagger, root / case)
            words = None
            if name == "bert":
                inputs, words = subword_inputs(tagger, batch)
            else:
                inputs = word_inputs(batch)
            jobs[str(out)] = inputs
            bundles[case] = (tagger, out, words)
    (root / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, "-c", LOADER, str(root / "jobs.json"),
                    str(root / "out.json")], check=True, cwd=root, timeout=120)
    return bundles, json.loads((root / "out.json").read_text()), batch


def test_the_loading_process_imports_tensorflow_only(exported):
    assert exported[1]["modules"] == []


def test_the_sentences_hold_unknown_words(exported):
    tagger = exported[0]["bilstm-crf"][0]
    ids = np.concatenate([tagger.featurizer.words.ids(s) for s in EXTRA])
    assert (ids == 1).sum() >= 3 and (ids > 1).any()


@pytest.mark.parametrize("name", ["window-cnn", "window-cnn-free", "bilstm-crf", "bert"])
def test_the_saved_model_tags_as_the_bundle(exported, name):
    bundles, outputs, batch = exported
    tagger, out, row_words = bundles[name]
    assert tagger.viterbi == (name != "window-cnn-free")
    served = dict(outputs[str(out)])
    assert served.pop("empty batch") == [[0, 1]]
    assert "a length exceeds the width of" in served.pop("too long")
    expected = tagger.tag_sentences(batch, tagger.heads)
    assert sorted(served) == sorted(f"{h}/{k}" for h in tagger.heads
                                    for k in ("tags", "confidences"))
    for head, (tags, confidences) in expected.items():
        got_tags, got_probs = served[f"{head}/tags"], served[f"{head}/confidences"]
        if row_words is None:  # one row per sentence
            rows = [(t[: len(s)], p[: len(s)]) for s, t, p in zip(batch, got_tags, got_probs)]
            assert all(t[len(s):] == [""] * (len(t) - len(s)) for s, t in zip(batch, got_tags))
        else:  # BERT rows: put each word's tag back into its sentence
            sentence_tags = [[None] * len(s) for s in batch]
            sentence_probs = [[None] * len(s) for s in batch]
            for words, t, p in zip(row_words, got_tags, got_probs):
                for k, (s, w) in enumerate(words):
                    sentence_tags[s][w], sentence_probs[s][w] = t[k], p[k]
            rows = list(zip(sentence_tags, sentence_probs))
            # a sentence cut into several rows: the graph decodes each row as a sentence,
            # the Tagger the sentence whole (docs/tagging.md); compared where whole
            cut = {s for s in range(len(batch))
                   if sum(any(k == s for k, _ in words) for words in row_words) > 1}
            assert cut and len(cut) < len(batch)
            rows, tags, confidences = ([x for s, x in enumerate(v) if s not in cut]
                                       for v in (rows, tags, confidences))
        assert [t for t, _ in rows] == tags, head
        np.testing.assert_allclose(np.concatenate([p for _, p in rows]),
                                   np.concatenate(confidences), rtol=0, atol=1e-5)
    description = json.loads((out / "assets.extra" / DESCRIPTION).read_text())
    assert description["heads"] == list(tagger.heads)
    assert description.get("precision") == ("float32" if name == "bert" else None)


def test_bert_rows_cut_long_sentences(exported):
    """max_length 16 cuts the longer test sentences into several rows (windows)."""
    bundles, _, batch = exported
    row_words = bundles["bert"][2]
    assert len(row_words) > len(batch)


@pytest.mark.parametrize("seed", range(3))
def test_in_graph_viterbi_matches_numpy(seed):
    """Random transitions (many forbidden), random lengths (0 included), and scores with ties
    and probability-0 tokens: the same paths as training.decoding.viterbi_decode."""
    rng = np.random.default_rng(seed)
    for trial in range(30):
        tags, batch, width = int(rng.integers(1, 6)), 6, int(rng.integers(1, 8))
        allowed = Transitions(rng.random(tags) < 0.6, rng.random((tags, tags)) < 0.5,
                              rng.random(tags) < 0.6)
        if trial % 2:
            with np.errstate(divide="ignore"):  # log 0 = -inf, and many exact ties
                log_probs = np.log(rng.integers(0, 3, (batch, width, tags)) / 2.0)
        else:
            log_probs = rng.normal(size=(batch, width, tags))
            log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
        log_probs = log_probs.astype(np.float32)
        lengths = rng.integers(0, width + 1, batch)
        got = constrained_viterbi(tf.constant(log_probs), tf.constant(lengths, tf.int32),
                                  allowed).numpy()
        np.testing.assert_array_equal(got, viterbi_decode(log_probs, lengths, allowed))


@pytest.mark.parametrize("name", ["window-cnn", "bilstm-crf"])
def test_the_decoding_choice_matters_here(exported, name):
    """Constrained and free decoding disagree on these sentences, so the comparisons above
    would catch an export that ignored the bundle's decoding setting."""
    bundles, _, batch = exported
    tagger = bundles[name][0]
    split = tagger.featurizer.encode([Sentence(tuple(s), ("O",) * len(s)) for s in batch], None)
    both = tagger.predictor.predict(split, tuple(tagger.heads), (True, False))
    for head, predictions in both.items():
        assert predictions[True].tags != predictions[False].tags, head


def test_the_command_writes_a_saved_model(exported, tmp_path, capsys):
    bundle = exported[0]["window-cnn"][1].parent / "window-cnn-bundle"
    assert run(export_cli.main, ["--model", str(bundle), "--out", str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "saved_model.pb").is_file()
    assert (tmp_path / "sm" / "assets.extra" / DESCRIPTION).is_file()


def test_bad_arguments_get_one_line(exported, tmp_path, capsys):
    bundle = str(exported[0]["window-cnn"][1].parent / "window-cnn-bundle")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    (tmp_path / "file").write_text("")
    cases = {(str(tmp_path), str(tmp_path / "new")): "not a model bundle",
             (bundle, str(tmp_path / "full")): "not empty",
             (bundle, str(tmp_path / "file")): "a file is there",
             (bundle, str(tmp_path / "file" / "sub")): "is not a writable directory"}
    for (model, out), message in cases.items():
        assert run(export_cli.main, ["--model", model, "--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "new").exists()


def test_in_graph_tag_strings_match_the_tagset():
    """Every id path up to length 4 over two types' IOBES labels (invalid ones included: the
    repaired reading) and over IOB2 labels: the strings TagSet.decode gives."""
    for tagset in (TagSet(("B-A", "B-B", "E-A", "E-B", "I-A", "I-B", "O", "S-A", "S-B"),
                          "IOBES"), TagSet(("B-A", "I-A", "O"), "IOB2")):
        for length in range(1, 5):
            paths = np.array(list(itertools.product(range(len(tagset.labels)), repeat=length)),
                             np.int32)
            got = iob2_tags(tagset, tf.constant(paths)).numpy().astype(str).tolist()
            assert got == [tagset.decode(p) for p in paths]
