"""Fuzzing the HTTP API of the real edge server, from its own OpenAPI description.

One server for the module: the real app under uvicorn on 127.0.0.1, in front
of a healthy fault-provider upstream (also real HTTP), with an API key, a
CORS origin and a small web bundle. Requests come from hypothesis:

- bodies the description (``/openapi.json``) says are valid must be answered
  200, and the answer must match the description;
- the same bodies broken in one place, raw bytes, any method on any path and
  odd headers must never get a 5xx, and every error must carry a catalogue
  ``LLM_*`` code with that code's status (edge_server/testing/api_fuzz.py: the oracle).

Examples per property: a few dozen here; ``LLM_FUZZ_EXAMPLES=N`` for more
(bench/reliability_security.py sends thousands to a server process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge.app import create_app
from llm_runner_router.edge.compose import build_state
from llm_runner_router.edge.settings import EdgeSettings
from llm_runner_router.edge.store import SQLiteStore
from llm_runner_router.edge.testing import api_fuzz as fz
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ThreadServer
from llm_runner_router.edge.validation import parse_body, parse_chat, parse_completion, parse_responses

KEY = "fuzz-admin-key-0123456789"
ORIGIN = "https://app.example"
GENERATING = {"/v1/chat/completions": "ChatCompletionRequest", "/v1/completions": "CompletionRequest", "/v1/responses": "ResponsesRequest"}
PARSERS = {"/v1/chat/completions": parse_chat, "/v1/completions": parse_completion, "/v1/responses": parse_responses}

FUZZ = settings(
    max_examples=fz.examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def edge_settings(base_url: str) -> EdgeSettings:
    return EdgeSettings.from_dict(
        {
            "retry": {"max_attempts": 1, "deadline": 20},
            "cache": {"enabled": False},
            "monitor": {"health_check_interval": 3600, "max_concurrency": 4, "queue_size": 16},
            "server": {"cors_origins": [ORIGIN]},
            "providers": {"up": {"kind": "openai", "base_url": base_url, "read_timeout": 20}},
            "deployments": {"d": {"provider": "up", "model": "fault-model", "accepts_prefix": True, "context_window": 1_000_000}},
            "aliases": {"chat": {"deployments": ["d"]}},
        }
    )


class Api:
    def __init__(self, url: str, app: Any) -> None:
        self.app = app
        self.http = httpx.Client(base_url=url, timeout=30)
        self.doc: dict[str, Any] = self.http.get("/openapi.json").json()

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> list[str]:
        """The oracle's complaints about one request's answer."""
        response = self.http.request(method, path, content=body, headers=headers)
        return fz.problems(method, path, response.status_code, response.headers, response.content, self.doc)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("fuzz-api")
    web = tmp / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>bundle</title>")
    with fp.FaultProvider(answer="one two three four five six", model="fault-model") as upstream, pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLM_ROUTER_WEB_DIR", str(web))
        state = build_state(edge_settings(upstream.base_url), store=SQLiteStore(tmp / "r.db"), api_key=KEY)
        app = create_app(state)
        with ThreadServer(app) as server:
            api = Api(server.url, app)
            yield api
            # However it was treated, the server is still up and answering.
            assert api.http.get("/health").status_code == 200
            api.http.close()


# --- the description -----------------------------------------------------------------------


def test_the_description_lists_every_route_with_its_methods(api: Api) -> None:
    app_routes = {r.path: (r.methods or set()) - {"HEAD"} for r in api.app.routes if isinstance(r, Route)}
    described = {path: {m.upper() for m in ops} for path, ops in api.doc["paths"].items()}
    assert described == app_routes
    assert api.doc["openapi"].startswith("3.1")
    # Every documented error status is one some catalogue code has.
    statuses = {spec.http_status for spec in catalogue.ALL.values()}
    for path, ops in api.doc["paths"].items():
        for op in ops.values():
            for status in op["responses"]:
                assert status == "200" or int(status) in statuses, (path, status)


# --- the request models, without HTTP: the description and the validation agree ---------------


@pytest.mark.parametrize("path", sorted(GENERATING))
def test_fuzz_every_body_the_description_accepts_the_validation_accepts(api: Api, path: str) -> None:
    schema = {"$ref": "#/components/schemas/" + GENERATING[path]}

    @settings(FUZZ, max_examples=fz.examples(60))
    @given(body=fz.from_schema(schema, api.doc))
    def check(body: dict[str, Any]) -> None:
        body.pop("continue_final_message", None)  # needs an assistant message last: more than a schema can say
        assert fz.schema_errors(schema, body, api.doc) == []
        request, stream = PARSERS[path](parse_body(json.dumps(body).encode()))
        assert request.model == body["model"] and stream is bool(body.get("stream"))

    check()


@pytest.mark.parametrize("path", sorted(GENERATING))
def test_fuzz_every_body_the_validation_refuses_gets_a_val_code(api: Api, path: str) -> None:
    schema = {"$ref": "#/components/schemas/" + GENERATING[path]}

    @settings(FUZZ, max_examples=fz.examples(60))
    @given(body=fz.mutated(schema, api.doc))
    def check(body: Any) -> None:
        try:
            PARSERS[path](parse_body(json.dumps(body).encode()))
        except LLMError as err:
            assert err.spec.category == "VAL" and 400 <= err.http_status < 500
            field = err.context.get("field")
            assert field is None or isinstance(field, str)

    check()


# --- over HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(GENERATING))
def test_fuzz_valid_requests_are_answered_as_described(api: Api, path: str) -> None:
    schema = {"$ref": "#/components/schemas/" + GENERATING[path]}

    @FUZZ
    @given(body=fz.from_schema(schema, api.doc))
    def check(body: dict[str, Any]) -> None:
        body.pop("continue_final_message", None)
        body["model"] = "chat"  # the description allows any name; only served ones are answered
        response = api.post_json(path, body)
        assert response.status_code == 200, response.text[:300]
        assert fz.problems("POST", path, 200, response.headers, response.content, api.doc) == []

    check()


@pytest.mark.parametrize("path", [*sorted(GENERATING), "/api/heal"])
def test_fuzz_broken_requests_get_coded_errors_never_a_5xx(api: Api, path: str) -> None:
    name = GENERATING.get(path, "HealRequest")
    schema = {"$ref": "#/components/schemas/" + name}
    headers = {"x-api-key": KEY} if path == "/api/heal" else {}

    @FUZZ
    @given(body=fz.mutated(schema, api.doc))
    def check(body: Any) -> None:
        if isinstance(body, dict) and path in GENERATING and isinstance(body.get("model"), str):
            body["model"] = "chat"  # reach past the model lookup to the rest of the request
        assert api.send("POST", path, json.dumps(body).encode(), {"content-type": "application/json", **headers}) == []

    check()


@pytest.mark.parametrize("path", [*sorted(GENERATING), "/api/heal"])
def test_fuzz_raw_bodies_get_coded_errors_never_a_5xx(api: Api, path: str) -> None:
    headers = {"x-api-key": KEY} if path == "/api/heal" else {}

    @FUZZ
    @given(body=fz.RAW_BODIES, content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
    def check(body: bytes, content_type: str) -> None:
        assert api.send("POST", path, body, {"content-type": content_type, **headers}) == []

    check()


@pytest.mark.parametrize("path", [*sorted(GENERATING), "/api/heal"])
@pytest.mark.parametrize("body", fz.NASTY_BODIES, ids=lambda b: repr(b[:24]))
def test_bodies_that_broke_json_servers_get_coded_errors(api: Api, path: str, body: bytes) -> None:
    headers = {"x-api-key": KEY} if path == "/api/heal" else {}
    assert api.send("POST", path, body, {"content-type": "application/json", **headers}) == []


@FUZZ
@given(request=fz.paths_and_methods())
def test_fuzz_any_method_on_any_path(api: Api, request: tuple[str, str]) -> None:
    method, path = request
    body = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}' if method in ("POST", "PUT", "PATCH") else None
    assert api.send(method, path, body) == []


_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@FUZZ
@given(
    request_id=st.one_of(st.none(), _HEADER_TEXT),
    origin=st.one_of(st.none(), st.just(ORIGIN), _HEADER_TEXT),
    authorization=st.one_of(st.none(), _HEADER_TEXT, st.just(f"Bearer {KEY}")),
    accept=st.one_of(st.none(), _HEADER_TEXT),
)
def test_fuzz_headers(api: Api, request_id: str | None, origin: str | None, authorization: str | None, accept: str | None) -> None:
    given_headers = {"x-request-id": request_id, "origin": origin, "authorization": authorization, "accept": accept}
    headers = {k: v.strip() for k, v in given_headers.items() if v is not None}
    body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}).encode()
    response = api.http.post("/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 200
    assert fz.problems("POST", "/v1/chat/completions", 200, response.headers, response.content, api.doc) == []
    # A sane request id is echoed; any other is replaced, never reflected.
    sent = headers.get("x-request-id", "")
    if sent and len(sent) <= 128 and all(c.isalnum() or c in "-_.:" for c in sent):
        assert response.headers["x-request-id"] == sent
    else:
        assert response.headers["x-request-id"] != sent and len(response.headers["x-request-id"]) == 32
    # CORS headers for the configured origin only.
    allowed = response.headers.get("access-control-allow-origin")
    assert allowed == (ORIGIN if headers.get("origin") == ORIGIN else None)


def test_the_fuzz_oracle_flags_what_it_must() -> None:
    """The oracle itself: a 5xx, an uncoded error, a wrong status and a cut stream are all caught."""
    coded = json.dumps({"error": {"code": "LLM_VAL_001_E", "type": "val", "message": "m", "retryable": False, "recovery": "abort"}})
    assert fz.problems("POST", "/v1/chat/completions", 400, {"content-type": "application/json"}, coded.encode()) == []
    assert fz.problems("POST", "/v1/chat/completions", 500, {}, coded.encode())  # a 5xx, and the wrong status for the code
    assert fz.problems("POST", "/v1/chat/completions", 400, {}, b"Bad Request")
    assert fz.problems("POST", "/v1/chat/completions", 404, {}, coded.encode())
    assert fz.problems("POST", "/v1/chat/completions", 400, {}, json.dumps({"error": {"code": "LLM_VAL_999_E"}}).encode())
    stream = {"content-type": "text/event-stream"}
    assert fz.problems("POST", "/v1/chat/completions", 200, stream, b'data: {"choices": []}\n\ndata: [DONE]\n\n') == []
    assert fz.problems("POST", "/v1/chat/completions", 200, stream, b'data: {"choices": []}\n\n')
    assert fz.problems("POST", "/v1/chat/completions", 200, stream, b'data: {"error": {"code": "boom"}}\n\ndata: [DONE]\n\n')
