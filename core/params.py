"""Sampling parameters: one check, for the edge server's API and for the page.

The edge server's request validation (edge_server/validation.py) and the
page's runtime (web/python/llm_web) both turn a caller's parameters into a
:class:`~core.types.ChatRequest`'s ``params`` here, so a value refused on one
side is refused on the other, with the same code and message. Ranges are
OpenAI's. Each problem is an LLM_VAL_* error naming the field as the caller
spelled it (``maxTokens`` in the page, ``max_completion_tokens`` on the API).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from . import catalogue
from .errors import LLMError

__all__ = ["MAX_STOPS", "MAX_TOKENS_LIMIT", "field_error", "number", "sampling"]

MAX_TOKENS_LIMIT: Final = 32_768
MAX_STOPS: Final = 4

# Numbers a request may set: (lowest, highest, integer, lowest excluded).
_NUMBERS: Final[dict[str, tuple[float, float, bool, bool]]] = {
    "max_tokens": (1, MAX_TOKENS_LIMIT, True, False),
    "temperature": (0.0, 2.0, False, False),
    "top_p": (0.0, 1.0, False, True),
    "presence_penalty": (-2.0, 2.0, False, False),
    "frequency_penalty": (-2.0, 2.0, False, False),
    "seed": (-(2**63), 2**63 - 1, True, False),
}


def field_error(spec: Any, field: str, message: str, value: Any = None) -> LLMError:
    """``spec``'s error for ``field``: the message starts with the field, the context names it (and the value)."""
    ctx: dict[str, Any] = {"field": field}
    if value is not None:
        ctx["value"] = value if isinstance(value, (int, float, bool)) else repr(value)[:80]
    return spec.error(f"{field}: {message}", **ctx)  # type: ignore[no-any-return]


def number(value: Any, field: str, lo: float, hi: float, *, integer: bool = False, lo_open: bool = False) -> Any:
    """``value`` when it is a number in range (None when absent), else LLM_VAL_003 / LLM_VAL_004."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise field_error(catalogue.VAL_WRONG_TYPE, field, f"must be {'an integer' if integer else 'a number'}", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise field_error(catalogue.VAL_OUT_OF_RANGE, field, "must be finite", value)
    if value < lo or value > hi or (lo_open and value == lo):
        bound = f"({lo:g}, {hi:g}]" if lo_open else f"[{lo:g}, {hi:g}]"
        raise field_error(catalogue.VAL_OUT_OF_RANGE, field, f"must be in {bound}", value)
    return value


def sampling(data: Mapping[str, Any], names: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The sampling parameters in ``data``, checked: max_tokens, temperature, top_p, the penalties, seed, stop.

    ``names`` gives, per parameter, the fields it may come from (default: its own
    name); each one present is checked, and the first present is used.
    """
    names = names or {}
    params: dict[str, Any] = {}
    for param, (lo, hi, integer, lo_open) in _NUMBERS.items():
        for field in names.get(param, (param,)):
            value = number(data.get(field), field, lo, hi, integer=integer, lo_open=lo_open)
            if value is not None:
                params.setdefault(param, value)
    for field in names.get("stop", ("stop",)):
        stop = data.get(field)
        if stop is None:
            continue
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, (list, tuple)) or not all(isinstance(s, str) and s for s in stops):
            raise field_error(catalogue.VAL_WRONG_TYPE, field, "must be a non-empty string or an array of them", stop)
        if len(stops) > MAX_STOPS:
            raise field_error(catalogue.VAL_OUT_OF_RANGE, field, f"at most {MAX_STOPS} stop sequences", len(stops))
        params.setdefault("stop", list(stops))
    return params
