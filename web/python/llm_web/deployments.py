"""The page's deployment names: the one place Python and JavaScript take them from.

The page router (:mod:`.page_router`) names each local engine's deployment
``local-<engine>`` (``local-webgpu``, ``local-wasm``), the edge server's
``edge``; the core's router names an answer served from its fallback cache
``cache``. JavaScript reads the same names from ``web/lib/deployments.js``,
which ``python build/gen_error_docs.py`` writes from this module (``--check``
fails when it is stale), so no JavaScript file spells one by hand
(tests/build/test_deployments_js.py).
"""

from __future__ import annotations

import json
from typing import Final

from llm_runner_router.core.capabilities import ENGINES, MAX_WASM_THREADS

__all__ = ["CACHE", "EDGE", "ENGINES", "LOCAL_PREFIX", "engine_of", "local", "render_javascript"]

LOCAL_PREFIX: Final = "local-"
# The edge server, added by runtime.js after the local engines.
EDGE: Final = "edge"
# What core/router.py calls the deployment of an answer its fallback cache gave.
CACHE: Final = "cache"


def local(engine: str) -> str:
    """The deployment of a local engine: ``local("wasm") == "local-wasm"``."""
    return LOCAL_PREFIX + engine


def engine_of(deployment: str) -> str | None:
    """The local engine a deployment runs on, or None for another (the edge, the cache)."""
    return deployment.removeprefix(LOCAL_PREFIX) if deployment.startswith(LOCAL_PREFIX) else None


def render_javascript() -> str:
    """web/lib/deployments.js: the names above, for the page's JavaScript."""
    engines = {name.upper(): name for name in ENGINES}
    deployments = {f"LOCAL_{name.upper()}": local(name) for name in ENGINES} | {"EDGE": EDGE, "CACHE": CACHE}

    def table(names: dict[str, str]) -> list[str]:
        return [f"  {key}: {json.dumps(value)}," for key, value in names.items()]

    engine_type = "|".join(json.dumps(name).replace('"', "'") for name in ENGINES)
    lines = [
        "// @ts-check",
        "// Generated from web/python/llm_web/deployments.py by build/gen_error_docs.py -- do not edit.",
        "// The page's engine and deployment names, the same as the Python router's: import them, never spell one.",
        "",
        f"/** @typedef {{{engine_type}}} Engine a local engine (also its onnxruntime-web execution provider and model variant) */",
        "",
        "/** The local engines by name, in the default order of preference. */",
        "export const ENGINES = Object.freeze({",
        *table(engines),
        "});",
        "",
        "/** The deployments the page's router answers from. */",
        "export const DEPLOYMENTS = Object.freeze({",
        *table(deployments),
        "});",
        "",
        f"export const LOCAL_PREFIX = {json.dumps(LOCAL_PREFIX)};",
        "",
        "/** The most WASM threads the core's plan gives an engine (core/capabilities.py). */",
        f"export const MAX_WASM_THREADS = {MAX_WASM_THREADS};",
        "",
        "/**",
        " * The deployment of a local engine: localDeployment(ENGINES.WASM) === DEPLOYMENTS.LOCAL_WASM.",
        " * @param {string} engine",
        " */",
        "export function localDeployment(engine) {",
        "  return `${LOCAL_PREFIX}${engine}`;",
        "}",
        "",
        "/**",
        " * Whether a deployment runs on this device.",
        " * @param {string | null | undefined} deployment",
        " */",
        "export function isLocal(deployment) {",
        "  return typeof deployment === 'string' && deployment.startsWith(LOCAL_PREFIX);",
        "}",
        "",
    ]
    return "\n".join(lines)
