"""The one exception type for user mistakes, and the pip command a missing extra needs.

Command-line tools catch it and print its message as a single line, so a bad file, name or
flag never ends in a traceback. The message names the file, the line and the fix.
"""


class InputError(ValueError):
    """Bad user input: a malformed file, an unknown name, an impossible option."""


# the optional dependencies (pyproject.toml's extras) by the top-level name they import as
EXTRAS = {"fastapi": "serve", "starlette": "serve", "uvicorn": "serve", "ray": "ray",
          "tensorboard": "tensorboard", "torch": "bench", "flair": "bench",
          "transformers": "bench"}


def install_command(library: str) -> str:
    """The pip command that installs the extra holding `library` (an EXTRAS key)."""
    return f"pip install 'bioner-mtl[{EXTRAS[library]}]'"
