"""User docs stay true: their examples must parse and name real things."""

from __future__ import annotations

import re
from pathlib import Path

import core
from core.config import Settings
from core.strategies import strategy_names

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_core_doc_configuration_example_is_valid() -> None:
    text = (DOCS / "core.md").read_text()
    (toml,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    settings = Settings.from_toml(toml)
    assert settings.aliases["chat"].deployments == ("local-small", "cloud-large")
    assert settings.aliases["chat"].hedge_after is None


def test_core_doc_names_every_builtin_strategy() -> None:
    text = (DOCS / "core.md").read_text()
    for name in strategy_names():
        if name != "reverse":  # registered by a test
            assert f"`{name}`" in text


def test_core_doc_python_example_uses_public_names() -> None:
    text = (DOCS / "core.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, re.S)
    imported = re.search(r"from core import (.*)", example)
    assert imported is not None
    for name in imported.group(1).split(","):
        assert name.strip() in core.__all__
