"""One markdown report from many run directories, laid out like the papers' tables so that our
numbers can be read beside the published ones.

    python experiments/report.py runs                       # writes runs/report.md
    python experiments/report.py runs/pairwise-BC2GM-window-cnn-quick runs/wang-ncbi --out r.md

Reads every results.jsonl under the given directories. Seeds are pooled (mean +- sample std,
paired tests of training.stats) only when everything but the seed matches: corpus, model,
auxiliary corpora, preset, training fraction, decoding, the run's settings
(training.results.settings_key) and the plan of rounds the grid ran under (its records'
`experiment`: two grids of one setting, such as a grid and the larger one started after it,
are reported apart, each with the verdicts it printed). Which paper table and column a
model's runs go to, and which single-task model they are compared with, come from the
catalogue (training.catalogue).
Data-ablation plots are written next to the report. The report never replaces an existing
file unless given --force, and never one of the results files it reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioner_mtl.data.atomic import refuse_existing, refuse_input, write_text
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, run
from bioner_mtl.training.grids.report import build_report


def results_files(directories: list[Path]) -> list[Path]:
    """Every results.jsonl under the directories, each once; a directory that is none, or holds
    none, is refused before anything is read."""
    files: list[Path] = []
    for directory in directories:
        if not directory.is_dir():
            raise InputError(f"{directory}: not a directory; pass run directories that hold "
                             "results.jsonl")
        found = sorted(directory.rglob("results.jsonl"))
        if not found:
            raise InputError(f"{directory}: no results.jsonl under it; pass a run directory "
                             "written by experiments/train.py, pairwise.py or another tool")
        files += [f for f in found if f.resolve() not in {g.resolve() for g in files}]
    return files


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories to read")
    p.add_argument("--out", help="report file (default RUN_DIR/report.md for one directory, "
                   "else ./report.md)")
    p.add_argument("--force", action="store_true",
                   help="replace the report file if it exists (default: refuse)")
    args = p.parse_args(argv)
    directories = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else (
        directories[0] / "report.md" if len(directories) == 1 else Path("report.md"))
    files = results_files(directories)
    refuse_input(out, files)  # a report over a results file it reads: never
    refuse_existing(out, args.force)
    text = build_report(directories, files, out)
    write_text(out, text)
    print(f"report: {out}")


if __name__ == "__main__":
    sys.exit(run(main))
