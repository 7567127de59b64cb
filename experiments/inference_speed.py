"""Inference speed of model bundles on the BC5CDR test text, and what a multi-head model
saves: one model with N heads against N single-task models tagging the same text.

    python experiments/inference_speed.py                        # window-cnn, bilstm-crf, bert
    python experiments/inference_speed.py --models bert --sentences 500 --heads 1,3

Speed does not depend on the weights, so the bundles are built untrained (paper settings);
compilation is excluded (one warm-up call). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.cli import run  # noqa: E402

PARTNERS = ["BC5CDR", "NCBI-disease", "BC2GM", "Linnaeus", "BioNLP09", "Ex-PTM"]


def bundle_for(model: str, tasks: list[str], directory: Path) -> Path:
    from training.bundle import save_bundle
    from training.presets import resolve
    from training.trainer import Trainer

    run_config = resolve(tasks[0], model, "paper", run={"aux": tuple(tasks[1:]),
                                                        "test_limit": 1, "devel_limit": 1})
    path = directory / f"{model}-{'+'.join(tasks)}"
    save_bundle(Trainer(run_config, progress=False), path)
    return path


def seconds_to_tag(path: Path, sentences: list[list[str]]) -> float:
    from training.bundle import load

    tagger = load(path)
    tagger.tag_sentences(sentences[:8])  # compile
    started = time.perf_counter()
    tagger.tag_sentences(sentences)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="window-cnn,bilstm-crf,bert")
    p.add_argument("--heads", default="1,3", help="numbers of heads N to compare")
    p.add_argument("--sentences", type=int, default=1000, help="BC5CDR test sentences tagged")
    args = p.parse_args(argv)
    from data.corpora import load_corpus

    sentences = [list(s.tokens) for s in load_corpus("BC5CDR").test[: args.sentences]]
    counts = [int(n) for n in args.heads.split(",")]
    print(f"{len(sentences)} BC5CDR test sentences, {platform.machine()} CPU x "
          f"{__import__('os').cpu_count()}\n")
    print("| model | N heads | one N-head model: sentences/s | N single-task models: "
          "sentences/s | multi-head speed-up |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            singles = {}
            for n in counts:
                tasks = PARTNERS[:n]
                multi = seconds_to_tag(bundle_for(model, tasks, Path(tmp)), sentences)
                for task in tasks:
                    if task not in singles:
                        singles[task] = seconds_to_tag(bundle_for(model, [task], Path(tmp)),
                                                       sentences)
                separate = sum(singles[t] for t in tasks)
                print(f"| {model} | {n} | {len(sentences) / multi:,.0f} | "
                      f"{len(sentences) / separate:,.0f} | {separate / multi:.2f}x |", flush=True)


if __name__ == "__main__":
    sys.exit(run(main))
