"""How a configuration problem is reported: a :class:`~llm_runner_router.core.errors.ConfigError`
whose message starts with the dotted path of the field (``retry.max_attempts``) and whose
``context`` carries ``field`` and, where there is one, ``value``."""

from __future__ import annotations

from typing import Any, Final

from ..errors import ConfigError, ErrorSpec

__all__ = ["UNSET", "config_error", "join"]

# "No value": a field's value may itself be None, so None cannot say "none given".
UNSET: Final = object()


def config_error(spec: ErrorSpec, path: str, message: str, value: Any = UNSET, **context: Any) -> ConfigError:
    """A ConfigError of ``spec`` (a catalogue entry) whose message starts with ``path``."""
    text = f"{path}: {message}" if path else message
    if value is not UNSET:
        context["value"] = value
    exc = spec.error(text, field=path, **context)
    assert isinstance(exc, ConfigError)
    return exc


def join(path: str, name: str) -> str:
    """``name`` under ``path``: "retry" and "max_attempts" give "retry.max_attempts"."""
    return f"{path}.{name}" if path else name
