"""Files written whole or not at all, the one way every output of the toolkit is written.

The content goes to a temporary file beside the target, which is renamed into place once
complete: a reader, a parallel run sharing a cache, or a user whose run was interrupted sees
the old file or the whole new one, never half of one. The result gets the permissions a plain
`open` would give (temporary files are private), and a failed write is one line naming the
file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from bioner_mtl.data.errors import InputError

T = TypeVar("T")


def write_atomically(path: str | Path, write: Callable[[IO], T], *, binary: bool = False,
                     newline: str | None = None) -> T:
    """Call `write` on a handle to a temporary file beside `path`, then move it into place;
    returns what `write` returned. Text handles are UTF-8."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            "wb" if binary else "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
            delete=False, **({} if binary else {"encoding": "utf-8", "newline": newline}))
    except OSError as err:
        raise InputError(f"{path}: cannot write ({err.strerror or err}); "
                         "check the directory and its permissions") from None
    try:
        with handle:
            result = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
        os.replace(handle.name, path)
        return result
    except BaseException as err:
        Path(handle.name).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise InputError(f"{path}: cannot write ({err.strerror or err}); "
                             "check the free space and permissions") from None
        raise


def write_text(path: str | Path, text: str, newline: str | None = None) -> None:
    """`text` as the whole content of `path` (UTF-8), atomically."""
    write_atomically(path, lambda handle: handle.write(text), newline=newline)


def save_figure(path: str | Path, figure, dpi: int) -> None:
    """A matplotlib figure, atomically, in the format its name ends with."""
    kind = Path(path).suffix.lstrip(".") or "png"
    write_atomically(path, lambda handle: figure.savefig(handle, format=kind, dpi=dpi),
                     binary=True)
