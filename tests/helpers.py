"""Test utilities shared across test modules."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np


def save_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout by hand: 8-byte header size, JSON header, raw little-endian data."""
    codes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def small_bert(directory: Path, layers: int = 2) -> Path:
    """The default MiniLM cut to its first `layers` layers, as a Hugging Face directory: real
    pretrained embeddings and vocabulary, a fraction of the compute."""
    from bioner_mtl.models.bert_encoder import _read_safetensors, default_encoder_dir

    source = default_encoder_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: array for name, array in
               _read_safetensors(source / "model.safetensors").items()
               if int((re.search(r"layer\.(\d+)\.", name) or [0, 0])[1]) < layers}
    save_safetensors(directory / "model.safetensors", tensors)
    config = json.loads((source / "config.json").read_text())
    config["num_hidden_layers"] = layers
    (directory / "config.json").write_text(json.dumps(config))
    for name in ("vocab.txt", "tokenizer_config.json"):
        if (source / name).exists():
            shutil.copy(source / name, directory / name)
    return directory


def make_record(**fields):
    """A RunRecord with plain defaults for every required field, `fields` over them: the
    statistics and summaries read only a few (seed, main, aux, test_f1...)."""
    from bioner_mtl.training.fit.results import RunRecord

    f1 = fields.get("test_f1", 0.5)
    defaults = {"main": "M", "aux": [], "model": "window-cnn", "schedule": "alternate",
                "seed": 1, "train_fraction": 1.0, "decoding": "constrained",
                "devel_f1": f1, "test_f1": f1, "test_token_macro_f1": f1, "scores": {},
                "heads": {}, "unit_counts": {}, "train_sentences": {}, "steps": 1,
                "best_step": 1, "stopped": "cap", "improving_at_cap": False, "history": [],
                "parameters": {}, "wall_seconds": 0.0, "versions": {}, "device": "CPU",
                "config": {}, "model_config": {}}
    record = {**defaults, **fields}
    record["aux"] = list(record["aux"])
    return RunRecord(**record)


def scripted_cells(monkeypatch, f1_of, wall_seconds=0.0):
    """Replace training.grid.run_cells by records scored `f1_of(run)` (test and devel), so a
    grid command's own logic (its cells, baselines, rounds, tables) is tested without
    training: tests/models/test_models.py trains every model through the harness. Like the
    real one, it skips (and does not list in the returned `seen`) cells already in the
    results file, stamps each record with its cell and the grid's `extra` fields, and
    returns the records of all `runs`, in order."""
    from bioner_mtl.training.fit.results import cell_key
    from bioner_mtl.training.grids import grid

    seen = []

    def run_cells(runs, results, extra=None, **_):
        finished = {r.cell: r for r in results.records() if r.cell}
        for r in runs:
            key = cell_key(r)
            if key in finished:
                continue
            seen.append(r)
            finished[key] = make_record(
                main=r.main, aux=list(r.aux), model=r.model, seed=r.seed,
                train_fraction=r.train_fraction, test_f1=f1_of(r),
                model_config=dict(r.model_options), config=r.to_dict(), cell=key,
                wall_seconds=wall_seconds, **(extra or {}))
            results.append(finished[key])
        return [finished[cell_key(r)] for r in runs]

    monkeypatch.setattr(grid, "run_cells", run_cells)
    return seen
