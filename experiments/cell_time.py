"""Where a grid cell's time goes (loading and featurising, building, training steps, devel
evaluations, final scoring), and seed-cells per CPU-minute before and after issue 24's
cheaper paths (a benchmark, not a test).

    python experiments/cell_time.py --main BC2GM --aux BioNLP09          # one cell, quick
    python experiments/cell_time.py --main BC2GM --threads 1 --path both  # before and after
    python experiments/cell_time.py --main BC2GM --aux BioNLP09,BC5CDR,Linnaeus --job \\
        --threads 1 --seeds 2                                             # the README's job
    python experiments/cell_time.py --main NCBI-disease --model bilstm-crf --json

One cell: the single-task cell, or the cell with the --aux partners, as the grid trains it.
--path fast (default) times today's trainer; before times the trainer before issue 24
(Trainer(fast=False): every devel evaluation through evaluate() and seqeval; the window
CNN's windows as stacked slices); both runs each in its own fresh process and prints them
side by side. --job times the grid's cells instead: per seed, the single-task cell and one
cell per --aux partner; each path trains them all in one fresh process, one after the other,
as a pool worker does (TensorFlow start-up, corpus reading and tracing included), and the
process's user + system CPU time gives seed-cells per CPU-minute. The evaluation paths
compute the same numbers; the windows' gradient sums in another order (float rounding), so
a cell may train a different number of steps than its twin, and F1s agree to seed noise.
--threads N sets TensorFlow's intra- and inter-op threads, as the grid's pool gives each of
its workers (1 each for two workers on two cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from bioner_mtl.training.cli import ArgumentParser, add_run_arguments, checked, resolve_run, run
from bioner_mtl.training.spec.config import replace

PATHS = ("before", "fast")
BREAKDOWN = ("load, featurise, build (CPU s)", "training steps (CPU s)",
             "devel evaluations (CPU s)", "final scoring: devel + test, both decodings (CPU s)",
             "batching and loop (CPU s)")


def timed(owner, name: str, totals: dict) -> None:
    """Accumulate the CPU time of owner.name(...) calls into totals[name] (the process's, all
    threads: on a shared machine it does not count the time others hold the cores)."""
    method = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.process_time() - started
            totals[f"{name} calls"] = totals.get(f"{name} calls", 0) + 1

    setattr(owner, name, wrapper)


def set_threads(threads: int | None) -> None:
    """TensorFlow's intra- and inter-op threads (before any op runs), as a pool worker's."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


@contextlib.contextmanager
def model_path(fast: bool):
    """The window CNN's windows gathered as today (fast) or as stacked slices (before)."""
    from bioner_mtl.models import layers, window_cnn

    kept = window_cnn.WindowEncoder.gather
    window_cnn.WindowEncoder.gather = staticmethod(
        layers.gather_windows if fast else layers.stack_windows)
    try:
        yield
    finally:
        window_cnn.WindowEncoder.gather = kept


def time_cell(config, fast: bool = True) -> dict:
    """Train one cell here: its breakdown (seconds, counts, F1)."""
    from bioner_mtl.training.fit.trainer import Trainer  # only now: it loads TensorFlow

    with model_path(fast):
        cpu, started = time.process_time(), time.perf_counter()
        trainer = Trainer(config, progress=False, fast=fast)
        totals = {"load, featurise, build": time.process_time() - cpu}
        timed(trainer, "train_step", totals)
        timed(trainer, "devel_score", totals)
        timed(trainer, "_record", totals)
        fit_started = time.process_time()
        record = trainer.fit()
    fit = time.process_time() - fit_started
    evaluations = totals.get("devel_score", 0.0)
    steps = totals["train_step calls"]
    return {"load, featurise, build (CPU s)": totals["load, featurise, build"],
            "training steps (CPU s)": totals["train_step"],
            "devel evaluations (CPU s)": evaluations,
            "final scoring: devel + test, both decodings (CPU s)": totals["_record"],
            "batching and loop (CPU s)": fit - totals["train_step"] - evaluations
            - totals["_record"],
            "CPU (s)": time.process_time() - cpu,
            "wall (s)": time.perf_counter() - started,
            "steps": steps, "devel evaluations": totals.get("devel_score calls", 0),
            "CPU ms per step": 1000 * totals["train_step"] / max(1, steps),
            "devel F1": 100 * record.devel_f1, "test F1": 100 * record.test_f1}


def build_cells(args: argparse.Namespace) -> list:
    """One cell, or with --job per seed the single-task cell and one cell per partner."""
    from bioner_mtl.training.spec.presets import single_task

    base = resolve_run(args, args.main)
    partners = tuple(a for a in args.aux.split(",") if a)
    seeds = range(args.seed, args.seed + args.seeds) if args.job else (args.seed,)
    cells = []
    for seed in seeds:
        seeded = replace(base, seed=seed)
        if not args.job:
            return checked([replace(seeded, aux=partners) if partners
                            else single_task(seeded)])
        cells += [single_task(seeded), *(replace(seeded, aux=(p,)) for p in partners)]
    return checked(cells)


def name(cell) -> str:
    return f"{'+'.join(cell.aux) or 'single-task'}"


def worker(args: argparse.Namespace, path: str) -> None:
    """Train the cells on one path here; one JSON line per cell on stdout."""
    set_threads(args.threads)
    for cell in build_cells(args):
        rows = time_cell(cell, fast=path == "fast")
        print(json.dumps({"cell": name(cell), "seed": cell.seed, **rows}), flush=True)


