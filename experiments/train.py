"""Train one model: a main corpus alone, or with auxiliary corpora in one multi-task model.

    python experiments/train.py --main NCBI-disease                          # single-task
    python experiments/train.py --main NCBI-disease --aux BC5CDR-disease,BC5CDR-chem
    python experiments/train.py --main BC2GM --preset paper --epochs 20 --seeds 3
    python experiments/train.py --main BC2GM --aux all --model bert     # one model, 11 heads
    python experiments/train.py --main BC2GM --aux all --model bert --select-on mean
    python experiments/train.py --main Ex-PTM --model bilstm-crf --preset paper --seeds 3
    python experiments/train.py --main Ex-PTM --model bilstm-crf --preset paper --seeds 3 \\
        --train-on train+devel --epochs-from runs/train-Ex-PTM-bilstm-crf-paper
    python experiments/train.py --config run.toml                 # a run from a file
    python experiments/train.py --from-record runs/x/results.jsonl:3 --print-config > run.toml

--print-config prints the run as a TOML run file (the flags without dashes, [set] for --set)
and stops; --config FILE runs one (flags given beside it override it); --from-record takes
the run of a results record or a model bundle, so every recorded run can be re-run.

Prints the main corpus's devel and test scores and appends each run's record to
OUT/results.jsonl (default runs/train-MAIN-MODEL-PRESET, with -train+devel for a final run).

--train-on train+devel trains the final model as WANG, KHAN and TONG did: every corpus's
devel split joins its training split (after the --train-fraction cut of the main corpus), the
model trains a fixed length with no devel evaluation, early stopping or selection, and test is
scored once. The length is --epochs N, --steps N, or --epochs-from a devel-selected run's
results: the mean over its seeds of best step / steps per epoch, in epochs of the main corpus.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioner_mtl.data.atomic import refuse_existing
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import (
    ArgumentParser,
    add_run_arguments,
    aux_weights,
    check_same_grid,
    checked,
    executor_from,
    open_results,
    partners_for,
    read_recorded_run,
    resolve_run,
    run,
    run_file_data,
    run_file_text,
    seeded,
)
from bioner_mtl.training.spec.config import replace


def apart(bundle: Path, out: Path) -> None:
    """--save-model and --out are two folders, neither inside the other: a bundle is written
    beside its folder and swapped in whole, so a bundle over the run directory would replace
    it (its lock gone, its results.jsonl inside the bundle), a run directory inside a bundle
    would be swapped away with it, and a bundle inside a run directory mixes a model's files
    into the folder report.py and --resume read as runs. Refused before anything trains."""
    mine, run_dir = bundle.resolve(), out.resolve()
    if mine == run_dir:
        where, why = "is", "saving the bundle would replace the run directory"
    elif run_dir in mine.parents:
        where, why = "lies inside", "a run directory holds runs, not models"
    elif mine in run_dir.parents:
        where, why = "holds", "saving the bundle would replace the run directory inside it"
    else:
        return
    raise InputError(f"--save-model {bundle} {where} the run directory --out {out}: {why}; "
                     "give the bundle a folder of its own, e.g. --save-model "
                     f"{out.parent / (out.name + '-model')}")


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True, help="main corpus (name or directory)")
    p.add_argument("--aux", default="", help="auxiliary corpora A,B trained in the same model; "
                   "'all': every other bundled NER corpus")
    p.add_argument("--out", help="run directory (default runs/train-MAIN-MODEL-PRESET)")
    p.add_argument("--save-model", metavar="DIR", help="write the trained model as a bundle "
                   "for experiments/predict.py (DIR/seed-N with several seeds); a folder of "
                   "its own, neither --out nor inside or around it")
    p.add_argument("--force", action="store_true",
                   help="with --save-model: replace a bundle already in DIR (default: refuse)")
    p.add_argument("--train-on", choices=["train", "train+devel"],
                   help="train (default: weights selected on devel) or train+devel (a fixed "
                        "length, then test once; give --epochs, --steps or --epochs-from)")
    p.add_argument("--epochs-from", metavar="RESULTS",
                   help="with --train-on train+devel: train as many epochs of the main corpus "
                        "as the devel-selected run of the same settings in RESULTS (a "
                        "results.jsonl or its run directory) chose")
    p.add_argument("--from-record", metavar="RESULTS[:LINE]",
                   help="the run of a results record (RESULTS.jsonl:LINE, or a run directory "
                        "with one record) or of a model bundle (its directory), as a run file "
                        "gives it: with --print-config, print that file; without, train it "
                        "again (flags given here override it)")
    p.add_argument("--print-config", action="store_true",
                   help="print the run as a TOML run file for --config and stop (nothing is "
                        "trained or written)")
    add_run_arguments(p, seeds=1)
    p.command_line_only = {"from_record", "print_config"}
    p.run_sources["from_record"] = read_recorded_run
    args = p.parse_args(argv)
    fixed = args.train_on == "train+devel"
    lengths = [f"{flag} {value:g}" if flag == "--epochs" else f"{flag} {value}"
               for flag, value in (("--epochs", args.epochs), ("--steps", args.steps),
                                   ("--epochs-from", args.epochs_from)) if value is not None]
    if args.epochs_from and not fixed:
        raise InputError(f"--epochs-from {args.epochs_from}: it sets the length of a fixed-"
                         "length run; add --train-on train+devel")
    if fixed and len(lengths) != 1:
        raise InputError("--train-on train+devel trains a fixed length: give one of --epochs "
                         "N, --steps N or --epochs-from RESULTS" +
                         (f", not {' and '.join(lengths)}" if lengths else ""))
    aux = tuple(a.strip() for a in args.aux.split(",") if a.strip())
    if aux == ("all",):  # every other: the main corpus by any name (its folder, a link) is out
        aux = tuple(partners_for(args.main, None))
    weights = aux_weights(args, aux)
    base = replace(resolve_run(args, args.main), aux=aux, loss_weights=weights)
    if fixed:
        length_from = lengths[0]
        if args.epochs_from:
            from bioner_mtl.training.fit.results import epochs_from

            epochs, length_from = epochs_from(args.epochs_from, checked([base])[0])
            base = replace(base, train=replace(base.train, epochs=epochs, steps=None))
        base = replace(base, length_from=length_from)
    runs = checked(seeded(base, args))
    if args.print_config:
        data = run_file_data(runs[0].to_dict(), "this command line", args.preset, args.seeds)
        print(run_file_text(data, args.run_file and args.run_file.where), end="")
        return
    if args.save_model and Path(args.save_model).exists() and not Path(args.save_model).is_dir():
        raise InputError(f"--save-model {args.save_model}: a file, not a directory; give a "
                         "directory for the bundle")
    if args.save_model:
        runs = [replace(r, save_bundle=str(Path(args.save_model).resolve() / f"seed-{r.seed}")
                        if args.seeds > 1 else str(Path(args.save_model).resolve()))
                for r in runs]
    out = Path(args.out or f"runs/train-{Path(args.main).name}-{args.model}-{args.preset}"
               + ("-train+devel" if fixed else ""))
    if args.save_model:
        apart(Path(args.save_model), out)
    results = open_results(out, args.resume, "train")
    check_same_grid(results, runs, out)  # a resume with another --model, --set...: refused
    if args.save_model:
        # a bundle already there is replaced only with --force (it is written beside it and
        # swapped in whole); a cell --resume skips writes no bundle, so its bundle stays
        from bioner_mtl.training.fit.results import cell_key
        from bioner_mtl.training.product.bundle import BUNDLE_KIND

        finished = results.finished()
        for r in runs:
            if cell_key(r) not in finished:
                shown = Path(args.save_model) / (f"seed-{r.seed}" if args.seeds > 1 else "")
                refuse_existing(shown, args.force, "--save-model", BUNDLE_KIND)
    from bioner_mtl.training.grids import (
        stats,  # after the checks: stats loads SciPy, training TensorFlow
    )
    from bioner_mtl.training.grids.grid import run_cells

    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset}, executor=executor_from(args))
    for r in records:
        test = r.scores["test"][r.decoding]
        devel = "trained on devel" if fixed else f"devel F1 {100 * r.devel_f1:.2f}"
        print(f"seed {r.seed}: {devel}  test F1 "
              f"{100 * r.test_f1:.2f} (P {100 * test['strict']['precision']:.2f} "
              f"R {100 * test['strict']['recall']:.2f}; default mode "
              f"{100 * test['default']['f1']:.2f}; token macro {100 * test['token']['f1']:.2f})"
              + (f"  {r.steps} steps" if fixed else f"  best step {r.best_step}/{r.steps}")
              + f", {r.wall_seconds:.0f} s, "
              f"{r.parameters['trainable']:,} trainable parameters")
    if len(records) > 1:
        mean, std = stats.mean_std([r.test_f1 for r in records])
        print(f"test F1 over {len(records)} seeds: {100 * mean:.2f} +- {100 * std:.2f}")
    print(f"results: {out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(run(main))
