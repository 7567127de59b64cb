"""Results files: one JSON record per finished run, appended under a lock.

A grid killed at any moment leaves a readable file (a torn last line is dropped), and a re-run
with resume skips every cell whose key is already there.
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
    """A JSON-lines file of run records, keyed by `cell`.

    Records are appended (O_APPEND, one write, fsync) under an exclusive lock, so processes
    appending to one file never lose each other's records; a line torn by a process killed
    mid-write is dropped (and cut off before the next append), so the file stays readable.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if text and not text.endswith("\n"):
            lines = lines[:-1]  # a torn last line: its cell is simply not finished
        for number, line in enumerate(lines, 1):
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(fd)
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":  # torn by a killed writer: cut back to its start
                    os.ftruncate(fd, _last_newline(fd, size) + 1)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: appends stay single-writer
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _last_newline(fd: int, size: int) -> int:
    """Offset of the last newline before `size`, -1 when there is none."""
    position, block = size, 65536
    while position > 0:
        start = max(0, position - block)
        os.lseek(fd, start, os.SEEK_SET)
        found = os.read(fd, position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


class RunLock:
    """One grid at a time per run directory: a second grid on the same --out stops with one
    line instead of interleaving its cells into the first one's results. The lock is the
    kernel's (flock), so a killed grid never leaves it behind."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / ".grid.lock"
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise InputError(f"{self.path.parent}: another grid is writing there now; wait for "
                             "it to finish or choose another --out") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
