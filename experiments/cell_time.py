"""Where one grid cell's time goes: loading and featurising, building, training steps, devel
evaluations and the final scoring, for one run at a preset (a benchmark, not a test).

    python experiments/cell_time.py --main BC2GM --aux BioNLP09          # quick preset
    python experiments/cell_time.py --main NCBI-disease --model bilstm-crf --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bioner_mtl.training.cli import ArgumentParser, add_run_arguments, checked, resolve_run, run
from bioner_mtl.training.spec.config import replace


def timed(owner, name: str, totals: dict) -> None:
    """Accumulate the wall time of owner.name(...) calls into totals[name]."""
    method = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started
            totals[f"{name} calls"] = totals.get(f"{name} calls", 0) + 1

    setattr(owner, name, wrapper)


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True)
    p.add_argument("--aux", default="", help="partners A,B (default: the single-task cell)")
    p.add_argument("--json", action="store_true")
    add_run_arguments(p, seeds=1)
    args = p.parse_args(argv)
    from bioner_mtl.training.spec.presets import single_task

    base = replace(resolve_run(args, args.main), seed=args.seed)
    aux = tuple(a for a in args.aux.split(",") if a)
    config = replace(base, aux=aux) if aux else single_task(base)  # as the grid trains it
    checked([config])
    from bioner_mtl.training.fit.trainer import Trainer  # only now: it loads TensorFlow
    started = time.perf_counter()
    trainer = Trainer(config, progress=False)
    totals = {"load, featurise, build": time.perf_counter() - started}
    timed(trainer, "train_step", totals)
    timed(trainer, "evaluate", totals)
    timed(trainer, "_record", totals)
    fit_started = time.perf_counter()
    record = trainer.fit()
    totals["fit"] = time.perf_counter() - fit_started
    other = totals["fit"] - totals["train_step"] - totals["evaluate"] - totals["_record"]
    rows = {"load, featurise, build (s)": totals["load, featurise, build"],
            "training steps (s)": totals["train_step"],
            "devel evaluations (s)": totals["evaluate"],
            "final scoring: devel + test, both decodings (s)": totals["_record"],
            "batching and loop (s)": other,
            "steps": totals["train_step calls"], "devel evaluations": totals["evaluate calls"],
            "ms per step": 1000 * totals["train_step"] / max(1, totals["train_step calls"]),
            "test F1": 100 * record.test_f1}
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"one cell: {config.main} [{'+'.join(config.aux) or 'single-task'}] {config.model}, "
          f"{args.preset} preset, seed {config.seed}")
    for key, value in rows.items():
        print(f"  {key:50} {value:10.2f}" if isinstance(value, float) else
              f"  {key:50} {value:10d}")


if __name__ == "__main__":
    sys.exit(run(main))
