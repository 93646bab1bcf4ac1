"""Fuzzing the edge server's HTTP API: request generators and the oracle that judges answers.

Shared by tests/edge_server/test_fuzz_api.py (a few dozen examples per
property in the normal run) and bench/reliability_security.py (thousands,
against a server process). Three sources of requests:

- the server's own OpenAPI description (``/openapi.json``): :func:`from_schema`
  turns a JSON-schema subset into a hypothesis strategy of bodies the
  description says are valid; :func:`mutated` breaks one of them in one
  place (a field dropped, retyped or set to nonsense, an unknown one added);
- :data:`RAW_BODIES`: bytes that are barely JSON or not at all (deep
  nesting, lone surrogates, huge numbers, NaN, byte-order marks, binary);
- :func:`paths_and_methods`: any method on any path.

The oracle, :func:`problems`, lists what is wrong with one answer: a 5xx,
an error without an ``LLM_*`` code from the catalogue, a status that is not
the code's, a stack trace, a 200 that does not match the description, an
event stream that does not end properly. An empty list is a pass.

For access control: the forms of a wrong key (:func:`wrong_key_forms`), a
request sent byte for byte (:func:`raw_request`), and :class:`EchoUpstream`,
an upstream that quotes the credentials it gets back in its errors.

It imports hypothesis, a ``dev`` dependency, not one of the ``server`` extra's: importing this module
where hypothesis is not installed fails, and nothing else in the package imports it.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import httpx
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llm_runner_router.core import catalogue

__all__ = [
    "CODE",
    "EchoUpstream",
    "NASTY_BODIES",
    "RAW_BODIES",
    "examples",
    "from_schema",
    "json_values",
    "mutated",
    "paths_and_methods",
    "problems",
    "raw_request",
    "resolve",
    "right_key_forms",
    "schema_errors",
    "wrong_key_forms",
]

CODE = re.compile(r"^LLM_[A-Z]+_[0-9]{3}_[IWECF]$")
_STREAM_ENDINGS = {"/v1/chat/completions": "[DONE]", "/v1/completions": "[DONE]"}


def examples(default: int) -> int:
    """Examples per property: ``default`` in the normal test run, ``LLM_FUZZ_EXAMPLES`` when set (the full reliability run)."""
    return int(os.environ.get("LLM_FUZZ_EXAMPLES") or default)


# --- JSON values ------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 2**64, 10**30]),
    st.floats(),  # NaN and infinities too: json.dumps writes them as NaN / Infinity, which Python's json reads
    st.text(max_size=30),
    # Any code point, lone surrogates included: json.dumps writes those as \ud800 escapes, which JSON allows.
    st.text(st.characters(blacklist_categories=()), max_size=10),
    st.sampled_from(["", " ", "\n", "\x00", "chat", "user", "assistant", "../../etc/passwd", "%s%n", "null", "true"]),
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value (with NaN and infinities), nested a little."""
    return st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=max_leaves,
    )


# --- from a schema ----------------------------------------------------------------------


