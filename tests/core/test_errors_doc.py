"""docs/errors.md is generated from the catalogue and must not go stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import CATEGORIES, Recovery, Severity
from llm_runner_router.core.errors_doc import CATEGORY_TITLES, RECOVERY_DESCRIPTIONS, SEVERITY_DESCRIPTIONS, render_markdown

# tests/core/test_errors_doc.py -> the repository root
ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "errors.md"


def test_docs_errors_md_is_up_to_date() -> None:
    if not DOC.is_file():
        # Inside Pyodide only tests/ and core/ are copied: there is no docs/ to compare with.
        pytest.skip(f"{DOC} is not present (tests running outside a checkout, e.g. in Pyodide)")
    current = DOC.read_text(encoding="utf-8")
    assert current == render_markdown(), "docs/errors.md is stale: run `python build/gen_error_docs.py`"


def test_render_is_deterministic() -> None:
    assert render_markdown() == render_markdown()


def test_every_code_appears_once_in_its_table_row() -> None:
    text = render_markdown()
    for spec in catalogue.ALL.values():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{spec.code}` |")]
        assert len(rows) == 1, spec.code
        row = rows[0]
        assert f"`{spec.name}`" in row
        assert spec.message in row
        assert f"| {spec.http_status} |" in row
        assert f"`{spec.recovery.value}`" in row
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == ("yes" if spec.retryable else "no")
        assert cells[6] == ("yes" if spec.blames_backend else "no")


def test_sections_in_category_order() -> None:
    text = render_markdown()
    positions = [text.index(f"\n## {category}\n") for category in CATEGORIES]
    assert positions == sorted(positions)
    # Each code sits under its own category's heading.
    for spec in catalogue.ALL.values():
        at = text.index(f"| `{spec.code}` |")
        heading = text.rindex("\n## ", 0, at)
        assert text[heading:].startswith(f"\n## {spec.category}\n"), spec.code


def test_intro_tables_cover_every_severity_and_recovery() -> None:
    text = render_markdown()
    assert "`LLM_<CATEGORY>_<NNN>_<SEVERITY>`" in text
    for severity in Severity:
        assert severity in SEVERITY_DESCRIPTIONS
        assert f"| `{severity.value}` | {severity.name.title()} |" in text
    for recovery in Recovery:
        assert recovery in RECOVERY_DESCRIPTIONS
        assert f"| `{recovery.value}` |" in text
    for category in CATEGORIES:
        assert category in CATEGORY_TITLES


def test_markdown_table_cells_are_escaped() -> None:
    text = render_markdown()
    for line in text.splitlines():
        if line.startswith("| `LLM_"):
            # 7 columns: 8 unescaped pipes.
            assert line.replace("\\|", "").count("|") == 8, line
    assert text.endswith("\n") and not text.endswith("\n\n")
