"""The wheel a user installs: one import name, the bundled data, the console command and the
runtime dependencies (built offline from this clone, then read as a zip)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "--quiet", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("bioner_mtl-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_installs_one_top_level_name(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"bioner_mtl"}


def test_the_wheel_carries_the_corpora_validation_gains_and_commands(wheel):
    names = set(wheel.namelist())
    corpora = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "data" / "corpora").rglob("*")
                     if p.is_file())
    assert corpora and all(f"bioner_mtl/{c}" in names for c in corpora)
    assert "bioner_mtl/data/validation/partner_gains.jsonl" in names
    scripts = [p.name for p in (ROOT / "experiments").glob("*.py")]
    assert all(f"bioner_mtl/experiments/{s}" in names for s in scripts)
    assert "bioner_mtl/training/grids/stats.py" in names


def test_the_wheel_declares_its_dependencies_and_console_command(wheel):
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(info).decode())
    requires = metadata.get_all("Requires-Dist")
    plain = {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in requires
             if "extra ==" not in r}
    assert {"tensorflow", "keras", "numpy", "scipy", "seqeval", "gensim"} <= plain
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"serve", "ray", "bench", "dev"} <= extras
    entry = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "bioner-mtl = bioner_mtl.cli:main" in wheel.read(entry).decode()
