"""Runs from a file: the TOML that `--config FILE` reads and `train.py --print-config` writes.

A run file says what a command line says, no more: its top-level keys are the command's flags
without the dashes (`main`, `aux`, `preset`, `train_fraction` or `train-fraction`...), its
`[set]` table what `--set KEY=VALUE` says (`devel_limit = 500`, `hidden = 600`,
`train.learning_rate = 1e-3`), each value in TOML's own type. TOML has no null: the string
"none" is a setting's none, as with --set. Read here: the file's syntax and the types of its
[set] values; which keys a command has is its parser's to say (training/cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tomli_w

from bioner_mtl.data.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

HELP = "see docs/models.md, 'Runs from a file'"


def read(path: str | Path) -> dict[str, Any]:
    """The file's TOML as a dict; a missing, unreadable or malformed file is one line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--config {path}: no such file; give a TOML run file "
                         "(bioner-mtl train --print-config writes one)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; a run file is TOML ({HELP})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not valid TOML: {err} ({HELP})") from None


def dumps(data: dict[str, Any], comment: str = "") -> str:
    """`data` as TOML (flags first, then the [set] table), after `comment` as # lines."""
    head = "".join(f"# {line}\n".replace("# \n", "#\n") for line in comment.splitlines())
    return head + tomli_w.dumps(data)


def shown(key: str, value: Any) -> str:
    """`key = value` as the file writes it, on one line (for messages)."""
    return f"{key} = {literal(value)}" if not isinstance(value, dict) else f"[{key}]"


def literal(value: Any) -> str:
    """A TOML value on one line (tomli_w writes arrays over several)."""
    if isinstance(value, list):
        return f"[{', '.join(literal(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {literal(v)}" for k, v in value.items()) + "}"
    return tomli_w.dumps({"x": value}).strip().removeprefix("x = ")


def set_entries(table: Any, where: str) -> list[tuple[str, Any]]:
    """The [set] table as (--set key, value) pairs in the file's order: [set.train] (or
    `train.NAME = ...` inside [set]) gives 'train.NAME'."""
    if not isinstance(table, dict):
        raise InputError(f"{where}: {shown('set', table)}: `set` is a table of what --set "
                         "says; write [set] on a line, then one KEY = VALUE a line "
                         "(e.g. hidden = 600)")
    pairs = []
    for key, value in table.items():
        if isinstance(value, dict):
            if key != "train":
                raise InputError(f"{where}: [set.{key}]: only [set.train] is a table (training "
                                 f"settings, --set train.NAME); write set.{key} as "
                                 "KEY = VALUE lines in [set]")
            pairs += [(f"train.{name}", inner) for name, inner in value.items()]
        else:
            pairs.append((key, value))
    return pairs


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def set_text(key: str, value: Any, like: Any, where: str) -> str:
    """The --set text of a [set] value whose default is `like`, once its TOML type fits:
    true/false for a switch, a whole number for a count, a number for a rate, a list of whole
    numbers for sizes, a string for a name; "none" wherever --set takes none."""
    def bad(kind: str, example: Any) -> InputError:
        return InputError(f"{where}: {shown(f'set.{key}', value)}: {kind}; write e.g. "
                          f"{shown(key, example)} in [set]")

    if value == "none":
        return "none"
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise bad("true or false", like)
    elif is_int(like):
        if not is_int(value):
            raise bad("a whole number", like)
    elif isinstance(like, float):
        if not (is_int(value) or isinstance(value, float)):
            raise bad("a number", like)
    elif isinstance(like, tuple):
        if not (isinstance(value, list) and all(is_int(v) for v in value)):
            raise bad("a list of whole numbers", list(like) or [1, 2])
    elif isinstance(like, str):
        if not isinstance(value, str):
            raise bad("a string", like)
    elif not (isinstance(value, (str, float)) or is_int(value)):  # a setting that may be none
        raise bad('a number or a string ("none": none)', "none")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)
