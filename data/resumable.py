"""An output file written piece by piece that a killed run finishes where it stopped.

The text goes to `.NAME.partial` beside NAME; after each piece the file is flushed to disk
and a journal, `.NAME.journal` (written atomically), records its length in bytes with the
caller's progress (sentences done, say) and a fingerprint of the run (the input's size and
time, the model, the settings). A run with the same fingerprint cuts the partial file back to
the journal's length (anything written after the last record is dropped, so nothing is
written twice) and continues from the recorded progress; a run with another fingerprint
starts afresh. When the output is whole it is renamed to NAME: a reader sees NAME whole or
not at all, as with data.atomic.write_atomically.

The journal stays, marked finished (`{"fingerprint", "bytes", "finished": true}`): it says
which job wrote NAME, so a rerun of that job keeps NAME instead of refusing it as a file the
user had or tagging it again (`read_journal`, `vouches`); an output written whole at once
gets such a journal from `finish`. Files written beside the output (a BRAT folder's NAME.txt,
`write_beside`) are listed in the journal too.

A write that fails (a full disk, a file-size limit) raises WriteError, an InputError (one
line naming the file) that keeps the partial file and its journal: the same command run again
continues after the last whole piece. Any other InputError (bad input) removes both, since a
rerun would stop there again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

from bioner_mtl.data.atomic import write_text
from bioner_mtl.data.errors import InputError


class WriteError(InputError):
    """A write that failed (a full disk): the output written so far is kept for a rerun."""


def cannot_write(path: Path, err: OSError) -> WriteError:
    return WriteError(f"{path}: cannot write ({err.strerror or err}); free some space (or "
                      "check the permissions) and run the same command again: it continues "
                      "after the last whole chunk")


def journal_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.journal")


def read_journal(path: str | Path) -> dict | None:
    """The journal beside the output `path`, if there is a well-formed one."""
    try:
        record = json.loads(journal_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    beside = record.get("beside", [])
    if (not isinstance(record.get("fingerprint"), dict) or not isinstance(record.get("bytes"), int)
            or not isinstance(beside, list)
            or not all(isinstance(n, str) and n and Path(n).name == n for n in beside)):
        return None  # beside: names of files in the output's folder, never paths
    return record


def vouches(record: dict | None, path: Path, file: Path) -> bool:
    """Does the journal `record` of the output `path` say that this job wrote `file` (the
    output itself once finished, or a file listed as written beside it)?"""
    if record is None:
        return False
    if file == path:
        return record.get("finished") is True
    return file.parent == path.parent and file.name in record.get("beside", [])


def finish(path: str | Path, fingerprint: dict, beside: tuple[str, ...] = ()) -> None:
    """Record that the output `path`, whole on disk, was written by the job `fingerprint`."""
    path = Path(path)
    write_text(journal_path(path), json.dumps({
        "fingerprint": fingerprint, "bytes": path.stat().st_size, "finished": True,
        "beside": list(beside)}))


class _Handle:
    """The partial file's handle as the caller writes to it: a failed write is a WriteError
    naming the file."""

    def __init__(self, handle: IO[str], path: Path):
        self.handle, self.path = handle, path

    def write(self, text: str) -> int:
        try:
            return self.handle.write(text)
        except OSError as err:
            raise cannot_write(self.path, err) from None


class ResumableOutput:
    """`with ResumableOutput(path, fingerprint) as out:` write to `out.handle`, call
    `out.checkpoint(progress)` after each whole piece; `out.progress` is what an earlier,
    killed run recorded ({} when starting afresh)."""

    def __init__(self, path: str | Path, fingerprint: dict):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.journal = journal_path(self.path)
        self.fingerprint = fingerprint
        self.progress: dict = {}
        self.beside: list[str] = []  # names of files written beside the output
        self.handle: _Handle | None = None
        self._file: IO[str] | None = None

    def __enter__(self) -> ResumableOutput:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            record = self._record()
            if record is not None:
                os.truncate(self.partial, record["bytes"])
                self.progress, self.beside = record["progress"], record.get("beside", [])
            else:  # another job's journal must not vouch for this job's partial file
                self.journal.unlink(missing_ok=True)
            self._file = self.partial.open("a" if record else "w", encoding="utf-8")
        except OSError as err:
            raise InputError(f"{self.partial}: cannot write ({err.strerror or err}); check "
                             "the directory and its permissions") from None
        self.handle = _Handle(self._file, self.partial)
        return self

    def _record(self) -> dict | None:
        """The journal of an earlier, unfinished run of the same job whose partial file is
        still whole."""
        record = read_journal(self.path)
        try:
            size = self.partial.stat().st_size
        except OSError:
            return None
        if (record is None or record.get("finished") or record["fingerprint"] != self.fingerprint
                or record["bytes"] > size or not isinstance(record.get("progress"), dict)):
            return None
        return record

    def checkpoint(self, progress: dict) -> None:
        """Everything written so far is on disk and counts as done."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            size = os.fstat(self._file.fileno()).st_size
        except OSError as err:
            raise cannot_write(self.partial, err) from None
        self.progress = progress
        self._write_journal({"fingerprint": self.fingerprint, "bytes": size,
                             "progress": progress, "beside": self.beside})

    def write_beside(self, path: str | Path, text: str) -> None:
        """`text` as the whole of `path`, a file in the output's folder that belongs to it (a
        BRAT folder's NAME.txt beside NAME.ann); the journal lists it from now on."""
        path = Path(path)
        try:
            write_text(path, text)
        except InputError as err:  # write_text's only error: a write that failed
            raise WriteError(str(err)) from None
        if path.name not in self.beside:
            self.beside = [*self.beside, path.name]
            self.checkpoint(self.progress)

    def _write_journal(self, record: dict) -> None:
        try:
            write_text(self.journal, json.dumps(record))
        except InputError as err:  # write_text's only error: a write that failed
            raise WriteError(str(err)) from None

    def __exit__(self, kind, error, trace) -> None:
        file, self._file, self.handle = self._file, None, None
        if error is None:
            try:
                file.flush()
                os.fsync(file.fileno())
                file.close()
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self.partial, 0o666 & ~umask)  # as a plain open would have made it
                os.replace(self.partial, self.path)
            except OSError as err:
                _close(file)
                raise cannot_write(self.partial, err) from None
            finish(self.path, self.fingerprint, tuple(self.beside))
            return
        _close(file)
        if isinstance(error, InputError) and not isinstance(error, WriteError):
            # bad input: a rerun would stop there again
            self.partial.unlink(missing_ok=True)
            self.journal.unlink(missing_ok=True)
        # a failed write, an interrupt (Ctrl-C), a worker killed: both kept, the next run
        # continues


def _close(file: IO[str]) -> None:
    """Close after a failure: what is left in the buffer may not fit either (it was never
    recorded in the journal, so a rerun cuts it off anyway)."""
    try:
        file.close()
    except OSError:
        pass
