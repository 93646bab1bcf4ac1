"""Where the server keeps its files: the model, what it learns, downloads, the browser bundle.

Run from a checkout (the repository's Makefile and pyproject.toml beside the
package), the defaults are the checkout's own folders -- ``models/``,
``data/``, ``.cache/models/``, ``.cache/``, ``dist/web/`` -- as ``make run`` and the
tests expect. Installed from a wheel, they are the user's folders (XDG):
``$XDG_DATA_HOME/llm-runner-router`` (``~/.local/share/...``) for data, with
the models in its ``models/``, and ``$XDG_CACHE_HOME/llm-runner-router`` for
downloads and what builds keep: never under site-packages, never the current folder.

Each can be moved: ``LLM_ROUTER_DATA_DIR`` (the ``--data-dir`` option sets
it), ``LLM_ROUTER_MODELS_DIR``, ``LLM_ROUTER_CACHE_DIR``, ``LLM_ROUTER_WEB_DIR``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["APP_NAME", "build_cache_dir", "cache_dir", "checkout_root", "data_dir", "models_dir", "web_dir"]

APP_NAME: Final = "llm-runner-router"
_HERE: Final = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The repository this package runs from, or None when it is installed."""
    root = _HERE.parent
    return root if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file() else None


def _xdg(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    base = environ.get(variable)
    return Path(base) if base and Path(base).is_absolute() else Path.home() / fallback


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Learned state (router.db) and, when installed, the models."""
    if environ.get("LLM_ROUTER_DATA_DIR"):
        return Path(environ["LLM_ROUTER_DATA_DIR"])
    root = checkout_root()
    return root / "data" if root is not None else _xdg(environ, "XDG_DATA_HOME", ".local/share") / APP_NAME


def models_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("LLM_ROUTER_MODELS_DIR"):
        return Path(environ["LLM_ROUTER_MODELS_DIR"])
    root = checkout_root()
    return root / "models" if root is not None else data_dir(environ) / "models"


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Downloads kept to be used again (the model's wheel)."""
    if environ.get("LLM_ROUTER_CACHE_DIR"):
        return Path(environ["LLM_ROUTER_CACHE_DIR"])
    root = checkout_root()
    return root / ".cache" / "models" if root is not None else _xdg(environ, "XDG_CACHE_HOME", ".cache") / APP_NAME


def build_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """What builds run here keep between runs: the browser model's build environment (``model-venv/``)
    and intermediates (``browser-model/``). The checkout's ``.cache/``; installed (or moved), cache_dir()."""
    if environ.get("LLM_ROUTER_CACHE_DIR"):
        return Path(environ["LLM_ROUTER_CACHE_DIR"])
    root = checkout_root()
    return root / ".cache" if root is not None else cache_dir(environ)


def web_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The browser bundle (``make web`` builds it into the checkout's dist/web)."""
    if environ.get("LLM_ROUTER_WEB_DIR"):
        return Path(environ["LLM_ROUTER_WEB_DIR"])
    root = checkout_root()
    return root / "dist" / "web" if root is not None else data_dir(environ) / "web"
