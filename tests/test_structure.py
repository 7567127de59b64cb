"""The house rules of the layout, read from the code's own imports (function-level ones too):
packages import only downwards, nothing imports a script of experiments/, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "embeddings", "models", "training")
# what each package may import from the project (itself included)
ALLOWED = {"data": {"data"}, "embeddings": {"data", "embeddings"},
           "models": {"data", "models"},
           "training": {"data", "embeddings", "models", "training"},
           "experiments": {"data", "embeddings", "models", "training"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Project modules a file imports, anywhere in it ('from training import stats' names
    training.stats when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ALLOWED and (module_file(name) is not None):
                found.add(name)
    return found


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def graph() -> dict[str, set[str]]:
    files = [p for top in (*PACKAGES, "experiments") for p in (ROOT / top).rglob("*.py")
             if "corpora" not in p.relative_to(ROOT).parts]
    return {module_name(p): project_imports(p) - {module_name(p)} for p in files}


def test_packages_import_only_downwards_and_nothing_imports_a_script():
    wrong = []
    for module, imports in graph().items():
        top = module.split(".")[0]
        for name in imports:
            if name.split(".")[0] not in ALLOWED[top]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


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
    return [c for c in cycles if not any(m == c[0].split(".")[0] for m in c)]


def test_the_cycle_finder_finds_a_lazy_import_loop():
    assert find_cycles({"training.a": {"training.b"}, "training.b": {"training.a"}}) == [
        ["training.a", "training.b", "training.a"]]
    assert find_cycles({"training.a": {"training.b"}, "training.b": set()}) == []


def test_no_import_cycles():
    assert find_cycles(graph()) == []


def test_experiments_holds_only_command_line_scripts():
    assert (ROOT / "experiments" / "__init__.py").read_text() == ""  # only for the tests
    scripts = sorted(p for p in (ROOT / "experiments").glob("*.py") if p.name != "__init__.py")
    assert scripts, "experiments/ has no scripts"
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        assert 'if __name__ == "__main__":' in text, f"{path.name} is not a script"
        assert "sys.path" not in text, f"{path.name} edits sys.path"
