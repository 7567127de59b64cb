"""RODRIGUEZ's entity ablation: does a multi-task encoder that never saw an entity class still
help a new corpus of that class?

1. Train one multi-head model on the corpora that do NOT annotate the class; keep its encoder.
2. For each left-out corpus and training fraction, fine-tune a single-task model starting from
   that encoder, beside a plain single-task model from the original encoder.

    python experiments/entity_ablation.py --leave-out Disease --fractions 0.25,1.0 \\
        --corpora NCBI-disease,BC5CDR-disease,BC5CDR-chem,Linnaeus
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import corpora  # noqa: E402
from data.ablation import check_fraction  # noqa: E402
from data.errors import InputError  # noqa: E402
from experiments.cli import (  # noqa: E402
    add_run_arguments,
    aux_weights,
    executor_from,
    open_results,
    resolve_run,
    run,
    seeded,
)
from training import stats  # noqa: E402
from training.config import replace  # noqa: E402
from training.grid import run_cells  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", required=True, help="the corpora of the multi-task run, A,B,C")
    p.add_argument("--leave-out", required=True, help="entity class to leave out, e.g. Disease")
    p.add_argument("--fractions", default="0.25,0.5,1.0",
                   help="training fractions of each left-out corpus's fine-tuning")
    p.add_argument("--out", help="run directory (default runs/entity-ablation-CLASS-PRESET)")
    add_run_arguments(p)
    p.set_defaults(model="bert")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    for name in names:
        corpora.spec_for(name)
    kept = corpora.corpora_without_class(names, args.leave_out)
    left_out = [n for n in names if n not in kept]
    if not kept or not left_out:
        raise InputError(f"--leave-out {args.leave_out}: {'no' if not left_out else 'every'} "
                         f"corpus of {', '.join(names)} annotates it; the ablation needs both "
                         "kinds")
    try:
        fractions = [check_fraction(float(f)) for f in args.fractions.split(",")]
    except ValueError:
        raise InputError(f"--fractions {args.fractions!r}: numbers in (0, 1] separated by "
                         "commas") from None
    tag = args.leave_out.replace("/", "-").replace(" ", "-")
    out = Path(args.out or f"runs/entity-ablation-{tag}-{args.preset}")
    results = open_results(out, args.resume, "entity_ablation")
    encoder = str((out / "encoders" / f"without-{tag}.weights.h5").resolve())
    shared = replace(resolve_run(args, kept[0]), aux=tuple(kept[1:]), save_encoder=encoder,
                     loss_weights=aux_weights(args, kept[1:]))
    extra = {"preset": args.preset, "leave_out": args.leave_out}
    run_cells([shared], results, progress=not args.no_progress, extra={**extra, "role": "mtl"},
              executor=executor_from(args))
    runs = []
    for name in left_out:
        for fraction in fractions:
            base = replace(resolve_run(args, name), train_fraction=fraction)
            runs += seeded(base, args) + seeded(replace(base, init_encoder=encoder), args)
    records = run_cells(runs, results, progress=not args.no_progress, extra=extra,
                        executor=executor_from(args))
    cells = []
    for name in left_out:
        for fraction in fractions:
            mine = [r for r in records if r["main"] == name and r["train_fraction"] == fraction]
            plain = [r for r in mine if not r["config"]["init_encoder"]]
            tuned = [r for r in mine if r["config"]["init_encoder"]]
            cells.append((name, fraction, plain, tuned, stats.gain(name, plain, tuned)))
    corrected = stats.holm([c[-1].p for c in cells])
    print(f"\nentity ablation: multi-head model on {', '.join(kept)} (no {args.leave_out}); "
          f"test mention F1 (%), {args.seeds} paired seed(s), gain with 95% CI, Holm")
    print(f"{'corpus':20} {'fraction':>8} {'single-task':>12} {'from MTL encoder':>17} "
          f"{'gain':>7} {'95% CI':>17} {'p Holm':>7}")
    for (name, fraction, plain, tuned, g), p_holm in zip(cells, corrected):
        mean = [stats.mean_std([r["test_f1"] for r in side])[0] for side in (plain, tuned)]
        star = "*" if stats.significant(p_holm) and g.seeds > 1 else ""
        print(f"{name:20} {fraction:8g} {100 * mean[0]:12.2f} {100 * mean[1]:17.2f} "
              f"{100 * g.mean:+7.2f} {f'[{100 * g.low:+.2f}, {100 * g.high:+.2f}]':>17} "
              f"{'' if p_holm is None else f'{p_holm:.3f}{star}':>7}")
    print(f"results: {out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(run(main))
