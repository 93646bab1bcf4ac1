"""TOML and JSON text to plain data, refusing what would hurt before parsing it.

Every problem is a coded LLM_CONFIG_003_E (a parse error) with the line and column
where the parser gives them. Too deep a nesting is refused before the text is
parsed: the parsers recurse once per level, and inside Pyodide the WASM stack runs
out long before Python's recursion limit (a fatal error for the whole page, not an
exception). Real configurations nest 3 deep.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any, Final

from .. import catalogue
from ..errors import ConfigError
from .problems import config_error

__all__ = ["MAX_NESTING", "nesting_depth", "parse_json", "parse_toml"]

MAX_NESTING: Final = 64


def parse_json(text: str) -> Any:
    """A JSON document's data; a repeated key is an error, not a silent overwrite."""
    if nesting_depth(text, stop_at=MAX_NESTING) > MAX_NESTING:
        raise _parse_error("JSON", f"nested too deeply (more than {MAX_NESTING} levels)", None, None)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise _parse_error("JSON", exc.msg, exc.lineno, exc.colno) from exc
    except RecursionError:
        raise _parse_error("JSON", "nested too deeply", None, None) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise _parse_error("JSON", str(exc).split(";")[0], None, None) from None


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document's data."""
    if nesting_depth(text, toml=True, stop_at=MAX_NESTING) > MAX_NESTING:
        raise _parse_error("TOML", f"nested too deeply (more than {MAX_NESTING} levels)", None, None)
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise _parse_error("TOML", "nested too deeply", None, None) from None
    except tomllib.TOMLDecodeError as exc:
        # Before Python 3.14 the position is only in the message's text: moved to the context.
        line: int | None = getattr(exc, "lineno", None)
        col: int | None = getattr(exc, "colno", None)
        msg = str(getattr(exc, "msg", "") or exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        if found is not None:
            msg = msg.replace(found.group(0), "").strip()
            if line is None:
                line, col = int(found.group(1)), int(found.group(2))
        elif "(at end of document)" in msg:
            msg = msg.replace("(at end of document)", "").strip()
            if line is None:
                line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
        raise _parse_error("TOML", msg, line, col) from exc
    except ValueError as exc:  # an integer of more than 4300 digits
        raise _parse_error("TOML", str(exc).split(";")[0], None, None) from None


_NESTING_TOKENS: Final = re.compile(r"[\[\]{}\"'#\\\n]")


def nesting_depth(text: str, *, toml: bool = False, stop_at: int | None = None) -> int:
    """How deeply arrays and tables nest in a JSON (or, with ``toml``, TOML) text, without
    parsing it: brackets inside strings and TOML comments do not count. Stops counting
    once past ``stop_at``. Only the characters that matter are visited, so it is fast."""
    depth = deepest = 0
    quote = ""  # the quote character of the string we are in, if any
    escape_at = -1  # in a string with escapes: the position a backslash escapes
    comment = False
    for match in _NESTING_TOKENS.finditer(text):
        c, at = match.group(), match.start()
        if comment:
            comment = c != "\n"
        elif quote:
            if c == "\\" and quote == '"':
                escape_at = -1 if at == escape_at else at + 1
            elif c == quote and at != escape_at:
                quote = ""
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if stop_at is not None and deepest > stop_at:
                break
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == '"' or (c == "'" and toml):
            quote = c
        elif c == "#" and toml:
            comment = True
    return deepest


def _parse_error(fmt: str, msg: str, line: int | None, col: int | None) -> ConfigError:
    where = f" at line {line}, column {col}" if line is not None else ""
    return config_error(catalogue.CONFIG_PARSE, "", f"invalid {fmt}{where}: {msg}", line=line, column=col)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise config_error(catalogue.CONFIG_PARSE, "", f"invalid JSON: duplicate key {key!r}", key)
        out[key] = value
    return out
