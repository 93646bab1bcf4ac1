"""The browser bundle (dist/web, made by ``make web``) served at ``/``.

The API keeps its paths (/v1, /api, /health, /metrics): a path under one of
them that no route matched gets the API's coded JSON 404, never a bundle file.
Every bundle response carries the cross-origin isolation headers that WASM
threads need (COOP same-origin + COEP require-corp), a MIME type browsers
accept for modules and streaming WASM compilation, and
``Cache-Control: no-cache`` (the files are not content-hashed; ETag and
Last-Modified make revalidation cheap; the service worker versions its cache
by build.json). Range requests work (Starlette's FileResponse). No dotfile is
served (``/.env``, ``/.git/config``: any path segment starting with "."), and a
file that cannot be looked up (a symlink loop) is the coded 404, not a 500.

The bundle's files are public and may be loaded by a page on any origin (the
<llm-chat> widget embedded in another site): they carry
``Cross-Origin-Resource-Policy: cross-origin`` (a cross-origin isolated page
may load them too) and ``Access-Control-Allow-Origin: *`` without credentials
(module scripts, fetch), their 404s included, and a CORS preflight for one is
answered here, whatever ``server.cors_origins`` says. The API is not the
bundle: its CORS is the configured origins' only (middleware/cors.py), and the
API's answers carry none of these headers.

The directory is paths.web_dir(): ``LLM_ROUTER_WEB_DIR``, <repo>/dist/web in a
checkout, else the data folder's ``web/``. When it does not exist, ``/``
answers with a short page saying how to get it.
"""

from __future__ import annotations

import html
import mimetypes
import os
from pathlib import Path

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from . import paths

__all__ = ["API_PREFIXES", "SECURITY_HEADERS", "STATIC_CORS", "WebBundle", "content_type", "is_api_path"]

API_PREFIXES = ("/v1", "/api", "/health", "/metrics")

SECURITY_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}
# Any origin may read the bundle's files (no credentials: none are needed, and "*" forbids them).
STATIC_CORS = {"Access-Control-Allow-Origin": "*"}
_PREFLIGHT = {
    **STATIC_CORS,
    "Access-Control-Allow-Methods": "GET, HEAD",
    "Access-Control-Max-Age": "86400",
}

# Set here rather than left to the mimetypes module, whose table depends on the
# Python version and the host's /etc/mime.types (.mjs and .wasm are not everywhere).
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".onnx": "application/octet-stream",
    ".data": "application/octet-stream",
    ".q4": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

_MISSING_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>llm-runner-router: no web bundle</title>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>The web bundle is not built</h1>
<p>The demo pages are served from <code>{directory}</code>, which is empty: run <code>llm-runner-router web-bundle</code>
(in a checkout: <code>make web</code>), then reload.</p>
<p>The API is up: <a href="/health">/health</a>, <a href="/api/status">/api/status</a>, <code>/v1/chat/completions</code>.</p>
</body></html>
"""


def content_type(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def is_api_path(path: str) -> bool:
    """Whether a path is the API's (under /v1, /api, /health, /metrics): never a bundle file."""
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


def _hidden(path: str) -> bool:
    """Whether a relative path has a segment that starts with "." (``.env``, ``.git/config``, ``..``)."""
    return any(part.startswith(".") and part != "." for part in path.replace("\\", "/").split("/"))


class _Files(StaticFiles):
    """StaticFiles with our MIME types (its own guess is the platform's), that serves no
    dotfile (a segment starting with ".", asked for or reached through a symlink) and
    answers every failure to look a file up (a symlink loop, a name too long, no
    permission: any OSError) with the coded 404, never a 500."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if _hidden(path):
            raise HTTPException(404)
        try:
            full_path, stat_result = super().lookup_path(path)
            where = os.path.relpath(full_path, os.path.realpath(self.directory or ".")) if full_path else ""
        except (OSError, ValueError):  # ELOOP, ENAMETOOLONG, EACCES, a NUL in the name...
            raise HTTPException(404) from None
        if _hidden(where):  # a symlink in the bundle that leads to a dotfile in it
            raise HTTPException(404)
        return full_path, stat_result

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["content-type"] = content_type(os.fspath(full_path))
        return response


class WebBundle:
    """ASGI app for the bundle, mounted at ``/`` after the API routes."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or paths.web_dir()
        self._files: StaticFiles | None = None

    def _static(self) -> StaticFiles | None:
        if not self.directory.is_dir():
            self._files = None
            return None
        if self._files is None:
            self._files = _Files(directory=self.directory, html=True, follow_symlink=False)
        return self._files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if scope["type"] != "http" or is_api_path(path):
            raise HTTPException(404)  # the app's handler answers with the coded JSON error
        cache = "no-cache"
        request_headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers:
            # A CORS preflight for a file (a fetch with a Range header, say): any origin may.
            asked = request_headers.get("access-control-request-headers", "")[:1000]
            headers = {**_PREFLIGHT, **({"Access-Control-Allow-Headers": asked} if asked else {})}
            await Response(status_code=204, headers={**SECURITY_HEADERS, **headers})(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers += [(k.lower().encode(), v.encode()) for k, v in {**SECURITY_HEADERS, **STATIC_CORS}.items()]
                headers.append((b"cache-control", cache.encode()))
                message["headers"] = headers
            await send(message)

        files = self._static()
        if files is None:
            if path not in ("/", "/index.html"):
                raise HTTPException(404)
            cache = "no-store"
            page = HTMLResponse(_MISSING_PAGE.format(directory=html.escape(str(self.directory))), status_code=503)
            await page(scope, receive, send_with_headers)
            return
        try:
            await files(scope, receive, send_with_headers)
        except HTTPException as exc:
            # The app's handler answers (the coded JSON 404); a page on another origin may read it too.
            raise HTTPException(exc.status_code, exc.detail, headers={**(exc.headers or {}), **STATIC_CORS, **SECURITY_HEADERS}) from None
