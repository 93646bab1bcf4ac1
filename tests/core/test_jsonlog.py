from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.jsonlog import REDACTED, JsonFormatter, StructuredLogger, redact, redact_text
from llm_runner_router.core.testing import run_virtual

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


class Capture:
    """A logger wired to a JsonFormatter writing into memory."""

    def __init__(self, name: str) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.std = logging.getLogger(name)
        self.std.addHandler(self.handler)
        self.std.setLevel(logging.DEBUG)
        self.std.propagate = False
        self.log = jsonlog.get_logger(name)

    def lines(self) -> list[str]:
        text = self.stream.getvalue()
        assert text.endswith("\n") or text == ""
        return text.split("\n")[:-1]

    def entries(self) -> list[dict[str, Any]]:
        def no_constants(name: str) -> Any:
            raise AssertionError(f"not JSON: {name}")

        return [json.loads(line, parse_constant=no_constants) for line in self.lines()]

    def one(self) -> dict[str, Any]:
        entries = self.entries()
        assert len(entries) == 1, entries
        return entries[0]

    def close(self) -> None:
        self.std.removeHandler(self.handler)
        self.std.propagate = True
        self.std.setLevel(logging.NOTSET)


@pytest.fixture
def cap(request: pytest.FixtureRequest) -> Iterator[Capture]:
    c = Capture(f"test.jsonlog.{request.node.name}")
    token = jsonlog._context.set({})
    try:
        yield c
    finally:
        jsonlog._context.reset(token)
        c.close()


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as e:  # noqa: BLE001 - returns it with a traceback
        return e


# --- the entry ------------------------------------------------------------------


def test_entry_fields(cap: Capture) -> None:
    cap.log.info("hello world", batch_size=32, model="m")
    e = cap.one()
    assert list(e) == ["timestamp", "level", "logger", "message", "context", "extra"]
    assert _TIMESTAMP.match(e["timestamp"])
    assert e["level"] == "INFO"
    assert e["logger"] == cap.std.name
    assert e["message"] == "hello world"
    assert e["context"] == {}
    assert e["extra"] == {"batch_size": 32, "model": "m"}


def test_timestamp_is_utc_with_milliseconds() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created = 1_700_000_000.123
    record.msecs = 123.0
    assert json.loads(JsonFormatter().format(record))["timestamp"] == "2023-11-14T22:13:20.123Z"
    record.created, record.msecs = 86_399.9999, 999.9
    assert json.loads(JsonFormatter().format(record))["timestamp"] == "1970-01-01T23:59:59.999Z"


@pytest.mark.parametrize("method", ["debug", "info", "warning", "error", "critical"])
def test_levels(cap: Capture, method: str) -> None:
    getattr(cap.log, method)("m")
    assert cap.one()["level"] == method.upper()


def test_level_filtering(cap: Capture) -> None:
    cap.std.setLevel(logging.WARNING)
    cap.log.debug("no")
    cap.log.info("no")
    cap.log.warning("yes")
    assert [e["message"] for e in cap.entries()] == ["yes"]
    assert cap.log.is_enabled_for(logging.ERROR) and not cap.log.is_enabled_for(logging.INFO)


def test_one_line_per_entry_even_for_multiline_text(cap: Capture) -> None:
    cap.log.info("line one\nline two", note="a\nb\u2028c")
    assert len(cap.lines()) == 1
    assert cap.one()["message"] == "line one\nline two"


def test_percent_signs_are_not_formatting(cap: Capture) -> None:
    cap.log.info("100% done %s %d")
    assert cap.one()["message"] == "100% done %s %d"


def test_values_that_json_cannot_hold(cap: Capture) -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    cap.log.info("m", nan=float("nan"), inf=float("inf"), obj=Thing(), tup=(1, 2), st={3}, keys={(1, 2): "x", 5: "y"})
    extra = cap.one()["extra"]
    assert extra == {"nan": "nan", "inf": "inf", "obj": "a thing", "tup": [1, 2], "st": [3], "keys": {"(1, 2)": "x", "5": "y"}}


def test_self_referencing_values_do_not_hang(cap: Capture) -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    cap.log.info("m", loop=loop)
    assert "[...]" in json.dumps(cap.one()["extra"])


