"""The console command `bioner-mtl <command> [options]`: each command is the script of the same
name in experiments/ (`bioner-mtl pairwise` runs experiments/pairwise.py's main), so there is one
parser and one behaviour, whichever way it is started."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys

COMMANDS = ("pairwise", "train", "predict", "evaluate", "serve", "export", "corpora",
            "recommend", "report", "ablation", "groups", "entity-ablation", "adversarial",
            "vectors", "cell-time", "bench", "throughput", "inference-speed", "serve-bench")


def module_of(command: str) -> str:
    return "bioner_mtl.experiments." + command.replace("-", "_")


def summary(command: str) -> str:
    """The first line of the command's docstring, read without importing it."""
    origin = importlib.util.find_spec(module_of(command)).origin
    with open(origin, encoding="utf-8") as source:
        doc = ast.get_docstring(ast.parse(source.read())) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").split(". ")[0]
    return first if len(first) <= 76 else first[:first.rfind(" ", 0, 75)] + " ..."


def usage() -> str:
    lines = ["usage: bioner-mtl <command> [options]",
             "       (bioner-mtl <command> --help: that command's options)", "", "commands:"]
    lines += [f"  {name:<16} {summary(name)}" for name in COMMANDS]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from bioner_mtl import __version__

        print(f"bioner-mtl {__version__}")
        return 0
    command = argv[0].replace("_", "-")
    if command not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; the commands are: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    sys.argv[0] = f"bioner-mtl {command}"  # argparse's prog in usage and error lines
    from bioner_mtl.training.cli import command_main, run

    # imported inside run(): what the script's loading refuses is one error line
    return run(command_main(module_of(command)), argv[1:])
