"""Entity-type groups (CRICHTON tables 3-8, RODRIGUEZ table 3): all corpora annotating one
entity class trained together, each keeping only that class (other types become O), against
each corpus's single-task baseline; or all corpora at once.

    python experiments/groups.py --class Chemical
    python experiments/groups.py --class Species --corpora Linnaeus,BioNLP11ID,BioNLP13CG
    python experiments/groups.py --all-corpora --corpora NCBI-disease,BC5CDR,BC2GM,Linnaeus

For every corpus of the group, one multi-task model has that corpus as its main task (model
selection on its devel split) and the rest of the group as auxiliaries.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioner_mtl.data import corpora
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


def members(args: argparse.Namespace) -> tuple[str, list[str]]:
    """(group label, task names): class-restricted corpora, or whole corpora for all-corpora."""
    names = ([n.strip() for n in args.corpora.split(",") if n.strip()] if args.corpora
             else corpora.bundled_ner_corpora())
    if args.all_corpora:
        return "all-corpora", names
    chosen = corpora.corpora_with_class(args.entity_class, names)
    restricted = [n if corpora.spec_for(n).classes == (args.entity_class,)
                  else corpora.restricted_name(n, args.entity_class) for n in chosen]
    return args.entity_class, restricted


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--class", dest="entity_class",
                       help=f"entity class: {', '.join(corpora.ENTITY_CLASSES)}")
    which.add_argument("--all-corpora", action="store_true", help="every corpus at once")
    p.add_argument("--corpora", help="limit to these corpora A,B,C (default: all bundled NER)")
    p.add_argument("--out", help="run directory (default runs/groups-GROUP-MODEL-PRESET)")
    add_run_arguments(p)
    add_verdict_arguments(p)
    args = p.parse_args(argv)
    margin = check_verdict_arguments(args)
    group, tasks = members(args)
    if len(tasks) < 2:
        raise InputError(f"group {group} has {len(tasks)} corpus ({', '.join(tasks) or 'none'});"
                         " a group needs at least two")
    tag = group.replace("/", "-").replace(" ", "-")
    out = Path(args.out or f"runs/groups-{tag}-{args.model}-{args.preset}")
    from bioner_mtl.training.spec.presets import single_task

    runs = []
    for task in tasks:
        base = resolve_run(args, task)
        others = tuple(t for t in tasks if t != task)
        runs += seeded(single_task(base), args) + seeded(replace(
            base, aux=others, loss_weights=aux_weights(args, others)), args)
    checked(runs)
    results = open_results(out, args.resume, "groups")
    from bioner_mtl.training.grids import (
        summary,  # after the checks: summary loads SciPy, training TensorFlow
    )
    from bioner_mtl.training.grids.grid import run_cells

    executor = executor_from(args)
    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset, "group": group}, executor=executor)
    rows = summary.gain_rows(  # one test per corpus, Holm over them
        (({"corpus": task}, [r for r in records if r.main == task and not r.aux],
          [r for r in records if r.main == task and r.aux]) for task in tasks), margin=margin)
    print(f"\ngroup {group} ({args.model}, {len(tasks)} corpora): test mention F1 (%), "
          f"{args.seeds} paired seed(s); gain with 95% CI, Holm over the corpora")
    summary.print_gains(rows, ("single-task", "group model"), executor.workers)
    summary.write_csv(out / "groups.csv", summary.gain_table(rows, ("single", "group")))
    print(f"wrote {out / 'groups.csv'}; results: {out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(run(main))
