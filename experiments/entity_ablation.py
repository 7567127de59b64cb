"""RODRIGUEZ's entity ablation: does a multi-task encoder that never saw an entity class still
help a new corpus of that class?

1. Train one multi-head model on the corpora that do NOT annotate the class; keep its encoder.
2. For each left-out corpus and training fraction, fine-tune a single-task model starting from
   that encoder, beside a plain single-task model from the original encoder.
3. With --full-mtl (RODRIGUEZ table 6 / figure 6), also the full multi-task model: the
   left-out corpus as main with every kept corpus as partner, trained together from the
   original encoder; the fine-tuned model is compared with it too, paired by seed.

    python experiments/entity_ablation.py --leave-out Disease --fractions 0.25,1.0 \\
        --corpora NCBI-disease,BC5CDR-disease,BC5CDR-chem,Linnaeus
    python experiments/entity_ablation.py --leave-out Disease --corpora NCBI-disease,BC5CDR-chem \\
        --full-mtl --seeds 3
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
    p.add_argument("--full-mtl", action="store_true",
                   help="also train the full multi-task model (each left-out corpus with "
                        "every kept one) and compare the fine-tuned model with it")
    p.add_argument("--out", help="run directory (default runs/entity-ablation-CLASS-PRESET)")
    add_run_arguments(p, model="bert")
    add_verdict_arguments(p)
    args = p.parse_args(argv)
    margin = check_verdict_arguments(args)
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    kept = corpora.corpora_without_class(names, args.leave_out)  # an unknown name stops here
    unknown = [n for n in names if not corpora.spec_for(n).classes]
    if unknown:  # a folder's corpus names no classes: it might annotate the class left out
        raise InputError(f"--corpora {unknown[0]}: its entity classes are not known (a corpus "
                         "given as a folder), so it cannot be told whether it annotates "
                         f"{args.leave_out}; use bundled corpora, or NAME@Class views of them")
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
    shared = replace(resolve_run(args, kept[0]), aux=tuple(kept[1:]),
                     loss_weights=aux_weights(args, kept[1:]))
    # the encoder's file is named by the run that writes it: another kept set, preset or
    # setting writes another file, so a resume never reuses fine-tuned cells of another
    # encoder (their identity holds this path)
    from bioner_mtl.training.fit.results import cell_key

    encoder = str((out / "encoders" / f"without-{tag}-{cell_key(shared)[:8]}.weights.h5")
                  .resolve())
    shared = replace(shared, save_encoder=encoder)
    from bioner_mtl.training.spec.presets import single_task

    runs, plain, full = [], [], []
    for name in left_out:
        for fraction in fractions:
            base = single_task(replace(resolve_run(args, name), train_fraction=fraction))
            plain.append(base)
            runs += seeded(base, args) + seeded(replace(base, init_encoder=encoder), args)
            if args.full_mtl:  # the new task trained with every other corpus at once
                full += seeded(replace(resolve_run(args, name), train_fraction=fraction,
                                       aux=tuple(kept), loss_weights=aux_weights(args, kept)),
                               args)
    # every run checked before anything trains (the fine-tuned ones without the encoder the
    # first run writes: run_cells checks that it is there)
    checked([shared, *plain, *full])
    results = open_results(out, args.resume, "entity_ablation")
    from bioner_mtl.training.grids import (
        summary,  # after the checks: summary loads SciPy, training TensorFlow
    )
    from bioner_mtl.training.grids.grid import run_cells

    extra = {"preset": args.preset, "leave_out": args.leave_out}
    executor = executor_from(args)
    run_cells([shared], results, progress=not args.no_progress, extra={**extra, "role": "mtl"},
              executor=executor)
    records = run_cells(runs + full, results, progress=not args.no_progress, extra=extra,
                        executor=executor)

    def side(name: str, fraction: float, kind: str) -> list:
        """kind: 'single' (plain), 'tuned' (from the MTL encoder) or 'full' (multi-task)."""
        return [r for r in records if r.main == name and r.train_fraction == fraction
                and kind == ("full" if r.aux else "tuned" if r.config["init_encoder"]
                             else "single")]

    def rows(reference: str) -> list:  # one test per corpus and fraction, Holm over them
        return summary.gain_rows(
            (({"corpus": name, "fraction": fraction}, side(name, fraction, reference),
              side(name, fraction, "tuned")) for name in left_out for fraction in fractions),
            margin=margin)

    print(f"\nentity ablation: multi-head model on {', '.join(kept)} (no {args.leave_out}); "
          f"test mention F1 (%), {args.seeds} paired seed(s), gain with 95% CI, Holm")
    summary.print_gains(rows("single"), ("single-task", "from MTL encoder"), executor.workers)
    if args.full_mtl:
        print(f"\nthe same fine-tuned models against the full multi-task model (each left-out "
              f"corpus trained with {', '.join(kept)}): gain = fine-tuned minus full")
        summary.print_gains(rows("full"), ("full multi-task", "from MTL encoder"),
                            executor.workers)
    print(f"results: {out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(run(main))
