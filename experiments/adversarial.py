"""WANG's adversarial grid: alpha (discriminator loss) x beta (orthogonality loss) for one
main corpus and one auxiliary corpus; the best pair is chosen on devel F1, never on test.

    python experiments/adversarial.py --main NCBI-disease --aux BioNLP09
    python experiments/adversarial.py --main BC2GM --aux BC5CDR --alphas 0,0.1 --betas 0,0.01 \\
        --preset paper --epochs 5 --seeds 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def floats(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected numbers separated by commas") from None


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True, help="main corpus")
    p.add_argument("--aux", required=True, help="auxiliary corpus")
    p.add_argument("--alphas", default="0,0.1,0.01", help="adversarial loss weights (WANG)")
    p.add_argument("--betas", default="0,0.01,0.001", help="orthogonality loss weights (WANG)")
    p.add_argument("--out", help="run directory (default runs/adversarial-MAIN-AUX-PRESET)")
    add_run_arguments(p, model="adversarial")
    add_verdict_arguments(p)
    args = p.parse_args(argv)
    margin = check_verdict_arguments(args)
    if args.model != "adversarial":
        raise InputError(f"--model {args.model}: the alpha/beta grid is for the adversarial model")
    if args.aux == args.main:
        raise InputError(f"--aux {args.aux} is the main corpus; choose another partner")
    base = replace(resolve_run(args, args.main), aux=(args.aux,),
                   loss_weights=aux_weights(args, (args.aux,)))
    pairs = [(a, b) for a in floats(args.alphas, "--alphas") for b in floats(args.betas, "--betas")]
    runs = checked([r for a, b in pairs for r in seeded(replace(base, model_options={
        **base.model_options, "adversarial_weight": a, "orthogonality_weight": b}), args)])
    out = Path(args.out or f"runs/adversarial-{args.main}-{args.aux}-{args.preset}")
    results = open_results(out, args.resume, "adversarial")
    # after the checks: stats loads SciPy, training TensorFlow
    from bioner_mtl.training.grids import (
        stats,
        summary,
    )
    from bioner_mtl.training.grids.grid import run_cells

    executor = executor_from(args)
    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset}, executor=executor)
    rows = []
    for a, b in pairs:
        mine = [r for r in records if r.model_config["adversarial_weight"] == a
                and r.model_config["orthogonality_weight"] == b]
        devel, test = (stats.mean_std([getattr(r, k) for r in mine])
                       for k in ("devel_f1", "test_f1"))
        token = stats.mean_std([r.test_token_macro_f1 for r in mine])[0]
        rows.append((a, b, devel, test, token, mine))
    rows.sort(key=lambda row: -row[2][0])
    # Against alpha = beta = 0 (plain shared-private) where the grid has it, paired by seed;
    # Holm over the other pairs.
    plain = next((row[5] for row in rows if row[0] == 0 and row[1] == 0), None)
    compared = summary.gain_rows(
        (({"alpha": a, "beta": b}, plain, mine) for a, b, _, _, _, mine in rows
         if plain and (a or b)), margin=margin)
    gains = {(g.keys["alpha"], g.keys["beta"]): g.gain for g in compared}
    print(f"\n{args.main} + {args.aux}, adversarial model: F1 (%) mean over {args.seeds} "
          "seed(s); gain over alpha = beta = 0 with 95% CI, Holm over the pairs")
    print(f"{'alpha':>6} {'beta':>6} {'devel F1':>9} {'test F1':>8} {'std':>5} "
          f"{'token-macro':>12} {summary.GAIN_HEADER}")
    for a, b, devel, test, token, _ in rows:
        print(f"{a:6g} {b:6g} {100 * devel[0]:9.2f} {100 * test[0]:8.2f} {100 * test[1]:5.2f} "
              f"{100 * token:12.2f} {summary.gain_text(gains.get((a, b)))}")
    if compared:
        print(summary.notes_text(margin))
        for line in summary.undecided_lines(compared, executor.workers):
            print(line)
    a, b, devel, test, _, _ = rows[0]
    print(f"best pair on devel: alpha={a:g}, beta={b:g} (test F1 {100 * test[0]:.2f}); "
          f"results: {out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(run(main))
