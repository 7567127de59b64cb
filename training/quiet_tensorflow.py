"""A quiet TensorFlow start: no oneDNN, cudart or absl::InitializeLog lines on stderr.

TensorFlow's C++ code prints those lines while `import tensorflow` runs (twice on a CPU
machine: two libraries load), before absl logging exists, so neither TF_CPP_MIN_LOG_LEVEL nor
Python's logging reaches them. They are silenced where they are written: while TensorFlow's
top-level package is first imported, file descriptor 2 points at a temporary file, and it is
restored after; if the import fails, what was caught is written to stderr after all.

`install()` makes the next `import tensorflow` quiet wherever it happens (keras, a model
module, a pool worker), so a command that never imports TensorFlow never pays for it; it must
run before the first import of TensorFlow. Importing the `training` package installs it
(training/__init__.py), so every command and pool worker has it, and Ray tasks install it
too (training/executors.py); `--verbose` on the command line or BIONER_VERBOSE=1 in the
environment keeps the lines.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence

VERBOSE_ENV = "BIONER_VERBOSE"  # set (not "0"): keep TensorFlow's start-up lines
PACKAGE = "tensorflow"


def verbose_requested(argv: Sequence[str] | None = None) -> bool:
    """--verbose among the arguments (default: this process's command line), or
    BIONER_VERBOSE set in the environment (how pool workers and Ray tasks learn it)."""
    argv = sys.argv[1:] if argv is None else argv
    return "--verbose" in argv or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _flush_stderr() -> None:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """File descriptor 2 (C++ as well as Python writes) goes to a temporary file inside the
    block and is restored after, even on an error; on an error the caught text is written out."""
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    failed = False
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                caught.seek(0)
                os.write(2, caught.read())


class _QuietLoader(importlib.abc.Loader):
    """The real loader of TensorFlow's package, run with stderr silenced."""

    def __init__(self, loader: importlib.abc.Loader, finder: _QuietFinder):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.finder.done = True
        module.__spec__.loader = module.__loader__ = self.loader  # nothing else sees this one
        with silenced_stderr():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: hands out TensorFlow's spec with a quiet loader until the
    package is loaded (a mere find_spec, as libraries probing for TensorFlow do, loads none)."""

    def __init__(self):
        self.done = False
        self.busy = False  # the lookup below asks the finders again, this one included

    def find_spec(self, name, path=None, target=None):
        if name != PACKAGE or self.done or self.busy:
            return None
        self.busy = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec


def install(verbose: bool | None = None) -> None:
    """Make the next `import tensorflow` in this process quiet, and its C++ log show errors
    only (TF_CPP_MIN_LOG_LEVEL=3 unless set: on a machine without a GPU, no "failed call to
    cuInit" line), unless verbose (default: asked for with --verbose or BIONER_VERBOSE) or
    TensorFlow is imported already. Idempotent."""
    if verbose is None:
        verbose = verbose_requested()
    if verbose or PACKAGE in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if installed():
        return
    uninstall()  # a spent finder, if any
    sys.meta_path.insert(0, _QuietFinder())


def installed() -> bool:
    return any(isinstance(f, _QuietFinder) and not f.done for f in sys.meta_path)


def uninstall() -> None:
    """TensorFlow's next import prints its start-up lines again (--verbose)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietFinder)]
