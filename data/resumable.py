"""An output file written piece by piece that a killed run finishes where it stopped.

The text goes to `.NAME.partial` beside NAME; after each piece the file is flushed to disk
and a journal, `.NAME.journal` (written atomically), records its length in bytes with the
caller's progress (sentences done, say) and a fingerprint of the run (the input's size and
time, the model, the settings). A run with the same fingerprint cuts the partial file back to
the journal's length (anything written after the last record is dropped, so nothing is
written twice) and continues from the recorded progress; a run with another fingerprint
starts afresh. When the output is whole it is renamed to NAME and the journal removed: a
reader sees NAME whole or not at all, as with data.atomic.write_atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

from bioner_mtl.data.atomic import write_text
from bioner_mtl.data.errors import InputError


class ResumableOutput:
    """`with ResumableOutput(path, fingerprint) as out:` write to `out.handle`, call
    `out.checkpoint(progress)` after each whole piece; `out.progress` is what an earlier,
    killed run recorded ({} when starting afresh)."""

    def __init__(self, path: str | Path, fingerprint: dict):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.journal = self.path.with_name(f".{self.path.name}.journal")
        self.fingerprint = fingerprint
        self.progress: dict = {}
        self.handle: IO[str] | None = None

    def __enter__(self) -> ResumableOutput:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            record = self._record()
            if record is not None:
                os.truncate(self.partial, record["bytes"])
                self.progress = record["progress"]
            else:  # another job's journal must not vouch for this job's partial file
                self.journal.unlink(missing_ok=True)
            self.handle = self.partial.open("a" if record else "w", encoding="utf-8")
        except OSError as err:
            raise InputError(f"{self.partial}: cannot write ({err.strerror or err}); check "
                             "the directory and its permissions") from None
        return self

    def _record(self) -> dict | None:
        """The journal of an earlier run of the same job whose partial file is still whole."""
        try:
            record = json.loads(self.journal.read_text(encoding="utf-8"))
            size = self.partial.stat().st_size
        except (OSError, ValueError):
            return None
        if (not isinstance(record, dict) or record.get("fingerprint") != self.fingerprint
                or not isinstance(record.get("bytes"), int) or record["bytes"] > size
                or not isinstance(record.get("progress"), dict)):
            return None
        return record

    def checkpoint(self, progress: dict) -> None:
        """Everything written so far is on disk and counts as done."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.progress = progress
        write_text(self.journal, json.dumps({"fingerprint": self.fingerprint,
                                             "bytes": os.fstat(self.handle.fileno()).st_size,
                                             "progress": progress}))

    def __exit__(self, kind, error, trace) -> None:
        handle, self.handle = self.handle, None
        if error is None:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.partial, 0o666 & ~umask)  # as a plain open would have made it
            os.replace(self.partial, self.path)
            self.journal.unlink(missing_ok=True)
            return
        handle.close()
        if isinstance(error, InputError):  # bad input: a rerun would stop there again
            self.partial.unlink(missing_ok=True)
            self.journal.unlink(missing_ok=True)
        # an interrupt (Ctrl-C), a worker killed: both kept, the next run continues
