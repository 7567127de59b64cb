"""What every command line tool shares: logging setup and one-line errors for user mistakes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from data.errors import InputError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a tool's main; a user mistake prints `error: ...` on one line and exits with 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("gensim").setLevel(logging.WARNING)
    try:
        return main(argv) or 0
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
