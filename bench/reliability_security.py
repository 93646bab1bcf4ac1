#!/usr/bin/env python3
"""Security and bad input: fuzzing the edge server's API at scale, access control, secrets, limits.

Everything runs against ``python -m edge_server`` as a process (ProcessServer),
configured with a healthy fault-provider upstream (no model is loaded), a
hostile upstream that quotes the credentials it gets back in its errors, an
admin key, an upstream key, one CORS origin and a small web bundle.

1. **Fuzzing.** Hypothesis drives requests from tests/support/api_fuzz.py:
   bodies the server's own OpenAPI description (``/openapi.json``) says are
   valid, the same bodies broken in one place, raw bytes (and the list of
   bodies known to break JSON servers), any method on any path. Each answer
   goes to the oracle: no 5xx, every error with a catalogue ``LLM_*`` code
   and that code's status, 200s as described, streams that end properly.
   Crashes: the process exited, a request got no answer at all, or
   ``/health`` failed at the end.
2. **Admin endpoints.** Every wrong form of the key (22 of them) on
   ``/api/diagnostics`` and ``/api/heal``, sent byte for byte: all must get
   401 ``LLM_AUTH_001_E``; the four right forms must get in.
3. **Secrets.** The admin key, near misses of it and the upstream's key are
   looked for in every answer of the run, ``/api/status``,
   ``/api/diagnostics``, ``/metrics`` and the server's log.
4. **Timing probe.** Median time of a refused ``/api/diagnostics`` with a key
   that has all but its last character right, against one wrong in its
   first: reported, with the same difference between two halves of one kind
   as the noise floor; not a target (the comparison is hmac.compare_digest).
5. **CORS, limits, paths.** The configured origin gets CORS headers and
   others do not; bodies over 1 MiB and prompts over 200,000 characters get
   413 ``LLM_VAL_006_E``; model names and web paths that try to climb out of
   their folders get 404, never a file.
6. **Parsers**, through pytest: tests/edge_server/test_fuzz_parsers.py and
   tests/core/test_fuzz_config.py with ``LLM_FUZZ_EXAMPLES`` raised (upstream
   event streams and error bodies over HTTP, GGUF headers, configuration
   files and the environment, hints import).

``--quick`` (about half a minute) sends a few thousand requests; the full
run tens of thousands.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _reliability as rel  # noqa: E402
import httpx  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from core import catalogue  # noqa: E402
from edge_server.validation import MAX_BODY_BYTES, MAX_PROMPT_CHARS  # noqa: E402
from tests.support import api_fuzz as fz  # noqa: E402
from tests.support import fault_provider as fp  # noqa: E402
from tests.support.servers import ProcessServer, ThreadServer  # noqa: E402

NAME = "security"
SCRIPT = "bench/reliability_security.py"
ORIGIN = "https://app.example"
GENERATING = {"/v1/chat/completions": "ChatCompletionRequest", "/v1/completions": "CompletionRequest", "/v1/responses": "ResponsesRequest"}
SIZES = {
    # hypothesis examples per request source, timing samples per kind, examples per parser property
    "quick": {"examples": 200, "timing": 400, "parser_examples": 15},
    "full": {"examples": 2500, "timing": 5000, "parser_examples": 400},
}


# --- the server ---------------------------------------------------------------------------


def _config(healthy: str, hostile: str) -> dict[str, Any]:
    # The tests' rig, sized for thousands of requests: room to queue, breakers that never
    # open, a long read for the slow fuzzed cases and no context limit on the healthy path.
    doc = fz.echo_rig_document(healthy, hostile)
    doc["breaker"] = {"failure_threshold": 100000, "min_calls": 100000}
    doc["monitor"] |= {"max_concurrency": 8, "queue_size": 64}
    doc["server"] = {"cors_origins": [ORIGIN]}
    doc["providers"]["up"]["read_timeout"] = 20
    doc["deployments"]["d"]["context_window"] = 1_000_000
    return doc


class Rig:
    """The server process, its keys, and every answer it gave (for the secrets check)."""

    def __init__(self, server: ProcessServer, admin_key: str, upstream_key: str, outside: Path, echo: fz.EchoUpstream) -> None:
        self.server = server
        self.echo = echo  # the hostile upstream: what Authorization it got
        self.url = server.url
        self.admin_key = admin_key
        self.upstream_key = upstream_key
        self.outside = outside  # a file beside the web bundle that must never be served
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.answers: list[str] = []
        self.no_answer = 0  # requests that got no HTTP answer at all

    def keep(self, response: httpx.Response) -> httpx.Response:
        self.answers.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    def alive(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None


@contextmanager
def rig() -> Iterator[Rig]:
    admin_key, upstream_key = "adm-" + secrets.token_hex(16), "sk-" + secrets.token_hex(16)
    echo = fz.EchoUpstream()
    with (
        tempfile.TemporaryDirectory(prefix="reliability-security-") as tmp,
        fp.FaultProvider(answer="one two three four five six", model="fault-model") as healthy,
        ThreadServer(echo.app()) as hostile,
    ):
        base = Path(tmp)
        web = base / "web"
        web.mkdir()
        (web / "index.html").write_text("<!doctype html><title>bundle</title>")
        outside = base / "outside-secret.txt"
        outside.write_text("NOT-FOR-THE-WEB")
        config = base / "router.json"
        config.write_text(json.dumps(_config(healthy.base_url, hostile.url + "/v1")))
        env = {
            "LLM_ROUTER_API_KEY": admin_key,
            "HOSTILE_KEY": upstream_key,
            "LLM_ROUTER_DATA_DIR": str(base / "data"),
            "LLM_ROUTER_WEB_DIR": str(web),
            "LOG_LEVEL": "INFO",
        }
        server = ProcessServer(["--config", str(config)], env)
        with server:
            r = Rig(server, admin_key, upstream_key, outside, echo)
            try:
                yield r
            finally:
                r.http.close()


# --- 1. fuzzing ---------------------------------------------------------------------------


def drive(strategy: st.SearchStrategy[Any], examples: int, send: Callable[[Any], None], seed_value: int) -> None:
    """Call ``send`` on ``examples`` values of ``strategy``: hypothesis as a generator (no shrinking, no database)."""

    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case: Any) -> None:
        send(case)

    one()


class Fuzz:
    def __init__(self, r: Rig, doc: dict[str, Any]) -> None:
        self.r, self.doc = r, doc
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.kinds: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def send(self, source: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        self.sent += 1
        try:
            response = self.r.keep(self.r.http.request(method, path, content=body, headers=headers))
        except httpx.HTTPError as exc:
            self.r.no_answer += 1
            self._problem("no answer", f"{method} {path}: {type(exc).__name__}: {exc}")
            return
        self.statuses[response.status_code] += 1
        for problem in fz.problems(method, path, response.status_code, response.headers, response.content, self.doc):
            kind = "5xx" if "server error" in problem else "no LLM_ code" if "LLM_ code" in problem or "catalogue" in problem else "other"
            self._problem(kind, f"[{source}] {method} {path}: {problem}")

    def _problem(self, kind: str, text: str) -> None:
        self.kinds[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < 5:
            examples.append(text[:300])


def fuzz(r: Rig, examples: int, seed_value: int) -> dict[str, Any]:
    doc: dict[str, Any] = r.http.get("/openapi.json").json()
    f = Fuzz(r, doc)
    heal_headers = {"x-api-key": r.admin_key}
    json_type = {"content-type": "application/json"}
    per_source: dict[str, int] = {}

    def counted(source: str, strategy: st.SearchStrategy[Any], send: Callable[[Any], None], n: int = examples) -> None:
        before = f.sent
        drive(strategy, n, send, seed_value)
        per_source[source] = per_source.get(source, 0) + f.sent - before

    for path, name in GENERATING.items():
        schema = {"$ref": "#/components/schemas/" + name}

        def valid(body: dict[str, Any], path: str = path) -> None:
            body.pop("continue_final_message", None)
            body["model"] = "chat"
            f.send("valid", "POST", path, json.dumps(body).encode(), json_type)

        def broken(body: Any, path: str = path) -> None:
            if isinstance(body, dict) and isinstance(body.get("model"), str):
                body["model"] = "chat"
            f.send("broken", "POST", path, json.dumps(body).encode(), json_type)

        counted("valid bodies (from /openapi.json)", fz.from_schema(schema, doc), valid, max(1, examples // 3))
        counted("broken bodies", fz.mutated(schema, doc), broken)
    heal = {"$ref": "#/components/schemas/HealRequest"}
    counted("broken bodies", fz.mutated(heal, doc), lambda b: f.send("broken", "POST", "/api/heal", json.dumps(b).encode(), heal_headers))
    for path in [*GENERATING, "/api/heal"]:
        headers = heal_headers if path == "/api/heal" else {}
        for body in fz.NASTY_BODIES:
            f.send("known-bad bodies", "POST", path, body, {**json_type, **headers})
        per_source["known-bad bodies"] = per_source.get("known-bad bodies", 0) + len(fz.NASTY_BODIES)

        def raw(body: bytes, path: str = path, headers: dict[str, str] = headers) -> None:
            f.send("raw", "POST", path, body, {**json_type, **headers})

        counted("raw bytes", fz.RAW_BODIES, raw)
    chat = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'
    counted(
        "any method, any path",
        fz.paths_and_methods(),
        lambda mp: f.send("paths", mp[0], mp[1], chat if mp[0] in ("POST", "PUT", "PATCH") else None),
    )
    return {
        "requests": f.sent,
        "by_source": per_source,
        "statuses": {str(k): v for k, v in sorted(f.statuses.items())},
        "5xx": f.kinds["5xx"],
        "no_llm_code": f.kinds["no LLM_ code"],
        "other_problems": f.kinds["other"],
        "no_answer": f.kinds["no answer"],
        "problem_examples": f.examples,
    }


# --- 2. admin endpoints ------------------------------------------------------------------------


def admin(r: Rig) -> dict[str, Any]:
    wrong, right = fz.wrong_key_forms(r.admin_key), fz.right_key_forms(r.admin_key)
    refused, let_in, accepted = 0, [], 0
    for method, path in [("GET", "/api/diagnostics"), ("POST", "/api/heal")]:
        body = b'{"actions": ["clear_caches"]}' if method == "POST" else b""
        for form, headers in wrong:
            answer = r.keep(fz.raw_request(r.url, method, path, headers, body))
            if answer.status_code == 401 and answer.json()["error"]["code"] == catalogue.AUTH_FAILED.code:
                refused += 1
            else:
                let_in.append(f"{method} {path} {form}: {answer.status_code}")
        for _, headers in right:
            accepted += r.keep(fz.raw_request(r.url, method, path, headers, body)).status_code == 200
    for path in ["/api/diagnostics?api_key=" + r.admin_key, "/api/diagnostics?key=" + r.admin_key]:
        answer = r.keep(r.http.get(path))
        refused += answer.status_code == 401
        if answer.status_code != 401:
            let_in.append(f"GET {path.split('?')[0]} key in the query: {answer.status_code}")
    tried = 2 * len(wrong) + 2
    return {
        "forms_tried": [form for form, _ in wrong] + ["key in the query string (2 names)"],
        "wrong_requests": tried,
        "refused": refused,
        "let_in": let_in,
        "right_requests": 2 * len(right),
        "right_accepted": accepted,
    }


# --- 3. secrets -------------------------------------------------------------------------------


def secrets_check(r: Rig) -> dict[str, Any]:
    headers = {"x-api-key": r.admin_key, "authorization": f"Bearer {r.admin_key}"}
    for model in ["echo-401", "echo-500", "echo-stream"]:
        for stream in (False, True):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            r.keep(r.http.post("/v1/chat/completions", json=body, headers=headers))
    near = [r.admin_key[:-1], "X" + r.admin_key[1:]]
    for key in near:
        r.keep(r.http.get("/api/diagnostics", headers={"x-api-key": key}))
    views = {
        "/api/status": r.keep(r.http.get("/api/status")).text,
        "/api/diagnostics": r.keep(r.http.get("/api/diagnostics", headers={"x-api-key": r.admin_key})).text,
        "/metrics": r.keep(r.http.get("/metrics")).text,
    }
    time.sleep(0.3)  # the last log lines
    log = r.server.log.read_text(encoding="utf-8", errors="replace")
    wanted = {"admin key": [r.admin_key], "upstream key": [r.upstream_key], "near misses of the admin key": near}
    found: dict[str, int] = {}
    where: list[str] = []
    for label, values in wanted.items():
        count = 0
        for v in values:
            hits = sum(v in text for text in r.answers)
            hits += sum(v in text for text in views.values())
            hits += log.count(v)
            if hits:
                where.append(f"{label}: {hits} place(s)")
            count += hits
        found[label] = count
    return {
        "answers_searched": len(r.answers),
        "log_lines_searched": log.count("\n"),
        "found": found,
        "total_found": sum(found.values()),
        "where": where,
        # The key did go upstream and came back in its errors: otherwise finding none would prove nothing.
        "upstream_got_the_key": bool(r.echo.seen) and set(r.echo.seen) == {f"Bearer {r.upstream_key}"},
        "scrubbed_quotes_in_log": log.count("[REDACTED]"),
    }


# --- 4. timing probe ---------------------------------------------------------------------------


def timing(r: Rig, samples: int, rng: random.Random) -> dict[str, Any]:
    """Refused-request times for a key right but for its last character vs wrong from its first."""
    key = r.admin_key
    kinds = {"long correct prefix": key[:-1] + ("0" if key[-1] != "0" else "1"), "wrong first character": ("X" + key[1:])}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    order = [k for k in kinds for _ in range(samples)]
    rng.shuffle(order)  # interleaved, so drift in the machine's load falls on both alike
    with httpx.Client(base_url=r.url, timeout=10) as client:  # one kept-alive connection: no connect time in the figure
        for _ in range(50):
            client.get("/api/diagnostics", headers={"x-api-key": kinds["wrong first character"]})
        for kind in order:
            started = time.perf_counter()
            answer = client.get("/api/diagnostics", headers={"x-api-key": kinds[kind]})
            times[kind].append(time.perf_counter() - started)
            assert answer.status_code == 401
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    halves = [statistics.median(v[: len(v) // 2]) * 1e6 - statistics.median(v[len(v) // 2 :]) * 1e6 for v in times.values()]
    return {
        "samples_per_kind": samples,
        "median_us": {k: round(v, 1) for k, v in med.items()},
        "difference_us": round(med["long correct prefix"] - med["wrong first character"], 1),
        "noise_us": round(max(abs(h) for h in halves), 1),
        "p90_us": {k: round(rel.percentile(v, 90) * 1e6, 1) for k, v in times.items()},
    }


# --- 5. CORS, limits, paths ----------------------------------------------------------------------


def cors(r: Rig) -> dict[str, Any]:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    allowed = r.keep(r.http.post("/v1/chat/completions", json=body, headers={"origin": ORIGIN}))
    others = ["https://evil.example", "http://app.example", "https://app.example.evil.example", "null"]
    leaked = [
        o
        for o in others
        if "access-control-allow-origin" in r.keep(r.http.post("/v1/chat/completions", json=body, headers={"origin": o})).headers
    ]
    pre = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    pre_ok = r.keep(r.http.options("/v1/chat/completions", headers={"origin": ORIGIN, **pre}))
    pre_bad = r.keep(r.http.options("/v1/chat/completions", headers={"origin": others[0], **pre}))
    bad_code = (
        pre_bad.json().get("error", {}).get("code") if pre_bad.headers.get("content-type", "").startswith("application/json") else None
    )
    return {
        "allowed_origin_gets_header": allowed.headers.get("access-control-allow-origin") == ORIGIN,
        "other_origins_tried": len(others),
        "other_origins_given_header": leaked,
        "preflight_allowed": pre_ok.status_code == 200 and pre_ok.headers.get("access-control-allow-origin") == ORIGIN,
        "preflight_refused_status": pre_bad.status_code,
        "preflight_refused_code": bad_code,
        "ok": (
            allowed.headers.get("access-control-allow-origin") == ORIGIN
            and not leaked
            and pre_ok.status_code == 200
            and pre_bad.status_code == 403
            and bad_code == catalogue.AUTH_ORIGIN_NOT_ALLOWED.code
            and "access-control-allow-origin" not in pre_bad.headers
        ),
    }


def limits(r: Rig) -> dict[str, Any]:
    big = b'{"model": "chat", "messages": [{"role": "user", "content": "' + b"x" * MAX_BODY_BYTES + b'"}]}'

    def chunks() -> Iterator[bytes]:
        yield big[: MAX_BODY_BYTES // 2]
        yield big[MAX_BODY_BYTES // 2 :]

    over = "x" * (MAX_PROMPT_CHARS + 1)
    cases: dict[str, Callable[[], httpx.Response]] = {
        "body over 1 MiB": lambda: r.http.post("/v1/chat/completions", content=big),
        "body over 1 MiB, chunked": lambda: r.http.post("/v1/chat/completions", content=chunks()),
        "chat prompt": lambda: r.http.post("/v1/chat/completions", json={"model": "chat", "messages": [{"role": "user", "content": over}]}),
        "completions prompt": lambda: r.http.post("/v1/completions", json={"model": "chat", "prompt": over}),
        "responses input": lambda: r.http.post("/v1/responses", json={"model": "chat", "input": over}),
        "responses instructions": lambda: r.http.post("/v1/responses", json={"model": "chat", "input": "x", "instructions": over}),
    }
    results = {}
    for name, call in cases.items():
        answer = call()
        code = answer.json().get("error", {}).get("code") if answer.status_code != 200 else None
        results[name] = answer.status_code == 413 and code == catalogue.VAL_TOO_LARGE.code
    return {"cases": results, "enforced": sum(results.values()), "tried": len(results)}


def paths(r: Rig) -> dict[str, Any]:
    names = ["../chat", "/etc/passwd", "../../models/SmolLM2-135M-Instruct.Q4_1.gguf", "..\\..\\win.ini", "%2e%2e%2fchat", "chat\x00.gguf"]
    refused_names = 0
    for name in names:
        answer = r.keep(r.http.post("/v1/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "hi"}]}))
        refused_names += answer.status_code == 404 and answer.json()["error"]["code"] == catalogue.MODEL_NOT_FOUND.code
    outside = r.outside.name
    web_paths = [
        f"/../{outside}",
        f"/%2e%2e/{outside}",
        f"/%2e%2e%2f{outside}",
        f"/..%2f{outside}",
        f"//{r.outside}",
        f"/v1/../../{outside}",
    ]
    served = 0
    refused_paths = 0
    for path in web_paths:
        answer = r.keep(fz.raw_request(r.url, "GET", path))
        served += b"NOT-FOR-THE-WEB" in answer.content
        refused_paths += answer.status_code == 404
    return {
        "model_names_tried": len(names),
        "model_names_refused": refused_names,
        "web_paths_tried": len(web_paths),
        "web_paths_refused": refused_paths,
        "files_served_from_outside": served,
    }


# --- 6. parsers, through pytest ------------------------------------------------------------------

PARSER_TESTS = ["tests/edge_server/test_fuzz_parsers.py", "tests/core/test_fuzz_config.py"]


def parsers(examples: int, seed: int) -> dict[str, Any]:
    env = {**os.environ, "LLM_FUZZ_EXAMPLES": str(examples)}
    # Seeded like the rest of the run: a finding can be replayed with the same command,
    # and CI's short form does not pass or fail by the luck of the draw.
    cmd = [sys.executable, "-m", "pytest", *PARSER_TESTS, "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--hypothesis-seed={seed}"]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|error|errors|skipped)", tail)}
    return {
        "command": f"LLM_FUZZ_EXAMPLES={examples} python -m pytest {' '.join(PARSER_TESTS)} --hypothesis-seed={seed}",
        "examples_per_property": examples,
        "exit_status": done.returncode,
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
        "summary": tail,
        # What failed and hypothesis's falsifying example, to fix it from the JSON alone.
        "failure_output": done.stdout[-4000:] if done.returncode else "",
        "duration_s": round(time.monotonic() - started, 1),
    }


# --- the run --------------------------------------------------------------------------------------


def run(quick: bool, examples: int | None = None, seed_value: int = 0) -> dict[str, Any]:
    mode = "quick" if quick else "full"
    size = dict(SIZES[mode]) | ({"examples": examples} if examples else {})
    meta: dict[str, Any] = {"machine": rel.machine(), "mode": mode, "command": rel.command_line(SCRIPT, quick), "seed": seed_value}
    started = time.monotonic()
    rng = random.Random(seed_value)
    with rig() as r:
        fuzzed = fuzz(r, size["examples"], seed_value)
        admin_result = admin(r)
        cors_result = cors(r)
        limits_result = limits(r)
        paths_result = paths(r)
        timing_result = timing(r, size["timing"], rng)
        secrets_result = secrets_check(r)
        healthy_at_end = r.http.get("/health").status_code == 200
        alive = r.alive()
        exit_status = r.server.stop()
    parser_result = parsers(size["parser_examples"], seed_value)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: -15 is a clean exit too.
    crashes = (not alive) + (not healthy_at_end) + fuzzed["no_answer"] + (exit_status not in (0, -15))
    targets = {
        "5xx answers to fuzzed requests": rel.target("0", fuzzed["5xx"], fuzzed["5xx"] == 0),
        "crashes (process died, no answer, unhealthy, unclean exit)": rel.target("0", crashes, crashes == 0),
        "errors without a catalogue LLM_ code": rel.target("0", fuzzed["no_llm_code"], fuzzed["no_llm_code"] == 0),
        "other oracle findings (status, streams, 200 vs description)": rel.target(
            "0", fuzzed["other_problems"], fuzzed["other_problems"] == 0
        ),
        "admin requests without the right key refused": rel.target(
            f"all {admin_result['wrong_requests']}", admin_result["refused"], admin_result["refused"] == admin_result["wrong_requests"]
        ),
        "admin requests with the right key let in": rel.target(
            f"all {admin_result['right_requests']}",
            admin_result["right_accepted"],
            admin_result["right_accepted"] == admin_result["right_requests"],
        ),
        "secrets in answers, /api/status, /metrics, logs": rel.target(
            "0", secrets_result["total_found"], secrets_result["total_found"] == 0
        ),
        "CORS headers for the configured origin only": rel.target("yes", "yes" if cors_result["ok"] else "no", cors_result["ok"]),
        "size limits answered 413 LLM_VAL_006_E": rel.target(
            f"all {limits_result['tried']}", limits_result["enforced"], limits_result["enforced"] == limits_result["tried"]
        ),
        "names and paths escaping their folder refused": rel.target(
            f"all {paths_result['model_names_tried'] + paths_result['web_paths_tried']}",
            paths_result["model_names_refused"] + paths_result["web_paths_refused"],
            paths_result["model_names_refused"] == paths_result["model_names_tried"]
            and paths_result["web_paths_refused"] == paths_result["web_paths_tried"]
            and paths_result["files_served_from_outside"] == 0,
        ),
        "parser fuzz properties failing": rel.target(
            "0", parser_result["failed"], parser_result["failed"] == 0 and parser_result["exit_status"] == 0 and parser_result["passed"] > 0
        ),
    }
    return {
        "meta": meta | {"load_average_1m_end": rel.load_average(), "duration_s": round(time.monotonic() - started, 1), "sizes": size},
        "fuzz": fuzzed,
        "crashes": {"alive_at_end": alive, "healthy_at_end": healthy_at_end, "exit_status": exit_status, "no_answer": fuzzed["no_answer"]},
        "admin": admin_result,
        "secrets": secrets_result,
        "timing": timing_result,
        "cors": cors_result,
        "limits": limits_result,
        "paths": paths_result,
        "parsers": parser_result,
        "targets": targets,
    }


def render(result: dict[str, Any]) -> str:
    meta, fz_, ad, se, ti, co, li, pa, pr = (
        result["meta"],
        result["fuzz"],
        result["admin"],
        result["secrets"],
        result["timing"],
        result["cors"],
        result["limits"],
        result["paths"],
        result["parsers"],
    )
    statuses = ", ".join(f"{k}: {rel.fmt_num(v)}" for k, v in fz_["statuses"].items())
    lines = [
        "## Security and bad input",
        "",
        f"`{meta['command']}` — `python -m edge_server` as a process in front of a healthy fault-provider upstream and a hostile "
        "one that quotes the credentials it gets back in its errors, with an admin key, an upstream key, one CORS origin and a "
        "web bundle.",
        "",
        rel.targets_table(result["targets"]),
        "",
        f"**Fuzzing**: {rel.fmt_num(fz_['requests'])} requests from hypothesis (tests/support/api_fuzz.py): bodies the server's "
        "own OpenAPI description (`/openapi.json`) calls valid, the same bodies broken in one place (a field dropped, retyped or "
        "set to nonsense, an unknown one added), raw bytes and the bodies known to break JSON servers (lone surrogates, deep "
        "nesting, 5,000-digit numbers, NaN, byte-order marks), any method on any path. Every answer went to the oracle: no 5xx, "
        "every error with a catalogue `LLM_*` code and that code's status, 200s as described, streams ending properly.",
        "",
        rel.md_table(["source", "requests"], sorted(fz_["by_source"].items()), align="lr"),
        "",
        f"Statuses: {statuses}. 5xx: {fz_['5xx']}; errors without an `LLM_` code: {fz_['no_llm_code']}; requests with no "
        f"answer: {fz_['no_answer']}.",
        "",
        f"**Admin endpoints**: {len(ad['forms_tried'])} forms of a wrong or missing key (empty, blank, one character short or "
        "long, another case, `Bearer` in the wrong header, `Basic`/`Token` schemes, the key in a cookie, the query string or a "
        f"look-alike header, a wrong `x-api-key` beside a right `Bearer`) on `/api/diagnostics` and `/api/heal`: "
        f"{ad['refused']} of {ad['wrong_requests']} refused with `LLM_AUTH_001_E`; the right key in its "
        f"{ad['right_requests'] // 2} forms let in {ad['right_accepted']} of {ad['right_requests']} times.",
        "",
        f"**Secrets**: the admin key, two near misses of it and the upstream's key looked for in {rel.fmt_num(se['answers_searched'])} "
        f"answers, `/api/status`, `/api/diagnostics`, `/metrics` and {rel.fmt_num(se['log_lines_searched'])} log lines: "
        f"{se['total_found']} found. The hostile upstream's quotes of our key reached the log as `[REDACTED]` "
        f"({se['scrubbed_quotes_in_log']} times).",
        "",
        f"**Timing probe** (reported, not a target): median time of a refused `/api/diagnostics` over one kept-alive connection, "
        f"{rel.fmt_num(ti['samples_per_kind'])} samples of each kind, interleaved.",
        "",
        rel.md_table(
            ["key sent", "median µs", "p90 µs"],
            [(k, ti["median_us"][k], ti["p90_us"][k]) for k in ti["median_us"]],
            align="lrr",
        ),
        "",
        f"Difference: {ti['difference_us']} µs; the same difference between the two halves of one kind (noise): up to "
        f"{ti['noise_us']} µs. The comparison is `hmac.compare_digest` (tests/edge_server/test_access_control.py checks that it "
        "alone decides).",
        "",
        f"**CORS**: the configured origin got `Access-Control-Allow-Origin` "
        f"({'yes' if co['allowed_origin_gets_header'] else 'no'}); {len(co['other_origins_given_header'])} of "
        f"{co['other_origins_tried']} other origins did; a preflight from another origin got {co['preflight_refused_status']} "
        f"`{co['preflight_refused_code']}`.",
        "",
        f"**Limits**: {li['enforced']} of {li['tried']} over-limit requests (a body over 1 MiB, declared or chunked; a prompt over "
        "200,000 characters in each API's fields) got 413 `LLM_VAL_006_E`.",
        "",
        f"**Names and paths**: {pa['model_names_refused']} of {pa['model_names_tried']} model names that look like paths got 404 "
        f"`LLM_MODEL_001_E`; {pa['web_paths_refused']} of {pa['web_paths_tried']} web paths climbing out of the bundle's folder "
        f"(dot segments, encoded, doubled slashes) got 404; files served from outside: {pa['files_served_from_outside']}.",
        "",
        f"**Parsers**: `{pr['command']}` — {pr['summary']} ({pr['duration_s']} s): upstream event streams and error bodies over "
        "HTTP, GGUF headers built from the format's grammar then damaged, configuration files and documents, environment "
        "overrides, hints import.",
        "",
        f"{rel.machine_line(meta)}; {meta['duration_s']} s in all. Raw figures: "
        "[bench/results/reliability_security.json](../bench/results/reliability_security.json).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few thousand requests (about half a minute)")
    ap.add_argument("--examples", type=int, help="hypothesis examples per request source (default: 200 quick, 2500 full)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    result = run(args.quick, examples=args.examples, seed_value=args.seed)
    path = rel.write_result(NAME, result, args.out)
    print(render(result))
    print(f"wrote {path}")
    return 0 if rel.all_met(result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
