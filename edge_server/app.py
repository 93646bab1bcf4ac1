"""The Starlette app: the routes of api.py and admin.py, the middleware, the error handlers.

Everything a request needs lives on one :class:`~edge_server.state.EdgeState`
(router, backends, store, admission, monitor). Where things live:
``state.py`` (the state and the shutdown drain), ``request_io.py`` (body,
request id, coded error responses), ``api.py`` (the OpenAI-compatible API),
``admin.py`` (operations endpoints and the API key), ``middleware/`` (request
context and access log; CORS), ``protocol.py`` (what a connection may take).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.classify import classify
from llm_runner_router.core.errors import LLMError

from . import openai_format as fmt
from .admin import api_diagnostics, api_heal, api_status, health, key_matches, metrics, openapi_json, status_payload
from .api import chat_completions, completions, models, responses
from .bundle import WebBundle
from .middleware import CORS, RequestContext
from .request_io import clip, error_response, request_id_of
from .state import EdgeState

__all__ = ["CORS", "EdgeState", "create_app", "error_response", "key_matches", "status_payload"]

_log = jsonlog.get_logger("llm_runner_router.edge.app")


async def _llm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LLMError)
    if exc.http_status >= 500 or exc.spec.category in ("RATE", "AUTH"):
        _log.warning("request failed", error=exc, path=clip(request.url.path, 2048))
    return error_response(exc, request_id_of(request))


async def _not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    spec = catalogue.VAL_UNSUPPORTED if code == 405 else catalogue.MODEL_NOT_FOUND
    what = "method not allowed" if code == 405 else f"no such endpoint: {clip(request.url.path, 200)}"
    err = spec.error(what, path=clip(request.url.path, 200))
    # A 405 carries the Allow header (RFC 9110 requires it): keep the exception's headers.
    headers = getattr(exc, "headers", None)
    return JSONResponse(fmt.error_body(err, request_id_of(request)), status_code=code, headers=headers)


def create_app(state: EdgeState) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in state.on_startup:
            await hook()
        try:
            yield
        finally:
            for hook in reversed(state.on_shutdown):
                try:
                    await hook()
                except Exception as exc:  # one failing shutdown step must not skip the rest (the store's flush)
                    _log.error("shutdown step failed", error=classify(exc))

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/api/status", api_status, methods=["GET"]),
        Route("/api/diagnostics", api_diagnostics, methods=["GET"]),
        Route("/api/heal", api_heal, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={LLMError: _llm_error, 404: _not_found, 405: _not_found},
    )
    # What no route matches (not even by path alone, which stays a 405) is the browser
    # bundle at "/": dist/web or LLM_ROUTER_WEB_DIR (see bundle.py).
    app.router.default = WebBundle()
    app.state.edge = state
    origins = state.server.cors_origins
    if origins:
        app.add_middleware(CORS, origins=origins, routes=[route.path for route in routes])
    app.add_middleware(RequestContext)  # added last, so outermost: request ids and the last line of defence cover CORS too
    return app