def test_caller_location_is_the_callers(cap: Capture) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    cap.std.addHandler(keep)
    try:
        cap.log.info("where")
    finally:
        cap.std.removeHandler(keep)
    assert records[0].funcName == "test_caller_location_is_the_callers"
    assert records[0].pathname == __file__


# --- context --------------------------------------------------------------------


def test_log_context_nests_and_restores(cap: Capture) -> None:
    with jsonlog.log_context(request_id="req-1", component="router") as ctx:
        assert ctx == {"request_id": "req-1", "component": "router"}
        cap.log.info("outer")
        with jsonlog.log_context(operation="chat", component="retry"):
            cap.log.info("inner")
            assert jsonlog.current_context() == {"request_id": "req-1", "component": "retry", "operation": "chat"}
        cap.log.info("outer again")
    cap.log.info("outside")
    contexts = [e["context"] for e in cap.entries()]
    assert contexts == [
        {"request_id": "req-1", "component": "router"},
        {"request_id": "req-1", "component": "retry", "operation": "chat"},
        {"request_id": "req-1", "component": "router"},
        {},
    ]


def test_log_context_restores_after_an_exception(cap: Capture) -> None:
    with pytest.raises(KeyError), jsonlog.log_context(request_id="r"):
        raise KeyError("x")
    assert jsonlog.current_context() == {}


def test_bind_reset_and_clear(cap: Capture) -> None:
    token = jsonlog.bind(request_id="r1")
    jsonlog.bind(component="c")
    assert jsonlog.current_context() == {"request_id": "r1", "component": "c"}
    snapshot = jsonlog.current_context()
    snapshot["mutated"] = True
    assert "mutated" not in jsonlog.current_context()
    jsonlog.clear_context()
    assert jsonlog.current_context() == {}
    jsonlog.reset_context(token)
    assert jsonlog.current_context() == {}


def test_context_keywords_go_to_context_the_rest_to_extra(cap: Capture) -> None:
    with jsonlog.log_context(request_id="outer", component="x"):
        cap.log.info("m", operation="chat", request_id="inner", deployment="a")
    e = cap.one()
    assert e["context"] == {"request_id": "inner", "component": "x", "operation": "chat"}
    assert e["extra"] == {"deployment": "a"}


def test_logger_bind_adds_fixed_context(cap: Capture) -> None:
    log = cap.log.bind(component="breaker")
    assert isinstance(log, StructuredLogger) and log.name == cap.std.name and log.logger is cap.std
    with jsonlog.log_context(request_id="r"):
        log.bind(shard=2).info("m")
    assert cap.one()["context"] == {"request_id": "r", "component": "breaker", "shard": 2}


def test_context_does_not_leak_between_concurrent_tasks(cap: Capture) -> None:
    async def request(rid: str, pause: float) -> None:
        with jsonlog.log_context(request_id=rid):
            await asyncio.sleep(pause)
            cap.log.info("done")

    async def main(loop: asyncio.AbstractEventLoop) -> None:
        await asyncio.gather(request("a", 0.2), request("b", 0.1))

    run_virtual(main)
    assert [(e["message"], e["context"]) for e in cap.entries()] == [
        ("done", {"request_id": "b"}),
        ("done", {"request_id": "a"}),
    ]


