"""Training and inference throughput of one model at its paper settings, on real batches.

    python experiments/throughput.py --model bilstm-crf --corpus NCBI-disease
    python experiments/throughput.py --model window-cnn --corpus BC2GM --steps 200

Compilation (the first step of each function) is excluded; tokens are real tokens, padding
not counted. Prints one line per measure and, with --json, a machine-readable record.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, checked, run
from bioner_mtl.training.spec.presets import resolve


def measure(model: str, corpus: str, steps: int, preset: str, seed: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from bioner_mtl.training.fit.batches import BatchStream
    from bioner_mtl.training.fit.results import versions
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.spec.presets import resolve

    trainer = Trainer(resolve(corpus, model, preset, run={"seed": seed}), progress=False)
    task = trainer.tasks[corpus]
    stream = BatchStream(task.train, trainer.run.train.batch_size, np.random.default_rng(seed))
    batches = [next(stream) for _ in range(steps + 1)]
    trainer.train_step(corpus, *batches[0])  # compile
    started = time.perf_counter()
    for inputs, tags in batches[1:]:
        loss = trainer.train_step(corpus, inputs, tags)
    float(loss)
    train_seconds = time.perf_counter() - started
    tokens = int(sum(b[0]["padding_mask"].sum() for b in batches[1:]))
    trainer.predict(corpus, task.devel, viterbi=True)  # compile the decoder
    started = time.perf_counter()
    trainer.predict(corpus, task.test, viterbi=True)
    infer_seconds = time.perf_counter() - started
    return {
        "model": model, "corpus": corpus, "preset": preset,
        "batch_size": trainer.run.train.batch_size, "train_steps": steps,
        "train_tokens_per_second": round(tokens / train_seconds, 1),
        "train_sentences_per_second": round(steps * trainer.run.train.batch_size
                                            / train_seconds, 1),
        "inference_sentences_per_second": round(len(task.test.sentences) / infer_seconds, 1),
        "trainable_parameters": int(sum(np.prod(v.shape)
                                        for v in trainer.model.trainable_variables)),
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "versions": versions(),
    }


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bilstm-crf")
    p.add_argument("--corpus", default="NCBI-disease")
    p.add_argument("--steps", type=int, default=100, help="timed training steps")
    p.add_argument("--preset", default="paper", choices=["paper", "quick"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.steps < 1:
        raise InputError(f"--steps {args.steps}: timed training steps, at least 1")
    checked([resolve(args.corpus, args.model, args.preset, run={"seed": args.seed})])
    result = measure(args.model, args.corpus, args.steps, args.preset, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.model} on {args.corpus} ({args.preset} settings, batch {result['batch_size']}, "
          f"{result['device']}, {result['trainable_parameters']:,} trainable parameters)")
    print(f"  training:  {result['train_tokens_per_second']:,.0f} tokens/s "
          f"({result['train_sentences_per_second']:,.1f} sentences/s)")
    print(f"  inference: {result['inference_sentences_per_second']:,.1f} sentences/s (test split)")


if __name__ == "__main__":
    sys.exit(run(main))
