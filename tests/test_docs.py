"""User docs stay true: their examples must parse and name real things."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import get_args, get_type_hints

from llm_runner_router import core
from llm_runner_router.core.config import allowed, rules_of
from llm_runner_router.core.strategies import strategy_names
from llm_runner_router.edge.settings import EdgeSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_core_doc_configuration_example_is_valid() -> None:
    text = (DOCS / "core.md").read_text()
    (toml,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    settings = EdgeSettings.from_toml(toml)  # the example shows the edge server's [server] too
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
    imported = re.search(r"from llm_runner_router.core import (.*)", example)
    assert imported is not None
    for name in imported.group(1).split(","):
        assert name.strip() in core.__all__


def _table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell (backticks dropped): the other cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0].replace("`", "")] = cells[1:]
    return rows


def test_core_doc_states_every_numbers_range() -> None:
    rows = _table_rows((DOCS / "core.md").read_text())
    sections = EdgeSettings.sections()  # the core's and the edge server's
    for section, cls in [*sections.items(), *EdgeSettings.tables().items()]:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kinds = [a for a in get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
            if not f.init or len(kinds) != 1 or kinds[0] not in (int, float):
                continue
            path = f"{section}.{f.name}" if section in sections else f"{section}.<name>.{f.name}"
            assert path in rows, f"docs/core.md does not give the range of {path}"
            bounds = allowed(rules_of(cls)[f.name], path).removeprefix("in ")
            assert rows[path][0].startswith(f"`{bounds}`"), (path, rows[path][0], bounds)


def test_edge_server_doc_states_every_provider_option() -> None:
    text = (DOCS / "edge-server.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", text, re.M))
    options = EdgeSettings.provider_options
    assert documented == {(kind, option) for kind, schema in options.items() for option in schema}
    for kind, schema in options.items():
        for option, (_, rule) in schema.items():
            if rule.le is not None:
                row = re.search(rf"^\| `{kind}` \| `{option}` \|([^\n]*)$", text, re.M)
                assert row is not None and f"`{allowed(rule, option).removeprefix('in ')}`" in row.group(1), (kind, option)
