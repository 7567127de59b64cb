"""The house rules of the layout, read from the code's own imports (function-level ones too):
everything imports as bioner_mtl.*, layers import only downwards (inside training/ too),
nothing imports a script of experiments/, no import cycles, no crowded package folders."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bioner_mtl import cli

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("data", "embeddings", "models", "training", "experiments")  # mapped folders
OLD_NAMES = set(SUBPACKAGES)  # importable from a clone's root, never to be used
# A layer of the package and the layers it may import (itself included). The order of a model's
# life: specification (no TensorFlow) < fitting one run < the product side < grids and their
# statistics < benchmarks and command-line helpers < the scripts < the console command.
BASE = {"package", "data", "training"}  # training: its __init__ and quiet_tensorflow
SPEC = BASE | {"models", "training.spec"}
FIT = SPEC | {"embeddings", "training.fit"}
PRODUCT = FIT | {"training.product"}
GRIDS = PRODUCT | {"training.grids"}
ALLOWED = {"package": {"package"}, "data": {"package", "data"},
           "embeddings": {"package", "data", "embeddings"},
           "models": {"package", "data", "models"}, "training": {"package", "training"},
           "training.spec": SPEC, "training.fit": FIT, "training.product": PRODUCT,
           "training.grids": GRIDS,
           "training.bench": GRIDS | {"training.bench"}, "training.cli": GRIDS | {"training.cli"},
           "experiments": GRIDS | {"embeddings", "training.bench", "training.cli"},
           "root": {"package", "root", "training.cli"}}
STAGES = ("spec", "fit", "product", "grids", "bench", "cli")


def layer(module: str) -> str:
    """'bioner_mtl.training.fit.trainer' -> 'training.fit'; the root package's own -> 'root'."""
    parts = module.split(".")[1:]
    if not parts:
        return "package"  # bioner_mtl/__init__.py: the version, nothing else
    if parts[0] not in SUBPACKAGES:
        return "root"
    if parts[0] == "training" and len(parts) > 1 and parts[1] in STAGES:
        return f"training.{parts[1]}"
    return parts[0]


def module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "bioner_mtl":
        return None
    rest = parts[1:]
    base = ROOT.joinpath(*rest) if rest and rest[0] in SUBPACKAGES else ROOT.joinpath(
        "bioner_mtl", *rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[1:] if parts[0] == "bioner_mtl" else parts
    return ".".join(("bioner_mtl", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def project_imports(path: Path) -> set[str]:
    """Project modules a file imports, anywhere in it ('from bioner_mtl.training.grids import
    stats' names bioner_mtl.training.grids.stats, a module)."""
    return {name for name in imported_names(path) if module_file(name) is not None}


def package_files() -> list[Path]:
    return [p for top in ("bioner_mtl", *SUBPACKAGES) for p in (ROOT / top).rglob("*.py")
            if "corpora" not in p.relative_to(ROOT).parts]


def graph() -> dict[str, set[str]]:
    return {module_name(p): project_imports(p) - {module_name(p)} for p in package_files()}


def test_everything_imports_as_bioner_mtl():
    old = [f"{p.relative_to(ROOT)} imports {name}" for p in [*package_files(),
           *(ROOT / "tests").rglob("*.py")] for name in imported_names(p)
           if name.split(".")[0] in OLD_NAMES]
    assert old == []


def test_layers_import_only_downwards_and_nothing_imports_a_script():
    wrong = [f"{module} imports {name}" for module, imports in graph().items()
             for name in imports if layer(name) not in ALLOWED[layer(module)]]
    assert wrong == []


def test_the_layer_rule_refuses_an_upward_import():
    assert layer("bioner_mtl.training.fit.trainer") == "training.fit"
    assert layer("bioner_mtl.training.product.bundle") not in ALLOWED["training.fit"]
    assert layer("bioner_mtl.training.quiet_tensorflow") in ALLOWED["training.spec"]
    assert layer("bioner_mtl.experiments.pairwise") not in ALLOWED["experiments"]


def test_the_run_specification_loads_no_tensorflow():
    modules = sorted(module_name(p) for p in (ROOT / "training" / "spec").glob("*.py"))
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            if nxt in edges:
                visit(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for module in sorted(edges):
        visit(module, [], done)
    # a package's __init__ handing on names of its own modules is not a loop
    return [c for c in cycles if not any(o.startswith(m + ".") for m in c for o in c)]


def test_the_cycle_finder_finds_a_lazy_import_loop():
    a, b = "bioner_mtl.training.a", "bioner_mtl.training.b"
    assert find_cycles({a: {b}, b: {a}}) == [[a, b, a]]
    assert find_cycles({a: {b}, b: set()}) == []


def test_no_import_cycles():
    assert find_cycles(graph()) == []


def test_no_package_folder_is_crowded():
    crowded = {str(d.relative_to(ROOT)): n for d in {p.parent for p in package_files()}
               if (n := len(list(d.glob("*.py")))) > 16 and d.name != "experiments"}
    assert crowded == {}


def test_every_package_folder_is_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {module_name(p.parent / "__init__.py") for p in package_files()
               if p.name == "__init__.py" and p.parent.name != "tests"}
    assert folders == set(config["packages"])


def test_experiments_holds_only_command_line_scripts_each_a_console_command():
    assert (ROOT / "experiments" / "__init__.py").read_text() == ""
    scripts = sorted(p for p in (ROOT / "experiments").glob("*.py") if p.name != "__init__.py")
    assert scripts, "experiments/ has no scripts"
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        assert 'if __name__ == "__main__":' in text, f"{path.name} is not a script"
        assert "sys.path" not in text, f"{path.name} edits sys.path"
    assert sorted(c.replace("-", "_") for c in cli.COMMANDS) == sorted(p.stem for p in scripts)