def test_context_is_captured_when_the_record_is_made(cap: Capture) -> None:
    records: list[logging.LogRecord] = []

    class Later(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    later = Later()
    cap.std.addHandler(later)
    try:
        with jsonlog.log_context(request_id="then"):
            cap.log.info("m")
    finally:
        cap.std.removeHandler(later)
    with jsonlog.log_context(request_id="now"):
        formatted = json.loads(JsonFormatter().format(records[0]))
    assert formatted["context"] == {"request_id": "then"}


# --- errors ---------------------------------------------------------------------


def test_llm_error_gives_code_type_dict_and_trace(cap: Capture) -> None:
    error = raised(catalogue.NET_CONNECTION_FAILED.error("could not reach a", host="a.example"))
    cap.log.warning("attempt failed", error=error, deployment="a")
    e = cap.one()
    assert e["error_code"] == "LLM_NET_001_E"
    assert e["exception_type"] == "NetworkError"
    assert e["stack_trace"].startswith("Traceback (most recent call last):")
    assert "could not reach a" in e["stack_trace"]
    assert e["error"]["code"] == "LLM_NET_001_E" and e["error"]["context"] == {"host": "a.example"}
    assert e["extra"] == {"deployment": "a"}


def test_an_error_never_raised_has_no_trace(cap: Capture) -> None:
    cap.log.error("refused", error=catalogue.AUTH_FAILED.error())
    e = cap.one()
    assert e["error_code"] == "LLM_AUTH_001_E" and e["exception_type"] == "AuthError"
    assert "stack_trace" not in e


def test_explicit_error_code_wins(cap: Capture) -> None:
    cap.log.error("m", error=catalogue.AUTH_FAILED.error(), error_code="LLM_CORE_006_E")
    assert cap.one()["error_code"] == "LLM_CORE_006_E"
    cap.log.error("m2", error_code="ERR_API_RATE_LIMIT")
    assert cap.entries()[1]["error_code"] == "ERR_API_RATE_LIMIT"
    assert "exception_type" not in cap.entries()[1]


def test_plain_exception_as_error(cap: Capture) -> None:
    cap.log.error("m", error=raised(ValueError("bad value")))
    e = cap.one()
    assert e["exception_type"] == "ValueError" and "error_code" not in e and "error" not in e
    assert "ValueError: bad value" in e["stack_trace"]


def test_exception_logs_the_current_exception(cap: Capture) -> None:
    try:
        raise catalogue.STREAM_STALL.error()
    except Exception:
        cap.log.exception("stream stalled", deployment="a")
    e = cap.one()
    assert e["level"] == "ERROR"
    assert e["error_code"] == "LLM_STREAM_002_E" and e["exception_type"] == "StreamError"
    assert "test_exception_logs_the_current_exception" in e["stack_trace"]
    assert e["error"]["name"] == "stall"


def test_exception_outside_except_still_logs(cap: Capture) -> None:
    cap.log.exception("nothing raised")
    e = cap.one()
    assert e["level"] == "ERROR" and "stack_trace" not in e and "exception_type" not in e


def test_stdlib_records_are_formatted_too(cap: Capture) -> None:
    try:
        raise catalogue.TIMEOUT_READ.error()
    except Exception:
        cap.std.exception("plain %s", "logging", extra={"deployment": "a", "password": "hunter2"})
    e = cap.one()
    assert e["message"] == "plain logging"
    assert e["error_code"] == "LLM_TIMEOUT_002_E"
    assert e["extra"] == {"deployment": "a", "password": REDACTED}
    assert "Traceback" in e["stack_trace"]


def test_stack_info(cap: Capture) -> None:
    cap.std.info("m", stack_info=True)
    assert "Stack (most recent call last)" in cap.one()["stack_info"]


# --- redaction ------------------------------------------------------------------

SECRET = "s3cr3tV4lue0123456789"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {SECRET}",
        f"authorization=Bearer {SECRET}",
        f"calling with bearer {SECRET} now",
        f"x-api-key: {SECRET}",
        f"X-API-KEY:{SECRET}",
        f"GET /v1?api_key={SECRET}&model=m",
        f"apikey={SECRET}",
        f'{{"api_key": "{SECRET}", "model": "m"}}',
        f"{{'password': 'with space {SECRET}'}}",
        f"password={SECRET}",
        f"client_secret: {SECRET}",
        f"token={SECRET}",
        f"access_token={SECRET}",
        f"key sk-{SECRET} leaked",
        f"sk-proj-{SECRET}",
        f"sk-ant-api03-{SECRET}",
        f"hf_{SECRET}",
        f"https://user:{SECRET}@db.example/x",
        f"https://maps.example/api?key={SECRET}",
        f"Proxy-Authorization: Basic {SECRET}==",
    ],
)
def test_free_text_secrets_are_scrubbed(text: str) -> None:
    out = redact_text(text)
    assert SECRET not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=256 tokens=10 prompt_tokens: 5 token_count=3",
        "the model took 2.5 s on task-12345678 (mask-rcnn, desk-lamp)",
        "LLM_NET_001_E connection failed",
        "https://host.example/v1/chat/completions",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


# Pieces of every pattern in the scrubber: keys, separators, quotes, escapes, schemes,
# token prefixes. Repeating a few of them makes the inputs that make a backtracking
# regex scan the same text again from each start (a 16,000-character path once held
# the event loop for 16 s).
_PIECES = [
    "x", "a-", "_", ".", "/", ":", "=", " ", "\t", "\n", '"', "'", "\\", "@", "?", "&",
    "token", "password", "api_key", "x-api-key", "secret", "authorization", "bearer ", "basic ",
    "sk-", "hf_", "ghp_", "AIza", "xoxa-", "eyJ", "eyJaaaaaaaa.", "a://", "http://u:", "?key=",
]


