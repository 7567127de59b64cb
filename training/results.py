"""Results files: one JSON record per finished run, appended atomically.

A record is only ever written whole (tmp file + os.replace), so a grid killed at any moment
leaves a valid file, and a re-run with resume skips every cell whose key is already there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from data.errors import InputError
from training.config import RunConfig


def cell_key(run: RunConfig) -> str:
    """Identity of a run: a hash of its whole resolved configuration."""
    text = json.dumps(run.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsFile:
    """A JSON-lines file of run records, keyed by `cell`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    raise InputError(f"{self.path}:{number}: not a JSON record; the file was "
                                     "edited by hand? remove that line") from None
        return out

    def finished(self) -> set[str]:
        return {r["cell"] for r in self.records() if "cell" in r}

    def append(self, record: dict) -> None:
        old = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        atomic_write_text(self.path, old + json.dumps(record, sort_keys=True) + "\n")