def run_path(path: str, argv: list[str]) -> dict:
    """The cells on one path in a fresh process: per-cell rows, CPU and wall seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *argv, "--worker", path], check=True,
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cells = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {"cells": cells, "cpu_seconds": cpu, "wall_seconds": time.perf_counter() - started}


def machine() -> dict:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def show(rows: dict, title: str) -> None:
    print(title)
    for key, value in rows.items():
        print(f"  {key:50} {value:10.2f}" if isinstance(value, float) else
              f"  {key:50} {value:10d}")


def report(results: dict, threads: int | None) -> None:
    """Per cell, the sums of the breakdown, and seed-cells per CPU-minute, before | after."""
    old_cells, new_cells = results["before"]["cells"], results["fast"]["cells"]
    print(f"{'cell':22} {'seed':>4} {'steps':>11}  {'CPU s':>13}  {'devel F1':>13}  "
          f"{'test F1':>13}")
    print(f"{'':27} {'before after':>12}  {'before after':>13}  {'before after':>13}  "
          f"{'before after':>13}")
    for old, new in zip(old_cells, new_cells):
        print(f"{old['cell']:22} {old['seed']:4d} {old['steps']:5d} {new['steps']:5d}  "
              f"{old['CPU (s)']:6.1f} {new['CPU (s)']:6.1f}  "
              f"{old['devel F1']:6.2f} {new['devel F1']:6.2f}  "
              f"{old['test F1']:6.2f} {new['test F1']:6.2f}")
    count = len(new_cells)
    gains = [n["test F1"] - o["test F1"] for o, n in zip(old_cells, new_cells)]
    mean_gain = sum(gains) / count
    spread = (sum((g - mean_gain) ** 2 for g in gains) / max(1, count - 1)) ** 0.5
    print(f"\ntest F1, mean over {count} seed-cells: before "
          f"{sum(c['test F1'] for c in old_cells) / count:.2f}, after "
          f"{sum(c['test F1'] for c in new_cells) / count:.2f} (after - before: mean "
          f"{mean_gain:+.2f}, SD {spread:.2f})")
    print(f"\n{'summed over the cells':57} {'before':>8} {'after':>8} {'ratio':>6}")
    for key in (*BREAKDOWN, "CPU (s)", "wall (s)", "steps", "devel evaluations"):
        old, new = sum(c[key] for c in old_cells), sum(c[key] for c in new_cells)
        print(f"  {key:55} {old:8.1f} {new:8.1f} {old / new if new else 0:6.2f}")
    per = {}
    for path, cells in (("before", old_cells), ("fast", new_cells)):
        steps = max(1, sum(c["steps"] for c in cells))
        evaluations = max(1, sum(c["devel evaluations"] for c in cells))
        per[path] = (1000 * sum(c["training steps (CPU s)"] for c in cells) / steps,
                     1000 * sum(c["devel evaluations (CPU s)"] for c in cells) / evaluations)
    for i, key in enumerate(("CPU ms per training step", "CPU ms per devel evaluation")):
        print(f"  {key:55} {per['before'][i]:8.2f} {per['fast'][i]:8.2f} "
              f"{per['before'][i] / per['fast'][i]:6.2f}")
    rate = {p: count / (results[p]["cpu_seconds"] / 60) for p in PATHS}
    m = results["machine"]
    print(f"\nprocess CPU time, start-up included: before {results['before']['cpu_seconds']:.1f}"
          f" s, after {results['fast']['cpu_seconds']:.1f} s")
    print(f"seed-cells per CPU-minute: before {rate['before']:.2f}, after {rate['fast']:.2f}, "
          f"ratio {rate['fast'] / rate['before']:.2f}  ({threads or 'default'} TensorFlow "
          f"thread(s); nproc {m['nproc']}, {m['cpu']}; {m['date']})")


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True)
    p.add_argument("--aux", default="",
                   help="partners A,B: one cell with them all (default: the single-task "
                        "cell), or with --job one cell per partner")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--path", choices=("fast", "before", "both"), default="fast",
                   help="today's trainer (fast), the one before issue 24 (before), or both, "
                        "each in a fresh process")
    p.add_argument("--job", action="store_true",
                   help="the grid's cells for --seeds (single-task and one per partner), "
                        "both paths, and seed-cells per CPU-minute")
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow threads (intra- and inter-op); default: TensorFlow's")
    p.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    add_run_arguments(p, seeds=1)
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads {args.threads}: at least 1")
    cells = build_cells(args)  # a mistake stops here, before anything trains
    if args.worker:
        worker(args, args.worker)
        return
    if args.path != "both" and not args.job:
        set_threads(args.threads)
        rows = time_cell(cells[0], fast=args.path == "fast")
        if args.json:
            print(json.dumps(rows, indent=1))
            return
        show(rows, f"one cell: {cells[0].main} [{name(cells[0])}] {cells[0].model}, "
                   f"{args.preset} preset, seed {cells[0].seed}, {args.path} path")
        return
    passed = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--json"]
    print(f"{len(cells)} seed-cell(s); each path in its own process ...", file=sys.stderr)
    results = {path: run_path(path, passed) for path in PATHS}
    results["machine"] = machine()
    if args.json:
        print(json.dumps(results, indent=1))
        return
    report(results, args.threads)


if __name__ == "__main__":
    sys.exit(run(main))
