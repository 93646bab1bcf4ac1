"""What every route does with its request: find the state and the request id,
read the body on its clock, answer an error with its code.

Every error leaves as OpenAI's error object with our ``LLM_*`` code and the
catalogue's HTTP status -- never a stack trace.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError

from . import openai_format as fmt
from .state import EdgeState
from .validation import MAX_BODY_BYTES

__all__ = ["clip", "error_response", "read_body", "request_id_of", "state_of"]


def _status(err: LLMError) -> int:
    # Warnings and informational codes carry 200/499 in the catalogue; when
    # one of them ends a request it still must read as a failure.
    return err.http_status if 400 <= err.http_status <= 599 else 502


def error_response(err: LLMError, request_id: str = "", extra: dict[str, Any] | None = None) -> JSONResponse:
    body = fmt.error_body(err, request_id)
    if extra:
        body["error"].update(extra)
    headers = {"Retry-After": str(max(1, round(err.retry_after)))} if err.retry_after is not None else {}
    if err.spec in _UNREAD_BODY:
        headers["Connection"] = "close"  # what is left of the body must not be read as the next request
    return JSONResponse(body, status_code=_status(err), headers=headers)


# Errors that leave part of a request body unread on the connection.
_UNREAD_BODY = (catalogue.TIMEOUT_CLIENT, catalogue.VAL_TOO_LARGE)


async def read_body(request: Request) -> bytes:
    """The request body, within MAX_BODY_BYTES and server.body_timeout (LLM_VAL_006, LLM_TIMEOUT_006)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise catalogue.VAL_TOO_LARGE.error(f"request body is {declared} bytes; the limit is {MAX_BODY_BYTES}", limit=MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    timeout = state_of(request).server.body_timeout
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise catalogue.VAL_TOO_LARGE.error(f"request body is over {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES)
                chunks.append(chunk)
    except TimeoutError:
        raise catalogue.TIMEOUT_CLIENT.error(f"the request body did not arrive within {timeout:g} s", timeout=timeout) from None
    except ClientDisconnect:
        # The client left mid-upload: nobody is there to answer, and nothing went wrong here.
        raise catalogue.CORE_CANCELLED.error("the client went away while sending the request body") from None
    return b"".join(chunks)


def state_of(request: Request) -> EdgeState:
    state: EdgeState = request.app.state.edge
    return state


def request_id_of(request: Request) -> str:
    return str(request.scope.get("request_id", ""))


def clip(value: object, limit: int) -> object:
    """A client-sent string cut to ``limit`` characters for the log, saying how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}…[{len(value)} chars]"
    return value
