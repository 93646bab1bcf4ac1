"""Access control and secrets, on the real edge server over HTTP.

- The admin endpoints (/api/diagnostics, /api/heal) refuse every request
  without the right key, whatever the header's form, and always when the
  server has no key; the key is compared with hmac.compare_digest only.
- Neither the admin key nor an upstream's key ever shows in an answer, in
  /api/status, /api/diagnostics, /metrics or the logs -- even when the
  upstream echoes its Authorization header back in its errors.
- CORS headers go to the configured origins only; the web bundle's files are public to every origin.
- Body size and prompt length limits answer 413 with LLM_VAL_006_E.
- A model name is a name, never a path; the web bundle serves nothing outside its folder.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.errors import ConfigError
from llm_runner_router.edge.app import EdgeState, create_app, key_matches
from llm_runner_router.edge.compose import build_state, make_app
from llm_runner_router.edge.settings import EdgeSettings
from llm_runner_router.edge.store import SQLiteStore
from llm_runner_router.edge.testing import api_fuzz as fz
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ThreadServer
from llm_runner_router.edge.validation import MAX_BODY_BYTES, MAX_PROMPT_CHARS

ADMIN_KEY = "admin-Key-7f3c9a1e5b2d4c6f8a0b"
UPSTREAM_KEY = "sk-upstream-9d8c7b6a5f4e3d2c1b0a"
ORIGIN = "https://app.example"
HELLO = [{"role": "user", "content": "hi"}]

WRONG_FORMS = fz.wrong_key_forms(ADMIN_KEY)
RIGHT_FORMS = fz.right_key_forms(ADMIN_KEY)
ADMIN = [("GET", "/api/diagnostics"), ("POST", "/api/heal")]


def settings_for(healthy: str, hostile: str, **server: Any) -> EdgeSettings:
    return EdgeSettings.from_dict({**fz.echo_rig_document(healthy, hostile), "server": server})


@dataclass
class Rig:
    url: str
    state: EdgeState
    echo: fz.EchoUpstream
    logs: io.StringIO
    heals: list[Any]

    def request(self, method: str, path: str, headers: list[tuple[str, str]] | None = None, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("access")
    logs = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logging.StreamHandler(logs)  # every line the server writes, as it writes them
    handler.setFormatter(jsonlog.JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    echo = fz.EchoUpstream()
    try:
        with (
            pytest.MonkeyPatch.context() as mp,
            fp.FaultProvider(model="fault-model") as healthy,
            ThreadServer(echo.app()) as hostile,
        ):
            mp.setenv("HOSTILE_KEY", UPSTREAM_KEY)
            state = build_state(
                settings_for(healthy.base_url, hostile.url + "/v1", cors_origins=[ORIGIN]),
                store=SQLiteStore(tmp / "r.db"),
                api_key=ADMIN_KEY,
            )
            with ThreadServer(create_app(state)) as server:
                heals: list[Any] = []
                real_heal = state.monitor.heal

                async def counted_heal(actions: Any, reason: str) -> Any:
                    heals.append(actions)
                    return await real_heal(actions, reason)

                state.monitor.heal = counted_heal
                yield Rig(server.url, state, echo, logs, heals)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def assert_refused(response: httpx.Response, code: str = catalogue.AUTH_FAILED.code, status: int = 401) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


# --- admin endpoints ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ADMIN)
@pytest.mark.parametrize(("form", "headers"), WRONG_FORMS, ids=[f for f, _ in WRONG_FORMS])
def test_admin_endpoints_refuse_every_wrong_form_of_the_key(
    rig: Rig, method: str, path: str, form: str, headers: list[tuple[str, str]]
) -> None:
    before = len(rig.heals)
    response = fz.raw_request(rig.url, method, path, headers, b'{"actions": ["clear_caches"]}' if method == "POST" else b"")
    error = assert_refused(response)
    assert error["message"] == "missing or invalid API key"
    assert len(rig.heals) == before  # refused before anything ran


def test_the_key_in_the_query_string_or_the_body_is_not_a_key(rig: Rig) -> None:
    assert_refused(rig.request("GET", f"/api/diagnostics?api_key={ADMIN_KEY}&key={ADMIN_KEY}"))
    assert_refused(rig.request("POST", "/api/heal", json={"api_key": ADMIN_KEY, "actions": ["clear_caches"]}))


@pytest.mark.parametrize(("form", "headers"), RIGHT_FORMS, ids=[f for f, _ in RIGHT_FORMS])
def test_the_right_key_opens_both_admin_endpoints(rig: Rig, form: str, headers: list[tuple[str, str]]) -> None:
    assert rig.request("GET", "/api/diagnostics", headers).status_code == 200
    before = len(rig.heals)
    heal = rig.request("POST", "/api/heal", headers, json={"actions": ["clear_caches"]})
    assert heal.status_code == 200 and heal.json()["reason"] == "api"
    assert rig.heals[before:] == [["clear_caches"]]


def test_a_server_without_a_key_refuses_every_form(rig: Rig, tmp_path: Path) -> None:
    state = build_state(settings_for(rig.url + "/v1", rig.url + "/v1"), store=SQLiteStore(tmp_path / "r.db"), api_key=None, monitor=False)
    with ThreadServer(create_app(state)) as server:
        for _, headers in [*WRONG_FORMS, *RIGHT_FORMS, ("empty Bearer", [("authorization", "Bearer ")])]:
            for method, path in ADMIN:
                error = assert_refused(fz.raw_request(server.url, method, path, headers))
                assert "LLM_ROUTER_API_KEY" in error["message"]


@pytest.mark.parametrize(("value", "key"), [(None, None), ("", None), ("   ", None), ("\t\n", None), (" k3y \n", "k3y")])
def test_the_key_from_the_environment(tmp_path: Path, value: str | None, key: str | None) -> None:
    config = tmp_path / "router.json"
    config.write_text(json.dumps({"providers": {"up": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}}}))
    environ = {"LLM_ROUTER_DATA_DIR": str(tmp_path)} | ({} if value is None else {"LLM_ROUTER_API_KEY": value})
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LLM_ROUTER_DATA_DIR", str(tmp_path))
            app = make_app(config, environ)
    finally:  # make_app sets up the process's logging: put the test run's back
        root.handlers[:], root.level = handlers, level
    state: EdgeState = app.state.edge
    try:
        assert state.api_key == key  # a blank key is no key: the admin endpoints stay shut
    finally:
        state.store.close()  # type: ignore[attr-defined]


def test_keys_are_compared_with_hmac_compare_digest_and_nothing_else(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    verdict = [False]

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return verdict[0]

    monkeypatch.setattr(hmac, "compare_digest", spy)
    # A wrong key of another length still reaches compare_digest: no early exit on the length,
    # no == on the way; compare_digest's word is final, whatever the bytes.
    assert_refused(rig.request("GET", "/api/diagnostics", [("x-api-key", "short")]))
    assert_refused(rig.request("GET", "/api/diagnostics", [("x-api-key", ADMIN_KEY)]))
    verdict[0] = True
    assert rig.request("GET", "/api/diagnostics", [("authorization", "Bearer not-the-key")]).status_code == 200
    assert calls == [(b"short", ADMIN_KEY.encode()), (ADMIN_KEY.encode(), ADMIN_KEY.encode()), (b"not-the-key", ADMIN_KEY.encode())]


def test_key_matches() -> None:
    assert key_matches("abc", "abc") and not key_matches("abd", "abc") and not key_matches("", "abc")
    # Headers arrive decoded as Latin-1: a non-ASCII key sent as UTF-8 still matches, byte for byte.
    sent = "clé-ключ".encode().decode("latin-1")
    assert key_matches(sent, "clé-ключ") and not key_matches("clé-ключ".encode().decode("latin-1")[:-1], "clé-ключ")
    assert key_matches("clé", "clé") is False  # the same text, but not the bytes a client sends for it


def test_a_non_ascii_key_sent_as_utf8_opens_the_endpoint(tmp_path: Path) -> None:
    key = "ключ-" + ADMIN_KEY
    state = build_state(settings_for("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"), store=SQLiteStore(tmp_path / "r.db"), api_key=key)
    with ThreadServer(create_app(state)) as server:
        assert httpx.get(server.url + "/api/diagnostics", headers=[(b"x-api-key", key.encode())]).status_code == 200
        assert_refused(httpx.get(server.url + "/api/diagnostics", headers=[(b"x-api-key", key.encode()[:-1])]))


# --- secrets ---------------------------------------------------------------------------------


def test_keys_never_appear_in_answers_status_or_logs(rig: Rig) -> None:
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    near_misses = [ADMIN_KEY[:-1], "X" + ADMIN_KEY[1:]]
    headers = [("x-api-key", ADMIN_KEY), ("authorization", f"Bearer {ADMIN_KEY}")]
    for key in [ADMIN_KEY, *near_misses]:
        for method, path in [*ADMIN, ("GET", "/api/status"), ("GET", "/v1/models"), ("GET", "/nope"), ("POST", "/v1/completions")]:
            keep(rig.request(method, path, [("x-api-key", key)], content=b"{"))
            keep(rig.request(method, path, [("authorization", f"Bearer {key}")], content=b"{"))
    # The upstream quotes our Authorization header in a 401, a 500 and an error in the stream.
    rig.echo.seen.clear()
    for model in ["echo-401", "echo-500", "echo-stream"]:
        for stream in (False, True):
            answer = keep(rig.request("POST", "/v1/chat/completions", headers, json={"model": model, "messages": HELLO, "stream": stream}))
            assert answer.status_code >= 400 or "LLM_" in answer.text
    assert rig.echo.seen and set(rig.echo.seen) == {f"Bearer {UPSTREAM_KEY}"}  # the key did go upstream, and came back
    keep(rig.request("GET", "/api/status"))
    keep(rig.request("GET", "/api/diagnostics", headers))
    keep(rig.request("GET", "/metrics"))
    logs = rig.logs.getvalue()
    # The failures were logged with what the upstream said, the key scrubbed out of it.
    assert "Incorrect API key provided: Bearer [REDACTED]" in logs and "stream failed for Bearer [REDACTED]" in logs
    for secret in [ADMIN_KEY, UPSTREAM_KEY, *near_misses]:
        assert not [text[:200] for text in seen if secret in text]
        assert secret not in logs


# --- CORS ------------------------------------------------------------------------------------


def _preflight(url: str, origin: str, method: str = "POST") -> httpx.Response:
    headers = {"origin": origin, "access-control-request-method": method, "access-control-request-headers": "content-type, x-api-key"}
    return httpx.options(url + "/v1/chat/completions", headers=headers, timeout=10)


def test_cors_headers_go_to_the_configured_origin_only(rig: Rig) -> None:
    body = {"model": "chat", "messages": HELLO, "max_tokens": 2}
    allowed = rig.request("POST", "/v1/chat/completions", [("origin", ORIGIN)], json=body)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    for other in ["https://evil.example", "https://app.example.evil.example", "http://app.example", "null", ORIGIN + ":443"]:
        answer = rig.request("POST", "/v1/chat/completions", [("origin", other)], json=body)
        assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    ok = _preflight(rig.url, ORIGIN)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    refused = _preflight(rig.url, "https://evil.example")
    assert "access-control-allow-origin" not in refused.headers
    error = assert_refused(refused, catalogue.AUTH_ORIGIN_NOT_ALLOWED.code, 403)
    assert error["request_id"] == refused.headers["x-request-id"]
    assert_refused(_preflight(rig.url, ORIGIN, "DELETE"), catalogue.VAL_UNSUPPORTED.code, 400)
    # Errors carry the headers too, or a page could not read why it failed.
    error_answer = rig.request("POST", "/v1/chat/completions", [("origin", ORIGIN)], content=b"{")
    assert error_answer.status_code == 400 and error_answer.headers["access-control-allow-origin"] == ORIGIN


def test_without_cors_origins_no_origin_gets_cors_headers(rig: Rig, tmp_path: Path) -> None:
    state = build_state(settings_for(rig.url + "/v1", rig.url + "/v1"), store=SQLiteStore(tmp_path / "r.db"), monitor=False)
    with ThreadServer(create_app(state)) as server:
        for origin in [ORIGIN, "https://evil.example", "null"]:
            answer = httpx.get(server.url + "/v1/models", headers={"origin": origin})
            assert answer.status_code == 200 and not [h for h in answer.headers if h.startswith("access-control-")]
            preflight = _preflight(server.url, origin)
            assert not [h for h in preflight.headers if h.startswith("access-control-")]
            assert_refused(preflight, catalogue.VAL_UNSUPPORTED.code, 405)


def test_the_bundles_files_are_public_while_the_api_keeps_its_origins(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page on any origin may load the widget's files; only server.cors_origins may call the API."""
    web = tmp_path / "web"
    (web / "lib").mkdir(parents=True)
    (web / "lib" / "llm_chat.js").write_text("export {};\n")
    monkeypatch.setenv("LLM_ROUTER_WEB_DIR", str(web))
    state = build_state(
        settings_for(rig.url + "/v1", rig.url + "/v1", cors_origins=[ORIGIN]), store=SQLiteStore(tmp_path / "r.db"), monitor=False
    )
    with ThreadServer(create_app(state)) as server:
        for origin in [ORIGIN, "https://evil.example", "null"]:
            script = httpx.get(server.url + "/lib/llm_chat.js", headers={"origin": origin})
            assert script.status_code == 200 and script.text == "export {};\n"
            assert script.headers["access-control-allow-origin"] == "*"
            assert script.headers["cross-origin-resource-policy"] == "cross-origin"
            assert "access-control-allow-credentials" not in script.headers
            asked = {"origin": origin, "access-control-request-method": "GET", "access-control-request-headers": "range"}
            preflight = httpx.options(server.url + "/lib/llm_chat.js", headers=asked)
            assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
            missing = httpx.get(server.url + "/lib/nothing.js", headers={"origin": origin})
            assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == "*"
        # The API: the configured origin only, and never the bundle's headers.
        for path in ["/v1/models", "/health", "/openapi.json"]:
            allowed = httpx.get(server.url + path, headers={"origin": ORIGIN})
            assert allowed.headers["access-control-allow-origin"] == ORIGIN, path
            other = httpx.get(server.url + path, headers={"origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers, path
            assert not [h for h in other.headers if h.startswith("cross-origin-")], path
        refused = _preflight(server.url, "https://evil.example")
        assert_refused(refused, catalogue.AUTH_ORIGIN_NOT_ALLOWED.code, 403)
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize(
    "origins",
    [
        ["https://app.example/"],
        ["app.example"],
        ["ftp://app.example"],
        ["https://user@app.example"],
        ["https://a.example", "https://a.example"],
    ],
)
def test_cors_origins_must_be_origins(origins: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        EdgeSettings.from_dict({"server": {"cors_origins": origins}})
    assert info.value.code == catalogue.CONFIG_INVALID.code and info.value.context["field"] == "server.cors_origins"


def test_cors_origins_from_a_file_and_from_the_environment() -> None:
    assert EdgeSettings.from_dict({"server": {"cors_origins": ["https://App.Example:8443", "*"]}}).server.cors_origins == (
        "https://app.example:8443",
        "*",
    )
    env = {"LLM_ROUTER__SERVER__CORS_ORIGINS": " https://a.example , http://localhost:3000,"}
    assert EdgeSettings.from_env(env).server.cors_origins == ("https://a.example", "http://localhost:3000")
    assert EdgeSettings().server.cors_origins == ()


# --- limits ----------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413(rig: Rig) -> None:
    big = b'{"model": "chat", "messages": [{"role": "user", "content": "' + b"x" * MAX_BODY_BYTES + b'"}]}'
    assert_refused(rig.request("POST", "/v1/chat/completions", content=big), catalogue.VAL_TOO_LARGE.code, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while reading
        yield big[: MAX_BODY_BYTES // 2]
        yield big[MAX_BODY_BYTES // 2 :]

    assert_refused(rig.request("POST", "/v1/chat/completions", content=chunks()), catalogue.VAL_TOO_LARGE.code, 413)
    assert_refused(rig.request("POST", "/api/heal", [("x-api-key", ADMIN_KEY)], content=big), catalogue.VAL_TOO_LARGE.code, 413)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * (MAX_PROMPT_CHARS + 1)}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * (MAX_PROMPT_CHARS // 2 + 1)}] * 2}),
        ("/v1/completions", {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}),
        ("/v1/responses", {"input": "x" * (MAX_PROMPT_CHARS + 1)}),
        ("/v1/responses", {"input": "x", "instructions": "x" * MAX_PROMPT_CHARS}),
        ("/v1/responses", {"input": [{"role": "user", "content": "x" * (MAX_PROMPT_CHARS + 1)}]}),
    ],
)
def test_a_prompt_over_the_limit_is_refused_with_413(rig: Rig, path: str, body: dict[str, Any]) -> None:
    error = assert_refused(rig.request("POST", path, json={"model": "chat", **body}), catalogue.VAL_TOO_LARGE.code, 413)
    assert error["param"] in ("messages", "prompt", "input", "instructions")


def test_a_prompt_at_the_limit_is_answered(rig: Rig) -> None:
    body = {"model": "chat", "input": "x" * (MAX_PROMPT_CHARS - 10), "instructions": "y" * 10, "max_output_tokens": 2}
    assert rig.request("POST", "/v1/responses", json=body).status_code == 200


# --- names and paths -------------------------------------------------------------------------

TRAVERSALS = [
    "../chat",
    "./chat",
    "chat/",
    "/chat",
    "../../models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2fchat",
    "file:///etc/passwd",
    "chat\x00.gguf",
    "~/chat",
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_a_model_name_is_looked_up_never_opened(rig: Rig, name: str) -> None:
    error = assert_refused(
        rig.request("POST", "/v1/chat/completions", json={"model": name, "messages": HELLO}), catalogue.MODEL_NOT_FOUND.code, 404
    )
    assert "root:" not in error["message"] and "GGUF" not in error["message"]


def test_the_web_bundle_serves_nothing_outside_its_folder(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("bundle")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    (web / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLM_ROUTER_WEB_DIR", str(web))
        state = build_state(
            settings_for("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"), store=SQLiteStore(tmp_path / "r.db"), monitor=False
        )
        app = create_app(state)
    with ThreadServer(app) as server:
        index = fz.raw_request(server.url, "GET", "/index.html")
        assert (index.status_code, index.content) == (200, b"bundle")
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2e%2e%2fsecret.txt",
            "/..%2fsecret.txt",
            "/.%2e/secret.txt",
            "//secret.txt",
            "/..\\secret.txt",
            "/%252e%252e/secret.txt",
            "/link.txt",
            f"/{tmp_path}/secret.txt",
            "/v1/../../secret.txt",
        ]:
            answer = fz.raw_request(server.url, "GET", path)
            assert b"TOP-SECRET" not in answer.content, path
            assert_refused(answer, catalogue.MODEL_NOT_FOUND.code, 404)
