"""Request ids, JSON access logs, and the last line of defence: no stack trace ever reaches a client."""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llm_runner_router.core import jsonlog
from llm_runner_router.core.classify import classify

from ..request_io import clip, error_response

__all__ = ["RequestContext"]

_log = jsonlog.get_logger("llm_runner_router.edge.app")
_access = jsonlog.get_logger("llm_runner_router.edge.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = bytes(value).decode("latin-1")
            if 0 < len(text) <= 128 and all(c.isalnum() or c in "-_.:" for c in text):
                return text
            break
    return uuid.uuid4().hex


class RequestContext:
    """Request ids, JSON access logs, and the last line of defence: no stack trace ever reaches a client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope["request_id"] = rid
        started = time.monotonic()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        with jsonlog.log_context(request_id=rid, component="edge_server"):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                err = classify(exc)
                _log.error("unhandled error", error=err, path=clip(scope.get("path"), 2048))
                if status == 0:
                    response = error_response(err, rid)
                    await response(scope, receive, send_with_id)
            finally:
                _access.info(
                    "request",
                    method=clip(scope.get("method"), 32),
                    path=clip(scope.get("path"), 2048),
                    status=status,
                    duration_ms=round((time.monotonic() - started) * 1000, 2),
                )
