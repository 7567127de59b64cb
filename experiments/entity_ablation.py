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

from bioner_mtl.data import corpora
from bioner_mtl.data.ablation import check_fraction
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import (
    ArgumentParser,
    add_run_arguments,
    add_verdict_arguments,
    aux_weights,
    check_verdict_arguments,
    checked,
    executor_from,
    open_results,
    resolve_run,
    run,
    seeded,
)
from bioner_mtl.training.spec.config import replace


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", required=True, help="the corpora of the multi-task run, A,B,C")
    p.add_argument("--leave-out", required=True, help="entity class to leave out, e.g. Disease")
    p.add_argument("--fractions", default="0.25,0.5,1.0",
                   help="training fractions of each left-out corpus's fine-tuning")
    p.add_argument("--out", help="run directory (default runs/entity-ablation-CLASS-PRESET)")
    add_run_arguments(p, model="bert")
    add_verdict_arguments(p)
    args = p.parse_args(argv)
    margin = check_verdict_arguments(args)
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    kept = corpora.corpora_without_class(names, args.leave_out)  # an unknown name stops here
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
    encoder = str((out / "encoders" / f"without-{tag}.weights.h5").resolve())
    shared = replace(resolve_run(args, kept[0]), aux=tuple(kept[1:]), save_encoder=encoder,
                     loss_weights=aux_weights(args, kept[1:]))
    from bioner_mtl.training.spec.presets import single_task

    runs, plain = [], []
    for name in left_out:
        for fraction in fractions:
            base = single_task(replace(resolve_run(args, name), train_fraction=fraction))
            plain.append(base)
            runs += seeded(base, args) + seeded(replace(base, init_encoder=encoder), args)
    # every run checked before anything trains (the fine-tuned ones without the encoder the
    # first run writes: run_cells checks that it is there)
    checked([shared, *plain])
    results = open_results(out, args.resume, "entity_ablation")
    from bioner_mtl.training.grids import (
        summary,  # after the checks: summary loads SciPy, training TensorFlow
    )
    from bioner_mtl.training.grids.grid import run_cells

    extra = {"preset": args.preset, "leave_out": args.leave_out}
    executor = executor_from(args)
    run_cells([shared], results, progress=not args.no_progress, extra={**extra, "role": "mtl"},
              executor=executor)
    records = run_cells(runs, results, progress=not args.no_progress, extra=extra,
                        executor=executor)

    def side(name: str, fraction: float, tuned: bool) -> list:
        return [r for r in records if r.main == name and r.train_fraction == fraction
                and bool(r.config["init_encoder"]) == tuned]

    rows = summary.gain_rows(  # one test per corpus and fraction, Holm over them
        (({"corpus": name, "fraction": fraction}, side(name, fraction, False),
          side(name, fraction, True)) for name in left_out for fraction in fractions),
        margin=margin)
    print(f"\nentity ablation: multi-head model on {', '.join(kept)} (no {args.leave_out}); "
          f"test mention F1 (%), {args.seeds} paired seed(s), gain with 95% CI, Holm")
    summary.print_gains(rows, ("single-task", "from MTL encoder"), executor.workers)
    print(f"results: {out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(run(main))
