"""web/lib/catalogue.js is generated from core/catalogue.py, and no other file in web/ spells a code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors_doc import render_javascript, spec_names

ROOT = Path(__file__).resolve().parent.parent.parent
GENERATED = ROOT / "web" / "lib" / "catalogue.js"
CODE = re.compile(r"LLM_[A-Z]+_\d{3}_[IWECF]")


def test_catalogue_js_is_up_to_date() -> None:
    stale = "web/lib/catalogue.js is stale: run `python build/gen_error_docs.py`"
    assert GENERATED.read_text(encoding="utf-8") == render_javascript(), stale


def test_every_spec_has_its_catalogue_name() -> None:
    names = spec_names()
    assert len(names) == len(catalogue.ALL)
    assert all(getattr(catalogue, name) is spec for name, spec in names.items())


def test_no_file_in_web_spells_a_code() -> None:
    spelled = []
    for path in sorted((ROOT / "web").rglob("*")):
        if path == GENERATED or not path.is_file() or "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        spelled += [f"{path.relative_to(ROOT)}: {m.group()}" for m in CODE.finditer(text)]
    assert spelled == [], "import the code from web/lib/catalogue.js (CODES.<NAME>) instead"


def test_the_page_reads_the_same_catalogue_as_python() -> None:
    script = f"import('{GENERATED.as_uri()}').then((m) => console.log(JSON.stringify({{codes: m.CODES, all: m.CATALOGUE}})))"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout
    data = json.loads(out)
    assert data["codes"] == {name: spec.code for name, spec in spec_names().items()}
    for name, spec in spec_names().items():
        entry = data["all"][name]
        assert (entry["code"], entry["severity"], entry["retryable"], entry["http"], entry["summary"]) == (
            spec.code,
            spec.severity.value,
            spec.retryable,
            spec.http_status,
            spec.message,
        )
