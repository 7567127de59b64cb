"""Files written whole or not at all, the one way every output of the toolkit is written.

The content goes to a temporary file beside the target, which is renamed into place once
complete: a reader, a parallel run sharing a cache, or a user whose run was interrupted sees
the old file or the whole new one, never half of one. The result gets the permissions a plain
`open` would give (temporary files are private), and a failed write is one line naming the
file.

The rule every command follows: an output never replaces a file or directory the command did
not create in this run unless the user asked for it (`--force`): `refuse_existing` checks
that before anything is computed, and `refuse_input` refuses an output that is one of the
command's own inputs even with --force. An output that is a directory (a corpus, a model
bundle, a SavedModel) is built in a temporary directory beside its target and swapped in
whole (`write_directory`): a failure half way leaves the old directory as it was.
"""

from __future__ import annotations

import os
import shutil
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


def refuse_existing(path: str | Path, force: bool, flag: str = "--out",
                    kind: tuple[str, tuple[str, ...]] | None = None) -> None:
    """Stop, before anything is computed or written, when `path` exists and the user did not
    give --force: no output replaces what the user has (an empty directory holds nothing to
    lose). `flag` is the option that names the output, for the error line. `kind` (a name
    and the glob patterns of what such a directory holds: ("corpus", ("*.tsv", ...))) limits
    --force to directories of that kind: a folder holding anything else (the user's home, a
    project) is never replaced whole."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return
    if not force:
        what = "a directory that is not empty" if path.is_dir() else "a file"
        raise InputError(f"{path} already exists ({what}) and would be replaced; choose "
                         f"another {flag}, or add --force to replace it")
    if kind is not None and path.is_dir():
        name, patterns = kind
        other = sorted(p.name for p in path.iterdir()
                       if not any(p.match(pattern) for pattern in patterns))
        if other:
            shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
            raise InputError(f"{flag} {path}: holds {shown}, not only a {name}'s files; "
                             f"--force replaces a {name} whole, not a folder of other files: "
                             f"move them or choose another {flag}")


def refuse_input(path: str | Path, inputs, flag: str = "--out") -> None:
    """Stop when the output `path` is (or holds, for a directory output) one of the files the
    command reads: --force does not make an input an output."""
    target = Path(path).resolve()
    for source in inputs:
        resolved = Path(source).resolve()
        if resolved == target or target in resolved.parents:
            raise InputError(f"{flag} {path}: writing there would replace the input "
                             f"{source}; choose another {flag}")


def _cannot(path: Path, err: OSError, hint: str) -> InputError:
    return InputError(f"{path}: cannot write ({err.strerror or err}); {hint}")


def check_new_directory(out: Path) -> None:
    """--out is a new or empty directory that can be made (an export's): checked before
    anything loads, TensorFlow included."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file is there; give a new or empty directory")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out}: the directory is not empty; give a new or empty one "
                         "(an export never overwrites files)")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot be written ({parent} is not a writable "
                         "directory); choose a writable place")


def write_directory(path: str | Path, write: Callable[[Path], T]) -> T:
    """Build a directory in a temporary directory beside `path` (`write` fills the one it is
    given), then swap it in whole; returns what `write` returned. Whoever looks at `path` sees
    the old directory (or nothing) or the whole new one, never a mix: a failure, a full disk
    or an interrupt half way removes the temporary directory and leaves `path` as it was. An
    old `path` (the caller has checked it may be replaced: refuse_existing) is removed once
    the new one is in place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp"))
    except OSError as err:
        raise _cannot(path, err, "check the directory and its permissions") from None
    try:
        result = write(building)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(building, 0o777 & ~umask)  # mkdtemp's directory is private
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.",
                                        suffix=".old"))
            os.replace(path, old / "old")
            try:
                os.replace(building, path)
            except BaseException:
                os.replace(old / "old", path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(building, path)
        return result
    except BaseException as err:
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(err, OSError):
            raise _cannot(path, err, "check the free space and permissions") from None
        raise
