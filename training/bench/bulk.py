"""Bulk tagging measured from outside: predict.py's peak memory on inputs of growing size
(bench.py --only memory), the inputs made from the bundled corpora, and the CPU line every
tagging table carries (a ratio measured on one CPU need not hold on another)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bioner_mtl.training.bench.measure import timed

TEXT_CORPORA = ("NCBI-disease", "BC5CDR", "BC2GM", "Linnaeus")  # test splits, in turn
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "fma")


def cpu_line() -> str:
    """'Intel(R) Xeon(R) Processor, 2 cores, avx2 avx512f avx512_vnni' from /proc/cpuinfo:
    the instruction sets a tagging rate depends on (matrix products)."""
    from bioner_mtl.training.product.bundle import cpu_flags  # the one reader of the flags

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.partition(":")[2].strip() for line in info
                          if line.partition(":")[0].strip() == "model name"), model)
    except OSError:
        import platform

        model = platform.processor() or model
    flags = cpu_flags()
    have = [f for f in FLAGS if f in flags] or ["flags unknown"]
    return f"{model}, {os.cpu_count()} cores, {' '.join(have)}"


def corpus_sentences(limit: int | None = None) -> list[str]:
    """Test sentences of several bundled corpora, tokens joined by spaces."""
    from bioner_mtl.data.corpora import load_corpus

    sentences = [" ".join(s.tokens) for name in TEXT_CORPORA for s in load_corpus(name).test]
    return sentences[:limit] if limit else sentences


def make_text(path: Path, megabytes: float, sentence_end: bool = True) -> Path:
    """About `megabytes` MB of corpus sentences, repeated; a blank line after every tenth.
    Without `sentence_end`: the same words with no . ! ? and no line end at all (a log, a
    table dump), the input that once took 4.9 GB for 5.8 MB."""
    sentences = corpus_sentences()
    if not sentence_end:
        sentences = [" ".join(w for w in s.split() if w not in (".", "!", "?"))
                     for s in sentences]
    target, written, i = int(megabytes * 2**20), 0, 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            piece = sentences[i % len(sentences)] + (
                "\n\n" if sentence_end and i % 10 == 9 else " ")
            written += out.write(piece)
            i += 1
    return path


def _tree_memory_kb(root: int) -> tuple[int, dict[int, int]]:
    """Resident kB of `root` and its descendants now, summed, and each one's own high-water
    mark (VmHWM: exact, and reset by exec, unlike wait4's maxrss, which keeps the size of the
    process it was forked from). Linux /proc; (0, {}) elsewhere."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    now, peaks = 0, {}
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            now += int(fields["VmRSS"].split()[0])
            peaks[pid] = int(fields["VmHWM"].split()[0])
        except (OSError, KeyError, ValueError):
            continue  # gone, or a zombie
    return now, peaks


def run_measured(command: list[str], every: float = 0.1) -> dict:
    """Run `command`; wall seconds, the largest peak of any one of its processes (each one's
    VmHWM, last read at most `every` seconds before it ended) and the peak of all of them
    together (their resident memory summed, sampled every `every` seconds)."""
    peak_tree, peaks = 0, {}
    with timed() as clock:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        errors: list[bytes] = []
        reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))
        reader.start()
        while process.poll() is None:
            now, seen = _tree_memory_kb(process.pid)
            peak_tree = max(peak_tree, now)
            peaks.update({pid: max(kb, peaks.get(pid, 0)) for pid, kb in seen.items()})
            time.sleep(every)
        reader.join()
    if process.returncode != 0:
        lines = errors[0].decode(errors="replace").strip().splitlines() if errors else []
        raise RuntimeError(f"{' '.join(command[:3])} ... failed: "
                           f"{lines[-1] if lines else process.returncode}")
    return {"seconds": clock.seconds, "peak_tree_mb": peak_tree / 1024,
            "peak_process_mb": max(peaks.values(), default=0) / 1024,
            "processes": len(peaks)}


def untrained_bundle(directory: Path, model: str = "window-cnn") -> Path:
    """A bundle of `model` at the quick preset (its word vectors are the ones a first run
    caches), untrained: memory and speed do not depend on the weights."""
    from bioner_mtl.training.fit.trainer import Trainer
    from bioner_mtl.training.product.bundle import save_bundle
    from bioner_mtl.training.spec.presets import resolve

    path = directory / f"untrained-{model}"
    if not (path / "bundle.json").is_file():
        run = resolve("NCBI-disease", model, "quick", run={"test_limit": 1, "devel_limit": 1})
        save_bundle(Trainer(run, progress=False), path, calibrate=False)
    return path


def predict_memory(spec: dict) -> dict:
    """predict.py on one generated input (its own process tree): peak memory and rate."""
    workdir = Path(spec["workdir"])
    bundle = untrained_bundle(workdir, spec.get("model", "window-cnn"))
    name = f"{spec['megabytes']}mb{'' if spec['sentence_end'] else '-no-end'}.txt"
    source = workdir / name
    if not source.is_file():
        make_text(source, spec["megabytes"], spec["sentence_end"])
    out = workdir / f"out-{spec['workers']}-{source.stem}"
    record = run_measured([sys.executable, "-m", "bioner_mtl", "predict", "--model",
                           str(bundle), str(source),
                           "--out", str(out), "--force", "--workers", str(spec["workers"])])
    return {**record, "megabytes": spec["megabytes"], "sentence_end": spec["sentence_end"],
            "workers": spec["workers"], "input_mb": source.stat().st_size / 2**20,
            "megabytes_per_second": source.stat().st_size / 2**20 / record["seconds"],
            "cpu": cpu_line()}