def _seconds(text: str) -> float:
    import time

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        redact_text(text)
        best = min(best, time.perf_counter() - started)
    return best


@settings(max_examples=40)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4))
def test_scrubbing_stays_linear_on_adversarial_input(pieces: list[str]) -> None:
    unit = "".join(pieces)
    short = "/" + unit * (4_000 // len(unit))
    long = "/" + unit * (16_000 // len(unit))
    # Four times the text: about four times the work when linear, sixteen when quadratic.
    # Timed side by side, best of three, so a busy machine slows both alike.
    t_short, t_long = _seconds(short), _seconds(long)
    assert t_long < 8 * t_short + 0.002, f"{pieces!r}: {t_short * 1000:.2f} ms for 4k, {t_long * 1000:.2f} ms for 16k"


def test_scrubbing_still_finds_secrets_after_long_runs() -> None:
    # The look-behinds pin a match to the start of a run; the run itself still counts as the key.
    assert redact_text("x" * 5000 + f"_api_key={SECRET}") == "x" * 5000 + f"_api_key={REDACTED}"
    # An unterminated quoted value is redacted to the end of its line, not skipped.
    assert SECRET not in redact_text(f"password='{SECRET}\\' and more\nnext line")
    assert redact_text(f"password='{SECRET}\nnext") == f"password='{REDACTED}'\nnext"


def test_scrubbing_is_idempotent() -> None:
    once = redact_text(f"Authorization: Bearer {SECRET}; x-api-key: {SECRET}; sk-{SECRET}")
    assert redact_text(once) == once
    assert once == f"Authorization: {REDACTED}; x-api-key: {REDACTED}; {REDACTED}"


def test_redact_structures() -> None:
    value = {
        "headers": {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET, "Content-Type": "application/json"},
        "API_KEY": SECRET,
        "apiKey": SECRET,
        "openai_api_key": SECRET,
        "db-password": SECRET,
        "Secret": {"nested": "whole value goes"},
        "token": SECRET,
        "refresh_token": SECRET,
        "max_tokens": 256,
        "tokens": [1, 2],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        "list": [{"password": SECRET}, f"Bearer {SECRET}", (f"sk-{SECRET}",)],
        7: "int keys are fine",
    }
    out = redact(value)
    assert SECRET not in repr(out)
    assert out["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Content-Type": "application/json"}
    assert out["Secret"] == REDACTED
    assert out["max_tokens"] == 256 and out["tokens"] == [1, 2] and out["usage"] == {"prompt_tokens": 3, "completion_tokens": 4}
    assert out["list"][0] == {"password": REDACTED}
    assert out["list"][1] == f"Bearer {REDACTED}"
    assert out["list"][2] == (REDACTED,)  # tuples stay tuples
    assert out[7] == "int keys are fine"
    assert value["API_KEY"] == SECRET  # the input is not changed


def test_redact_leaves_other_objects() -> None:
    marker = object()
    assert redact(marker) is marker
    assert redact(3.5) == 3.5 and redact(None) is None and redact(True) is True
    assert redact(frozenset({"a"})) == frozenset({"a"})


def test_secrets_never_reach_the_log(cap: Capture) -> None:
    error = raised(
        catalogue.AUTH_UPSTREAM_REJECTED.error(
            f"upstream said: invalid x-api-key: {SECRET}", api_key=SECRET, headers={"Authorization": f"Bearer {SECRET}"}
        )
    )
    with jsonlog.log_context(request_id="r", api_key=SECRET, session={"token": SECRET}):
        cap.log.error(
            f"call failed with Authorization: Bearer {SECRET}",
            error=error,
            headers={"x-api-key": SECRET, "authorization": f"Bearer {SECRET}"},
            body=f'{{"api_key": "{SECRET}"}}',
            url=f"https://u:{SECRET}@h/",
            items=[{"password": SECRET}],
        )
    raw = cap.stream.getvalue()
    assert SECRET not in raw
    e = cap.one()
    assert e["context"]["api_key"] == REDACTED and e["context"]["session"] == {"token": REDACTED}
    assert e["extra"]["headers"] == {"x-api-key": REDACTED, "authorization": REDACTED}
    assert e["error"]["context"] == {"api_key": REDACTED, "headers": {"Authorization": REDACTED}}
    assert REDACTED in e["stack_trace"] and REDACTED in e["message"]


def test_secrets_in_a_stack_trace_are_scrubbed(cap: Capture) -> None:
    def connect(api_key: str) -> None:
        raise ConnectionError(f"refused for key {api_key} with Authorization: Bearer {api_key}")

    try:
        connect(f"sk-{SECRET}")
    except ConnectionError:
        cap.log.exception("connect failed")
    e = cap.one()
    assert "ConnectionError" in e["stack_trace"]
    assert SECRET not in cap.stream.getvalue()


@settings(max_examples=150)
@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=12, max_size=40),
    template=st.sampled_from(
        [
            "Authorization: Bearer {s}",
            "x-api-key: {s}",
            "api_key={s}",
            "'password': '{s}'",
            '"token": "{s}"',
            "sk-{s}",
            "https://a:{s}@b/",
            "secret={s}",
        ]
    ),
    before=st.text(max_size=20),
    after=st.sampled_from(["", " ", "\n", "; next", "&x=1", '"}', ", more"]),
)
def test_no_templated_secret_survives(secret: str, template: str, before: str, after: str) -> None:
    # A "secret" that is itself part of the surrounding text (the template's own words) proves nothing.
    assume(secret not in before and secret not in template and secret not in after and secret not in "[REDACTED]")
    text = before + " " + template.format(s=secret) + after
    assert secret not in redact_text(text)
    assert secret not in json.dumps(redact({"message": text}))


