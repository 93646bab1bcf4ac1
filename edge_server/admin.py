"""The operations surface: /health, /api/status, /api/diagnostics and /api/heal
(behind the API key), /metrics and /openapi.json."""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from llm_runner_router.core import catalogue
from llm_runner_router.core.store import Store

from .openapi import openapi_document
from .request_io import read_body, state_of
from .state import EdgeState
from .validation import parse_body

__all__ = ["api_diagnostics", "api_heal", "api_status", "health", "key_matches", "metrics", "openapi_json", "status_payload"]


async def health(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse({"status": "ok", "uptime_s": round(time.monotonic() - state.started, 3)})


def status_payload(state: EdgeState) -> dict[str, Any]:
    router_status = state.router.status()
    backends = {}
    for name, backend in state.backends.items():
        info: dict[str, Any] = {"kind": type(backend).__name__}
        if hasattr(backend, "loaded"):
            info["loaded"] = bool(backend.loaded)
        batch = backend.batch_status() if hasattr(backend, "batch_status") else None
        if batch is not None:
            info["batch"] = batch
        backends[name] = info
    return {
        "status": "ok",
        "uptime_s": round(time.monotonic() - state.started, 3),
        "models": sorted(state.router.settings.aliases),
        "backends": backends,
        "queue": {
            "active": state.admission.active,
            "waiting": state.admission.waiting,
            "max_concurrency": state.admission.max_concurrency,
            "queue_size": state.admission.queue_size,
            "rejected": state.admission.rejected,
        },
        "monitor": state.monitor.summary() if state.monitor is not None else None,
        "connections": state.connections.as_dict() if state.connections is not None else None,
        **router_status,
    }


async def api_status(request: Request) -> Response:
    return JSONResponse(status_payload(state_of(request)))


def key_matches(given: str, key: str) -> bool:
    """Whether a presented key is the server's, compared in constant time.

    hmac.compare_digest takes as long for a key wrong in its first character
    as for one wrong in its last, so response times do not tell a prober how
    much of a guess was right. Header values reach us decoded as Latin-1:
    encoding them back gives the bytes the client sent, which are compared
    with the key's UTF-8 bytes (a non-ASCII key sent as UTF-8 matches).
    """
    raw = given.encode("utf-8") if any(ord(c) > 0xFF for c in given) else given.encode("latin-1")
    return hmac.compare_digest(raw, key.encode("utf-8"))


def _authorized(request: Request, key: str | None) -> bool:
    """The key from ``x-api-key``, else ``Authorization: Bearer``. An x-api-key header that
    is present decides alone, even when empty or wrong: no second chance with the other."""
    if not key:
        return False
    given = request.headers.get("x-api-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if not given:
        return False
    return key_matches(given, key)


def _require_key(request: Request) -> None:
    state = state_of(request)
    if not _authorized(request, state.api_key):
        why = "set LLM_ROUTER_API_KEY on the server to enable this endpoint" if not state.api_key else "missing or invalid API key"
        raise catalogue.AUTH_FAILED.error(why)


async def api_diagnostics(request: Request) -> Response:
    _require_key(request)
    state = state_of(request)
    out = {
        "status": status_payload(state),
        "metrics": state.router.metrics.full_summary(),
        "store": _store_info(state.store),
    }
    if state.monitor is not None:
        out["monitor"] = state.monitor.diagnostics()
    return JSONResponse(out)


def _store_info(store: Store) -> dict[str, Any]:
    info: dict[str, Any] = {"kind": type(store).__name__}
    for attr in ("path", "recovered_from"):
        value = getattr(store, attr, None)
        if value is not None:
            info[attr] = str(value)
    counts = getattr(store, "counts", None)
    if callable(counts):
        info["records"] = counts()
    return info


async def api_heal(request: Request) -> Response:
    _require_key(request)
    state = state_of(request)
    body = await read_body(request)
    actions: list[str] | None = None
    if body.strip():
        data = parse_body(body)
        raw = data.get("actions")
        if raw is not None:
            if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
                raise catalogue.VAL_WRONG_TYPE.error("actions: must be an array of action names", field="actions")
            actions = raw
    if state.monitor is None:
        raise catalogue.CORE_HEALING_FAILED.error("the self-healing monitor is not running")
    report = await state.monitor.heal(actions, reason="api")
    return JSONResponse(report)


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def metrics(request: Request) -> Response:
    state = state_of(request)
    if state.monitor is not None:
        state.monitor.update_gauges()
    return PlainTextResponse(state.router.metrics.registry.render_prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8")
