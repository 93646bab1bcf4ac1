"""web/lib/deployments.js is generated from the Python names, and no other JavaScript spells one."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from llm_runner_router.core.capabilities import ENGINES
from llm_runner_router.web import deployments
from llm_runner_router.web.deployments import CACHE, EDGE, LOCAL_PREFIX, engine_of, local, render_javascript

ROOT = Path(__file__).resolve().parent.parent.parent
GENERATED = ROOT / "web" / "lib" / "deployments.js"
NAMES = {*ENGINES, *(local(e) for e in ENGINES), EDGE, CACHE}
# A string literal that is one of the names, or that builds a local deployment's name by hand.
ALTERNATIVES = "|".join(map(re.escape, sorted(NAMES)))
LITERAL = re.compile(rf"""(['"`])({ALTERNATIVES})\1|(['"`]){re.escape(LOCAL_PREFIX)}""")
# Reading the page's own query string (`q.get('edge')`): a parameter's name, not a deployment's.
QUERY = re.compile(r"\.(?:get|has|set|delete)\($")


def test_deployments_js_is_up_to_date() -> None:
    stale = "web/lib/deployments.js is stale: run `python build/gen_error_docs.py`"
    assert GENERATED.read_text(encoding="utf-8") == render_javascript(), stale


def test_the_page_reads_the_same_names_as_python() -> None:
    script = (
        f"import('{GENERATED.as_uri()}').then((m) => console.log(JSON.stringify("
        "{engines: m.ENGINES, deployments: m.DEPLOYMENTS, local: m.localDeployment(m.ENGINES.WASM),"
        " isLocal: [m.isLocal(m.DEPLOYMENTS.LOCAL_WEBGPU), m.isLocal(m.DEPLOYMENTS.EDGE), m.isLocal(null)]})))"
    )
    data = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout)
    assert list(data["engines"].values()) == list(ENGINES)
    assert data["deployments"] == {"LOCAL_WEBGPU": "local-webgpu", "LOCAL_WASM": "local-wasm", "EDGE": EDGE, "CACHE": CACHE}
    assert data["local"] == local("wasm") and data["isLocal"] == [True, False, False]


def test_python_names_local_deployments_one_way() -> None:
    assert [local(e) for e in ENGINES] == ["local-webgpu", "local-wasm"]
    assert [engine_of(local(e)) for e in ENGINES] == list(ENGINES)
    assert engine_of(EDGE) is None and engine_of(CACHE) is None
    assert deployments.ENGINES is ENGINES  # the core's capability plan names the engines


def test_no_other_javascript_spells_a_name() -> None:
    spelled = []
    for path in sorted((ROOT / "web").rglob("*")):
        if path == GENERATED or path.suffix not in (".js", ".mjs", ".html", ".ts"):
            continue
        text = path.read_text(encoding="utf-8")
        for m in LITERAL.finditer(text):
            if not QUERY.search(text[: m.start()]):
                line = text.count("\n", 0, m.start()) + 1
                spelled.append(f"{path.relative_to(ROOT)}:{line}: {m.group()}")
    assert spelled == [], "import the name from web/lib/deployments.js (ENGINES, DEPLOYMENTS, localDeployment) instead"