# --- loggers and configuration ------------------------------------------------------


def test_get_logger_is_one_per_name() -> None:
    assert jsonlog.get_logger("a.b") is jsonlog.get_logger("a.b")
    assert jsonlog.get_logger("a.b") is not jsonlog.get_logger("a.c")
    assert jsonlog.get_logger("a.b").logger is logging.getLogger("a.b")


def test_configure_logging_installs_one_json_handler() -> None:
    name = "test.jsonlog.configure"
    target = logging.getLogger(name)
    first, second = io.StringIO(), io.StringIO()
    try:
        jsonlog.configure_logging("debug", first, logger=name)
        handler = jsonlog.configure_logging("WARNING", second, logger=name)
        assert [h for h in target.handlers if isinstance(h, logging.StreamHandler)] == [handler]
        assert target.level == logging.WARNING
        target.propagate = False
        log = jsonlog.get_logger(name + ".child")
        log.info("dropped")
        log.warning("kept", password=SECRET)
        assert first.getvalue() == ""
        entry = json.loads(second.getvalue())
        assert entry["message"] == "kept" and entry["extra"] == {"password": REDACTED}
        jsonlog.configure_logging(logging.ERROR, second, logger=name)
        assert target.level == logging.ERROR
    finally:
        for h in list(target.handlers):
            target.removeHandler(h)
        target.setLevel(logging.NOTSET)
        target.propagate = True


def test_sorted_keys_option() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    keys = list(json.loads(JsonFormatter(sort_keys=True).format(record)))
    assert keys == sorted(keys)


# --- repeated lines -----------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(cap: Capture) -> Iterator[tuple[Capture, Clock]]:
    """``cap`` with a RepeatFilter (3 per 10 s, on an injected clock) on its handler."""
    clock = Clock()
    repeat = jsonlog.RepeatFilter(burst=3, period=10.0, clock=clock)
    cap.handler.addFilter(repeat)
    try:
        yield cap, clock
    finally:
        cap.handler.removeFilter(repeat)


def test_repeats_past_the_burst_are_held_back(limited: tuple[Capture, Clock]) -> None:
    cap, clock = limited
    for i in range(100):
        cap.log.warning("connection refused", attempt=i)
        clock.now += 0.01
    entries = cap.entries()
    assert [e["extra"] for e in entries] == [{"attempt": 0}, {"attempt": 1}, {"attempt": 2}]


