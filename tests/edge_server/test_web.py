"""The browser bundle served at / by the edge server: headers, MIME types, ranges, a missing bundle, the API untouched.

A small bundle is written to a temporary directory (LLM_ROUTER_WEB_DIR) and
served by the real app on a real 127.0.0.1 port; the core routes to a scripted
backend, so nothing here needs the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_runner_router.core.config import Settings
from llm_runner_router.core.store import MemoryStore
from llm_runner_router.core.testing import Script, ScriptedBackend
from llm_runner_router.edge.app import create_app
from llm_runner_router.edge.compose import build_state
from llm_runner_router.edge.testing.servers import ThreadServer

WASM = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 8
FILES: dict[str, bytes] = {
    "index.html": b"<!doctype html><title>engine test</title>",
    "loader.js": b"export const x = 1;\n",
    "build.json": json.dumps({"build_id": "abc", "files": {}}).encode(),
    "vendor/pyodide/pyodide.mjs": b"export {};\n",
    "vendor/pyodide/pyodide.asm.wasm": WASM,
    "vendor/pyodide/python_stdlib.zip": b"PK\x05\x06" + bytes(18),
    "wheels/core-0.1.0-py3-none-any.whl": b"PK\x05\x06" + bytes(18),
    "models/model.onnx": bytes(range(200)),
    "models/model.onnx.data": bytes(100),
    "models/model.q4": bytes(10),
    "engine/worker.mjs": b"self.onmessage = () => {};\n",
}
SETTINGS = {
    "providers": {"local": {"kind": "llamacpp"}},
    "deployments": {"local-x": {"provider": "local", "model": "x"}},
    "aliases": {"default": {"deployments": ["local-x"]}},
}


def serve(monkeypatch: pytest.MonkeyPatch, directory: Path) -> ThreadServer:
    monkeypatch.setenv("LLM_ROUTER_WEB_DIR", str(directory))
    backend = ScriptedBackend(lambda req: Script(answer="Hello from the script."))
    state = build_state(Settings.from_dict(SETTINGS), backends={"local": backend}, store=MemoryStore(), monitor=False)
    return ThreadServer(create_app(state))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture()
def url(monkeypatch: pytest.MonkeyPatch, bundle: Path) -> Iterator[str]:
    with serve(monkeypatch, bundle) as server:
        yield server.url


def assert_isolated(r: httpx.Response) -> None:
    """The bundle's own pages are cross-origin isolated; its files may be loaded from any origin."""
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/loader.js", "text/javascript"),
        ("/engine/worker.mjs", "text/javascript"),
        ("/vendor/pyodide/pyodide.mjs", "text/javascript"),
        ("/vendor/pyodide/pyodide.asm.wasm", "application/wasm"),
        ("/vendor/pyodide/python_stdlib.zip", "application/zip"),
        ("/wheels/core-0.1.0-py3-none-any.whl", "application/zip"),
        ("/build.json", "application/json"),
        ("/models/model.onnx", "application/octet-stream"),
        ("/models/model.onnx.data", "application/octet-stream"),
        ("/models/model.q4", "application/octet-stream"),
    ],
)
def test_bundle_files_have_their_type_and_isolation_headers(url: str, path: str, mime: str) -> None:
    r = httpx.get(url + path)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == mime
    assert_isolated(r)
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    rel = "index.html" if path == "/" else path.lstrip("/")
    assert r.content == FILES[rel]


