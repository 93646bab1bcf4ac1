"""CORS for the origins in server.cors_origins, with coded refusals; the bundle's files are not the API's."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from llm_runner_router.core import catalogue, jsonlog

from ..bundle import is_api_path
from ..request_io import error_response

__all__ = ["CORS"]


class CORS(CORSMiddleware):
    """Starlette's CORS for the configured origins, refusing a preflight with our coded
    error (``LLM_AUTH_005_E``, 403) instead of its plain-text 400. Requests from other
    origins still reach the app (a server cannot stop a page sending them) but get no
    CORS headers, so the browser keeps the answer from the page.

    Only the API: a request for a file of the browser bundle (a path no route in
    ``routes`` has, outside the API's prefixes) goes straight to the app, whose
    bundle lets any origin read its files (bundle.py)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str], routes: Collection[str] = ()) -> None:
        self._routes = frozenset(routes)
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "X-LLM-Deployment"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and not is_api_path(path) and path not in self._routes:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        origin = request_headers.get("origin", "")
        method = request_headers.get("access-control-request-method", "")
        if self.is_allowed_origin(origin):
            err = catalogue.VAL_UNSUPPORTED.error(f"method {method!r} is not allowed", field="access-control-request-method")
        else:
            err = catalogue.AUTH_ORIGIN_NOT_ALLOWED.error(f"origin {origin[:200]!r} is not in server.cors_origins", origin=origin[:200])
        return error_response(err, str(jsonlog.current_context().get("request_id", "")))