def test_the_first_line_after_the_period_says_how_many_were_held_back(limited: tuple[Capture, Clock]) -> None:
    cap, clock = limited
    for _ in range(50):
        cap.log.warning("connection refused")
    clock.now += 9.9  # still the same period
    cap.log.warning("connection refused")
    assert len(cap.entries()) == 3
    clock.now += 0.1  # ten seconds after the first
    cap.log.warning("connection refused")
    cap.log.warning("connection refused")
    entries = cap.entries()
    assert [e["extra"] for e in entries] == [{}, {}, {}, {"suppressed": 48}, {}]
    # A quiet period: the next line carries no count.
    clock.now += 60
    cap.log.warning("connection refused")
    assert cap.entries()[-1]["extra"] == {}
    assert len(cap.entries()) == 6


def test_kinds_are_counted_apart(limited: tuple[Capture, Clock]) -> None:
    cap, _ = limited
    other = jsonlog.get_logger(cap.std.name + ".other")  # another logger, through the same handler (propagates)
    for _ in range(10):
        cap.log.warning("a")
        cap.log.warning("b")  # another message
        cap.log.error("a")  # another level
        other.warning("a")  # another logger
    messages = [(e["logger"], e["level"], e["message"]) for e in cap.entries()]
    mine = cap.std.name
    for kind in [(mine, "WARNING", "a"), (mine, "WARNING", "b"), (mine, "ERROR", "a"), (other.name, "WARNING", "a")]:
        assert messages.count(kind) == 3, kind
    assert len(messages) == 12


def test_a_kind_is_its_message_before_formatting(limited: tuple[Capture, Clock]) -> None:
    cap, _ = limited
    for i in range(10):
        cap.std.warning("refused connection %d", i)  # ten different lines, one kind
    assert [e["message"] for e in cap.entries()] == ["refused connection 0", "refused connection 1", "refused connection 2"]


def test_the_error_code_is_part_of_the_kind(limited: tuple[Capture, Clock]) -> None:
    cap, _ = limited
    for _ in range(10):
        cap.log.warning("request failed", error=catalogue.RATE_QUEUE_FULL.error())
        cap.log.warning("request failed", error=catalogue.AUTH_FAILED.error())
        cap.log.warning("request failed", error_code="LLM_TIMEOUT_006_E")
        cap.log.warning("request failed")
    codes = [e.get("error_code") for e in cap.entries()]
    for code in ["LLM_RATE_002_E", "LLM_AUTH_001_E", "LLM_TIMEOUT_006_E", None]:
        assert codes.count(code) == 3, code
    assert len(codes) == 12


def test_only_failures_are_limited(limited: tuple[Capture, Clock]) -> None:
    # An access line per request is INFO with no code: every one is kept. INFO with a code is a failure.
    cap, _ = limited
    for i in range(20):
        cap.log.info("request", status=200, n=i)
        cap.log.info("request headers timed out", error_code="LLM_TIMEOUT_006_E")
    entries = cap.entries()
    assert sum(e["message"] == "request" for e in entries) == 20
    assert sum(e["message"] == "request headers timed out" for e in entries) == 3


def test_memory_stays_bounded_under_many_kinds() -> None:
    clock = Clock()
    repeat = jsonlog.RepeatFilter(burst=1, period=10.0, clock=clock)
    for i in range(20_000):
        record = logging.LogRecord("test.jsonlog.kinds", logging.WARNING, __file__, 1, f"unique message {i}", None, None)
        assert repeat.filter(record)  # each kind's first line goes through
    assert len(repeat._kinds) <= 4096
    # The newest kinds are still remembered: their repeats are held back.
    again = logging.LogRecord("test.jsonlog.kinds", logging.WARNING, __file__, 1, "unique message 19999", None, None)
    assert not repeat.filter(again)


def test_configure_logging_limits_repeats_unless_told_not_to() -> None:
    name = "test.jsonlog.repeats"
    target = logging.getLogger(name)
    limited_out, unlimited_out = io.StringIO(), io.StringIO()
    try:
        jsonlog.configure_logging("INFO", limited_out, logger=name)
        target.propagate = False
        log = jsonlog.get_logger(name)
        for _ in range(100):
            log.warning("flood")
        assert len(limited_out.getvalue().splitlines()) == 5  # the default burst
        jsonlog.configure_logging("INFO", unlimited_out, logger=name, limit_repeats=False)
        for _ in range(100):
            log.warning("flood")
        assert len(unlimited_out.getvalue().splitlines()) == 100
    finally:
        for h in list(target.handlers):
            target.removeHandler(h)
        target.setLevel(logging.NOTSET)
        target.propagate = True