def test_range_requests(url: str) -> None:
    r = httpx.get(url + "/vendor/pyodide/pyodide.asm.wasm", headers={"Range": "bytes=8-263"})
    assert r.status_code == 206
    assert r.content == WASM[8:264]
    assert r.headers["content-range"] == f"bytes 8-263/{len(WASM)}"
    assert r.headers["content-type"] == "application/wasm"
    assert_isolated(r)
    tail = httpx.get(url + "/models/model.onnx", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == FILES["models/model.onnx"][-10:]
    bad = httpx.get(url + "/models/model.onnx", headers={"Range": "bytes=500-600"})
    assert bad.status_code == 416


def test_revalidation_and_head(url: str) -> None:
    first = httpx.get(url + "/build.json")
    again = httpx.get(url + "/build.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert_isolated(again)
    head = httpx.head(url + "/vendor/pyodide/pyodide.asm.wasm")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(WASM)) and head.content == b""


def test_missing_bundle_file_is_a_404(url: str) -> None:
    r = httpx.get(url + "/vendor/nothing.mjs")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "LLM_MODEL_001_E"
    assert httpx.get(url + "/../../etc/passwd").status_code == 404


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/", "/api/nothing", "/health/x", "/metrics/x", "/v1/index.html"])
def test_unknown_api_paths_are_coded_json_404s_not_bundle_files(url: str, bundle: Path, path: str) -> None:
    (bundle / "v1").mkdir(exist_ok=True)
    (bundle / "v1" / "index.html").write_text("must never be served")
    r = httpx.get(url + path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    body = r.json()["error"]
    assert body["code"] == "LLM_MODEL_001_E" and path in body["message"]


@pytest.mark.parametrize("path", ["/", "/loader.js", "/vendor/pyodide/pyodide.asm.wasm", "/models/model.q4"])
def test_bundle_files_are_public_to_every_origin(url: str, path: str) -> None:
    for origin in [None, "http://127.0.0.1:8765", "https://any.example", "null"]:
        r = httpx.get(url + path, headers={"origin": origin} if origin else {})
        assert r.status_code == 200
        assert_isolated(r)
    # A preflight (a fetch with a header that needs one) is answered for any origin, without credentials.
    asked = {"origin": "https://any.example", "access-control-request-method": "GET", "access-control-request-headers": "range, x-custom"}
    pre = httpx.options(url + path, headers=asked)
    assert pre.status_code == 204, pre.text
    assert pre.headers["access-control-allow-origin"] == "*" and pre.headers["access-control-allow-methods"] == "GET, HEAD"
    assert pre.headers["access-control-allow-headers"] == "range, x-custom"
    assert "access-control-allow-credentials" not in pre.headers
    # Without the preflight's header an OPTIONS is still not a method the bundle serves.
    assert httpx.options(url + path).status_code == 405


def test_a_missing_bundle_file_is_a_404_any_origin_can_read(url: str) -> None:
    r = httpx.get(url + "/lib/nothing.js", headers={"origin": "https://any.example"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "LLM_MODEL_001_E"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"


def test_the_api_carries_none_of_the_bundles_headers(url: str) -> None:
    """Without server.cors_origins no origin may read the API: no CORS, no CORP."""
    requests = [
        httpx.get(url + "/health", headers={"origin": "https://any.example"}),
        httpx.get(url + "/v1/models", headers={"origin": "https://any.example"}),
        httpx.get(url + "/openapi.json", headers={"origin": "https://any.example"}),
        httpx.get(url + "/v1/nothing", headers={"origin": "https://any.example"}),
        httpx.post(url + "/v1/chat/completions", headers={"origin": "https://any.example"}, json={"model": "default", "messages": []}),
    ]
    preflight = httpx.options(
        url + "/v1/chat/completions",
        headers={
            "origin": "https://any.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    for r in [*requests, preflight]:
        cross = [h for h in r.headers if h.startswith("access-control-") or h.startswith("cross-origin-")]
        assert cross == [], (r.request.url, r.headers)
    assert preflight.status_code == 405


def test_api_routes_are_unaffected(url: str) -> None:
    assert httpx.get(url + "/health").json()["status"] == "ok"
    assert "deployments" in httpx.get(url + "/api/status").json()
    assert "# TYPE" in httpx.get(url + "/metrics").text
    assert [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]] == ["default", "local-x"]
    r = httpx.post(url + "/v1/chat/completions", json={"model": "default", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Hello from the script."
    wrong = httpx.get(url + "/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "LLM_VAL_007_E"
    post = httpx.post(url + "/index.html")
    assert post.status_code == 405


def test_without_a_bundle_the_root_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with serve(monkeypatch, tmp_path / "absent") as server:
        r = httpx.get(server.url + "/")
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
        assert "llm-runner-router web-bundle" in r.text and "make web" in r.text
        assert_isolated(r)
        missing = httpx.get(server.url + "/loader.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "LLM_MODEL_001_E"
        assert httpx.get(server.url + "/health").status_code == 200


def test_a_bundle_built_after_start_is_served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = tmp_path / "later"
    with serve(monkeypatch, root) as server:
        assert httpx.get(server.url + "/").status_code == 503
        root.mkdir()
        (root / "index.html").write_text("<p>built</p>")
        r = httpx.get(server.url + "/")
        assert r.status_code == 200 and r.text == "<p>built</p>"


@pytest.fixture()
def hidden_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A bundle holding dotfiles, symlink loops and a link to a dotfile, beside two files that must still be served."""
    root = tmp_path / "web"
    for rel, text in {
        "index.html": "bundle",
        "sub/ok.txt": "ok",
        ".env": "SECRET-1",
        ".git/config": "SECRET-2",
        ".git/index.html": "SECRET-3",
        "sub/.hidden": "SECRET-4",
        ".well-known/x.txt": "SECRET-5",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "loop").symlink_to(root / "loop")  # ELOOP on stat
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    (root / "looped").mkdir()
    (root / "looped" / "index.html").symlink_to(root / "looped" / "index.html")  # a folder whose index loops
    (root / "env.txt").symlink_to(root / ".env")  # inside the folder, but a dotfile all the same
    with serve(monkeypatch, root) as server:
        yield server.url


@pytest.mark.parametrize(
    "path",
    [
        "/.env",
        "/.git/config",
        "/.git/",
        "/.git",
        "/sub/.hidden",
        "/.well-known/x.txt",
        "/%2eenv",
        "/sub/%2ehidden",
        "/sub/./.hidden",
        "/loop",
        "/loop/x",
        "/a",
        "/looped/",
        "/looped/index.html",
        "/env.txt",
    ],
)
def test_dotfiles_and_symlink_loops_are_coded_404s(hidden_bundle: str, path: str) -> None:
    r = httpx.get(hidden_bundle + path)
    assert r.status_code == 404, (r.status_code, r.text[:200])
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "LLM_MODEL_001_E"
    assert b"SECRET-" not in r.content
    assert httpx.head(hidden_bundle + path).status_code == 404


def test_the_rest_of_a_bundle_with_dotfiles_is_served(hidden_bundle: str) -> None:
    assert httpx.get(hidden_bundle + "/").text == "bundle"
    assert httpx.get(hidden_bundle + "/sub/ok.txt").text == "ok"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/diagnostics", {"GET", "HEAD"}),
        ("DELETE", "/api/diagnostics", {"GET", "HEAD"}),
        ("PUT", "/v1/chat/completions", {"POST"}),
        ("DELETE", "/v1/chat/completions", {"POST"}),
        ("GET", "/v1/completions", {"POST"}),
        ("PATCH", "/v1/responses", {"POST"}),
        ("DELETE", "/v1/models", {"GET", "HEAD"}),
        ("PUT", "/api/heal", {"POST"}),
        ("POST", "/health", {"GET", "HEAD"}),
        ("DELETE", "/metrics", {"GET", "HEAD"}),
        ("PUT", "/index.html", {"GET", "HEAD"}),
        ("DELETE", "/", {"GET", "HEAD"}),
    ],
)
def test_405_says_which_methods_are_allowed(url: str, method: str, path: str, allowed: set[str]) -> None:
    r = httpx.request(method, url + path)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed  # RFC 9110, 15.5.6
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "LLM_VAL_007_E"