def resolve(schema: Mapping[str, Any], doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with a ``$ref`` (to ``#/components/schemas/...``) followed."""
    while "$ref" in schema:
        node: Any = doc
        for part in str(schema["$ref"]).lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _text(schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
    longest = min(int(schema.get("maxLength", 40)), 40)
    shortest = int(schema.get("minLength", 0))
    pattern = schema.get("pattern")
    if pattern is None:
        return st.text(min_size=shortest, max_size=longest)
    # The description's patterns ask for "some character that is not white space":
    # text around one such character, rather than a filter that would throw most draws away.
    assert pattern == r"\S", f"from_schema knows only the pattern \\S, not {pattern!r}"
    visible = st.characters(blacklist_categories=["Cs", "Zs", "Zl", "Zp", "Cc"])
    around = st.text(max_size=max(0, (longest - 1) // 2))
    return st.tuples(around, visible, around).map("".join)


def from_schema(schema: Mapping[str, Any], doc: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values ``schema`` accepts. Knows the subset the server's description uses:
    $ref, oneOf, enum, type (or a list of types), properties/required, items/minItems/maxItems,
    minimum/maximum/exclusiveMinimum, minLength/maxLength and the pattern ``\\S``."""
    schema = resolve(schema, doc)
    if "oneOf" in schema:
        return st.one_of([from_schema(s, doc) for s in schema["oneOf"]])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, doc) for k in kind])
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        if not props:
            return st.dictionaries(st.text(max_size=8), _SCALARS, max_size=3)
        return st.fixed_dictionaries(
            {k: from_schema(v, doc) for k, v in props.items() if k in required},
            optional={k: from_schema(v, doc) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        low = int(schema.get("minItems", 0))
        return st.lists(from_schema(schema.get("items", {}), doc), min_size=low, max_size=max(low, min(int(schema.get("maxItems", 4)), 4)))
    if kind == "string":
        return _text(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        floats = st.floats(low, schema.get("maximum"), allow_nan=False, allow_infinity=False, exclude_min="exclusiveMinimum" in schema)
        return floats | st.integers(math.ceil(low) if low is not None else None, schema.get("maximum")).filter(
            lambda n: "exclusiveMinimum" not in schema or n > schema["exclusiveMinimum"]
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_values(4)


def schema_errors(schema: Mapping[str, Any], value: Any, doc: Mapping[str, Any], where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (the same subset as :func:`from_schema`); empty when it conforms."""
    schema = resolve(schema, doc)
    if "oneOf" in schema:
        matches = sum(not schema_errors(s, value, doc, where) for s in schema["oneOf"])
        return [] if matches == 1 else [f"{where}: matches {matches} of oneOf"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    kinds = schema.get("type")
    if kinds is None:
        return []
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks: dict[str, Callable[[Any], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    kind = next((k for k in kinds if checks[k](value)), None)
    if kind is None:
        return [f"{where}: {type(value).__name__} is not {'/'.join(kinds)}"]
    out: list[str] = []
    if kind == "object":
        out += [f"{where}: {name} is missing" for name in schema.get("required", ()) if name not in value]
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                out += schema_errors(sub, value[name], doc, f"{where}.{name}")
    elif kind == "array":
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
            out.append(f"{where}: {len(value)} items")
        for i, item in enumerate(value):
            out += schema_errors(schema.get("items", {}), item, doc, f"{where}[{i}]")
    elif kind == "string":
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
            out.append(f"{where}: length {len(value)}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{where}: does not match {schema['pattern']}")
    elif kind in ("integer", "number"):
        if value < schema.get("minimum", -math.inf) or value > schema.get("maximum", math.inf):
            out.append(f"{where}: {value} out of range")
        if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
            out.append(f"{where}: {value} not above {schema['exclusiveMinimum']}")
    return out


@st.composite
def mutated(draw: st.DrawFn, schema: Mapping[str, Any], doc: Mapping[str, Any]) -> Any:
    """A body the description accepts, then broken in one place, at any depth."""
    body = draw(from_schema(schema, doc))
    target: Any = body
    # Walk down a random path of objects and arrays, then change what is there.
    for _ in range(draw(st.integers(0, 3))):
        children = list(target.items()) if isinstance(target, dict) else list(enumerate(target)) if isinstance(target, list) else []
        children = [(k, v) for k, v in children if isinstance(v, (dict, list))]
        if not children:
            break
        target = draw(st.sampled_from(children))[1]
    how = draw(st.sampled_from(["drop", "retype", "extra", "replace_whole"]))
    if how == "replace_whole":
        return draw(json_values())
    if isinstance(target, dict) and target and how in ("drop", "retype"):
        key = draw(st.sampled_from(sorted(target)))
        if how == "drop":
            del target[key]
        else:
            target[key] = draw(json_values())
    elif isinstance(target, list) and target and how in ("drop", "retype"):
        index = draw(st.integers(0, len(target) - 1))
        if how == "drop":
            del target[index]
        else:
            target[index] = draw(json_values())
    elif isinstance(target, dict):
        # An unknown field, or one the server knows and refuses (tools, n > 1, ...).
        key = draw(st.one_of(st.text(max_size=12), st.sampled_from(["tools", "functions", "tool_choice", "logprobs", "audio", "n"])))
        target[key] = draw(json_values())
    elif isinstance(target, list):
        target.append(draw(json_values()))
    return body


# --- raw bodies, paths and methods -----------------------------------------------------

_VALID = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'
#: Bodies that broke JSON servers before: every one is sent in every run.
NASTY_BODIES: list[bytes] = [
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b"NaN",
    b"\xef\xbb\xbf" + _VALID,
    b"\xff\xfe" + _VALID,
    _VALID.replace(b"hi", b"\\ud800"),
    _VALID.replace(b"hi", b"\\udfff\\ud800"),
    _VALID.replace(b'"chat"', b'"\\ud83d"'),
    _VALID[:-1] + b', "max_tokens": 1' + b"0" * 5000 + b"}",
    _VALID[:-1] + b', "temperature": 1e999}',
    _VALID[:-1] + b', "max_tokens": NaN}',
    _VALID[:-1] + b', "model": "other"}',  # a duplicate key: the last one counts
    _VALID[:-10],
    _VALID + b"garbage",
    b'{"model": "chat", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"model": "chat", "messages": [{"role": "user", "content": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}]}",
]
RAW_BODIES: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    json_values().map(lambda v: json.dumps(v).encode()),
    st.sampled_from(NASTY_BODIES),
)

_PATHS = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/models",
    "/health",
    "/api/status",
    "/api/diagnostics",
    "/api/heal",
    "/metrics",
    "/openapi.json",
    "/",
    "/index.html",
    "/v1",
    "/v1/",
    "/api",
    "/v2/chat/completions",
    "/v1/chat/completions/",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2fpyproject.toml",
    "/%00",
    "/v1/%ff",
]
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def paths_and_methods() -> st.SearchStrategy[tuple[str, str]]:
    """(method, path): known paths and any path, every method."""
    segment = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="?#%/"), min_size=1, max_size=12)
    any_path = st.lists(segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
    return st.tuples(st.sampled_from(_METHODS), st.one_of(st.sampled_from(_PATHS), any_path))


# --- the oracle --------------------------------------------------------------------------


def _error_problems(status: int, body: bytes) -> list[str]:
    try:
        error = json.loads(body)["error"]
        code = error["code"]
    except (ValueError, KeyError, TypeError):
        return [f"{status} without an LLM_ code: {body[:120]!r}"]
    if not isinstance(code, str) or not CODE.match(code) or code not in catalogue.ALL:
        return [f"{status} with {code!r}, not a catalogue code"]
    spec = catalogue.ALL[code]
    out = []
    # A method that the path does not take is 405 by HTTP's rules, with the unsupported-value code.
    if status != spec.http_status and not (status == 405 and spec is catalogue.VAL_UNSUPPORTED):
        out.append(f"{status} for {code}, whose status is {spec.http_status}")
    if error.get("type") != spec.category.lower():
        out.append(f"{code} with type {error.get('type')!r}")
    return out


def _stream_problems(path: str, body: bytes) -> list[str]:
    data = [line[5:].strip() for line in body.decode("utf-8", "replace").splitlines() if line.startswith("data:")]
    out: list[str] = []
    objects = []
    for item in data:
        if item == "[DONE]":
            continue
        try:
            objects.append(json.loads(item))
        except ValueError:
            out.append(f"a stream data line that is not JSON: {item[:80]!r}")
    for obj in objects:
        error = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(error, dict) and not CODE.match(str(error.get("code", ""))):
            out.append(f"a stream error without an LLM_ code: {error}")
    expected_end = _STREAM_ENDINGS.get(path)
    if expected_end is not None and (not data or data[-1] != expected_end):
        out.append(f"a stream that does not end with {expected_end}: {data[-1:]!r}")
    if path == "/v1/responses":
        kinds = [o.get("type") for o in objects if isinstance(o, dict)]
        if not kinds or kinds[-1] not in ("response.completed", "response.failed", "error"):
            out.append(f"a responses stream that does not end with its last event: {kinds[-1:]!r}")
    return out


def problems(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    doc: Mapping[str, Any] | None = None,
) -> list[str]:
    """What is wrong with one answer (empty: nothing). ``doc``: the OpenAPI description, to check 200 answers against."""
    out: list[str] = []
    if status >= 500:
        out.append(f"{status} (a server error) for {method} {path}")
    if b"Traceback (most recent call last)" in body or b'File "/' in body:
        out.append("a stack trace in the answer")
    content_type = headers.get("content-type", "")
    if status >= 400 and method != "HEAD":
        out += _error_problems(status, body)
    elif status == 200 and method == "POST" and content_type.startswith("text/event-stream"):
        out += _stream_problems(path, body)
    elif status == 200 and method in ("GET", "POST") and doc is not None and content_type.startswith("application/json"):
        operation = doc["paths"].get(path, {}).get(method.lower())
        if operation is not None:
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            out += [f"200 that breaks the description: {e}" for e in schema_errors(schema, json.loads(body), doc)[:3]]
    return out


# --- access control -----------------------------------------------------------------------

Headers = list[tuple[str, str]]


def echo_rig_document(healthy: str, hostile: str) -> dict[str, Any]:
    """Settings for a server with a healthy upstream (alias ``chat``) and a hostile one that
    quotes our credentials back (aliases ``echo-401``, ``echo-500``, ``echo-stream``):
    one attempt, no cache, breakers that never open. A fresh dict: callers adjust it."""
    echo = {"provider": "hostile", "accepts_prefix": False}
    return {
        "retry": {"max_attempts": 1, "deadline": 20},
        "cache": {"enabled": False},
        "breaker": {"failure_threshold": 1000, "min_calls": 1000},
        "monitor": {"health_check_interval": 3600},
        "server": {},
        "providers": {
            "up": {"kind": "openai", "base_url": healthy},
            "hostile": {"kind": "openai", "base_url": hostile, "api_key_env": "HOSTILE_KEY"},
        },
        "deployments": {
            "d": {"provider": "up", "model": "fault-model", "accepts_prefix": True},
            "e401": {**echo, "model": "echo-401"},
            "e500": {**echo, "model": "echo-500"},
            "estream": {**echo, "model": "echo-stream"},
        },
        "aliases": {
            "chat": {"deployments": ["d"]},
            "echo-401": {"deployments": ["e401"]},
            "echo-500": {"deployments": ["e500"]},
            "echo-stream": {"deployments": ["estream"]},
        },
    }


def wrong_key_forms(key: str) -> list[tuple[str, Headers]]:
    """Every form of a wrong or missing key tried on the admin endpoints: (name, headers)."""
    return [
        ("no header", []),
        ("empty x-api-key", [("x-api-key", "")]),
        ("blank x-api-key", [("x-api-key", "   ")]),
        ("wrong key", [("x-api-key", "nope")]),
        ("key minus its last character", [("x-api-key", key[:-1])]),
        ("key plus a character", [("x-api-key", key + "0")]),
        ("key in another case", [("x-api-key", key.swapcase())]),
        ("key wrong in its first character", [("x-api-key", ("X" if key[0] != "X" else "Y") + key[1:])]),
        ("key twice", [("x-api-key", key + key)]),
        ("Bearer inside x-api-key", [("x-api-key", f"Bearer {key}")]),
        ("Authorization without a scheme", [("authorization", key)]),
        ("Authorization: Basic", [("authorization", f"Basic {key}")]),
        ("Authorization: Token", [("authorization", f"Token {key}")]),
        ("Authorization: Bearer with no key", [("authorization", "Bearer")]),
        ("Authorization: Bearer and spaces", [("authorization", "Bearer    ")]),
        ("Authorization: Bearer wrong", [("authorization", "Bearer nope")]),
        ("Bearer glued to the key", [("authorization", f"Bearer{key}")]),
        ("api-key header", [("api-key", key)]),
        ("x-api_key header", [("x-api_key", key)]),
        ("cookie", [("cookie", f"api_key={key}")]),
        ("wrong x-api-key beside a right Bearer", [("x-api-key", "nope"), ("authorization", f"Bearer {key}")]),
        ("empty x-api-key beside a right Bearer", [("x-api-key", ""), ("authorization", f"Bearer {key}")]),
    ]


def right_key_forms(key: str) -> list[tuple[str, Headers]]:
    return [
        ("x-api-key", [("x-api-key", key)]),
        ("X-API-KEY", [("X-API-KEY", key)]),
        ("Bearer", [("authorization", f"Bearer {key}")]),
        ("bearer, lower case", [("authorization", f"bearer {key}")]),
    ]


def raw_request(url: str, method: str, path: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> httpx.Response:
    """One request with the path and header values sent exactly as written (httpx would
    resolve dot segments and refuse a header value with spaces at its end)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value.encode("utf-8"))
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        conn.close()


class EchoUpstream:
    """A hostile OpenAI-compatible upstream: whatever Authorization it gets, it quotes back.

    By the model asked for: ``echo-401`` a 401 quoting it, ``echo-500`` a 500 quoting every
    request header, anything else a stream that fails with an error event quoting it.
    ``seen`` is every Authorization header it got.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            with self._lock:
                self.seen.append(auth)
            model = (await request.json()).get("model")
            headers = dict(request.headers)
            if model == "echo-401":
                return JSONResponse({"error": {"message": f"Incorrect API key provided: {auth}", "type": "invalid_request_error"}}, 401)
            if model == "echo-500":
                return JSONResponse({"error": {"message": f"internal error, request headers were {headers}"}, "headers": headers}, 500)

            async def events() -> AsyncIterator[bytes]:
                yield b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
                error = {"error": {"message": f"stream failed for {auth}", "code": 500, "auth": auth}}
                yield f"data: {json.dumps(error)}\n\n".encode()

            return StreamingResponse(events(), media_type="text/event-stream")

        async def models(request: Request) -> Response:
            return JSONResponse({"object": "list", "data": []})

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])
