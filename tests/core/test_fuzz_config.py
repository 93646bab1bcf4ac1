"""Fuzzing the core's readers of outside input: configuration documents, the environment, hints import.

Whatever the input, the answer is a value or a coded error -- a ConfigError
(``LLM_CONFIG_*``) naming the field at fault, or ``LLM_VAL_001_E`` for a hints
import -- never another exception. And what is accepted must be usable: a
configuration that loads must survive the arithmetic done with it at run
time (backoff, breaker cooldowns) however long the process runs, and
imported hints must survive every operation the router performs on them.

Runs on CPython and inside Pyodide (pure core, hypothesis only). Examples
per property: a few dozen; ``LLM_FUZZ_EXAMPLES=N`` for more.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, get_type_hints

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.breaker import CircuitBreaker
from llm_runner_router.core.clock import ManualClock
from llm_runner_router.core.config import MAX_NESTING, BreakerConfig, HintsConfig, RetryConfig, Settings, nesting_depth
from llm_runner_router.core.errors import ConfigError, LLMError
from llm_runner_router.core.hints import CompatibilityHints, Hint
from llm_runner_router.core.retry import RetryPolicy, capped_growth
from llm_runner_router.core.store import MemoryStore

FUZZ = settings(
    max_examples=int(os.environ.get("LLM_FUZZ_EXAMPLES") or 60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

SECTIONS: dict[str, list[str]] = {
    f.name: [g.name for g in dataclasses.fields(get_type_hints(Settings)[f.name]) if g.init]
    for f in dataclasses.fields(Settings)
    if dataclasses.is_dataclass(get_type_hints(Settings)[f.name])
}

VALUES: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([0, -1, 1, 2**63, 10**400, -(10**400)]),
        st.floats(),
        st.text(max_size=20),
        st.sampled_from(["none", "None", "", " ", "http://[::1", "http://a:99999", "https://ok.example", "*", "priority", "inf", "1e999"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

BASE: dict[str, Any] = {
    "retry": {"max_attempts": 3, "initial_delay": 0.5, "max_delay": 30, "multiplier": 2, "deadline": "none"},
    "breaker": {"cooldown": 10, "cooldown_multiplier": 2, "max_cooldown": 600},
    "providers": {
        "local": {"kind": "llamacpp", "options": {"n_ctx": 2048}},
        "cloud": {"kind": "openai", "base_url": "https://api.example.com/v1", "api_key_env": "CLOUD_KEY"},
    },
    "deployments": {
        "small": {"provider": "local", "model": "m", "context_window": 2048},
        "large": {"provider": "cloud", "model": "l", "endpoint": "responses"},
    },
    "aliases": {"chat": {"deployments": ["small", "large"], "hedge_after": 2.5}},
}


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """The base document with one to three things changed: a field set to anything, a field
    removed, an unknown one added, or a whole section replaced; sometimes not a table at all."""
    if draw(st.integers(0, 20)) == 0:
        return draw(VALUES)
    doc = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from([*SECTIONS, "default_strategy", "bogus"]))
        how = draw(st.sampled_from(["set", "set", "drop", "unknown", "replace"]))
        if section in ("default_strategy", "bogus") or how == "replace":
            doc[section] = draw(VALUES)
            continue
        table = doc.setdefault(section, {})
        if not isinstance(table, dict):
            continue
        if section in ("providers", "deployments", "aliases") and table and draw(st.booleans()):
            table = table[draw(st.sampled_from(sorted(table)))]  # into one entry of a named table
        names = SECTIONS.get(section, []) + sorted(table)
        if how == "set" and names:
            table[draw(st.sampled_from(names))] = draw(VALUES)
        elif how == "drop" and table:
            del table[draw(st.sampled_from(sorted(table)))]
        else:
            table[draw(st.text(max_size=10))] = draw(VALUES)
    return doc


def check_refusal(err: ConfigError) -> None:
    assert err.spec.category == "CONFIG" and err.code in catalogue.ALL
    field = err.context.get("field")
    assert isinstance(field, str)
    if field:
        assert err.message.startswith(field + ":"), err.message


def check_usable(s: Settings) -> None:
    """What the router computes from a configuration stays finite and within its caps."""
    policy = RetryPolicy(s.retry)
    for attempt in (1, 2, 10, 100, 1100, 10**6):
        delay = policy.backoff(attempt)
        assert math.isfinite(delay) and 0 <= delay <= s.retry.max_delay
    for trips in (0, 1, 50, 1100, 10**6):
        cooldown = capped_growth(s.breaker.cooldown, s.breaker.cooldown_multiplier, trips, s.breaker.max_cooldown)
        assert math.isfinite(cooldown) and 0 < cooldown <= s.breaker.max_cooldown


def same(a: Settings, b: Settings) -> bool:
    # Through JSON text, so that a NaN anywhere (were one accepted) compares equal to itself.
    return json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


# --- documents ----------------------------------------------------------------------------------


@FUZZ
@given(doc=documents())
def test_fuzz_documents_load_or_name_the_field_at_fault(doc: Any) -> None:
    try:
        loaded = Settings.from_dict(doc)
    except ConfigError as err:
        check_refusal(err)
        return
    check_usable(loaded)
    assert same(Settings.from_dict(loaded.to_dict()), loaded)
    assert same(Settings.from_json(json.dumps(loaded.to_dict())), loaded)


_TOML_PIECES = st.sampled_from(
    ["[retry]\n", "[providers.x]\n", "[[aliases]]\n", "max_attempts = ", "kind = ", "'openai'", '"', "3", "1e999", "nan", "inf"]
    + ["[", "]", "{", "}", "=", "\n", ".", "true", "'''", "\\u00e9", "\\ud800", "#", "[logging]\nlevel = ", "x = [[[[[["]
)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.lists(_TOML_PIECES, max_size=30).map("".join)))
def test_fuzz_toml_text_loads_or_gives_a_config_code(text: str) -> None:
    try:
        check_usable(Settings.from_toml(text))
    except ConfigError as err:
        check_refusal(err)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), documents().map(lambda d: json.dumps(d)), st.integers(1, 3000).map(lambda n: "[" * n)))
def test_fuzz_json_text_loads_or_gives_a_config_code(text: str) -> None:
    try:
        check_usable(Settings.from_json(text))
    except ConfigError as err:
        check_refusal(err)


def test_text_nested_beyond_the_parsers_gives_a_parse_code() -> None:
    for load, text in [(Settings.from_json, "[" * 100_000), (Settings.from_toml, "a = " + "[" * 100_000)]:
        try:
            load(text)
        except ConfigError as err:
            assert err.code == catalogue.CONFIG_PARSE.code and "nested too deeply" in err.message
        else:
            raise AssertionError("accepted")


def test_brackets_in_strings_and_comments_are_not_nesting() -> None:
    deep = "[" * (MAX_NESTING + 1)
    toml = f"default_strategy = \"{deep}\" # {deep}\n[providers.x]\nkind = 'llamacpp'\noptions = {{ model_path = '{deep}' }}\n"
    assert Settings.from_toml(toml).providers["x"].options == {"model_path": deep}
    text = json.dumps({"default_strategy": deep + '\\"' + deep})
    assert Settings.from_json(text).default_strategy == deep + '\\"' + deep
    assert nesting_depth(text) == 1 and nesting_depth(toml, toml=True) == 1


def test_a_base_url_that_urlsplit_chokes_on_is_a_config_error() -> None:
    for url in ["http://[::1", "http://[not-ipv6]/v1", "http://host:99999/v1", "http://host:-1/v1", "http://:80/v1"]:
        try:
            Settings.from_dict({"providers": {"x": {"kind": "openai", "base_url": url}}})
        except ConfigError as err:
            assert err.code == catalogue.CONFIG_INVALID.code and err.context["field"] == "providers.x.base_url"
        else:
            raise AssertionError(url)


# --- the environment -------------------------------------------------------------------------

_ENV_NAMES = st.one_of(
    st.sampled_from(
        ["MAX_RETRIES", "RETRY_DELAY", "HEALTH_CHECK_INTERVAL", "MEMORY_THRESHOLD", "LOG_LEVEL", "LLM_ROUTER__DEFAULT_STRATEGY"]
    ),
    st.builds(
        lambda section, name: f"LLM_ROUTER__{section}__{name}".upper(),
        st.sampled_from([*SECTIONS, "providers", "nope"]),
        st.sampled_from(sorted({n for names in SECTIONS.values() for n in names}) + ["nope", ""]),
    ),
    st.text(max_size=20).map(lambda s: "LLM_ROUTER__" + s),
)
_ENV_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "none", "0", "-1", "1.5", "1e999", "nan", "inf", "9" * 5000, "true", "yes", "a,b", "https://a.example, *"]),
)


@FUZZ
@given(environ=st.dictionaries(_ENV_NAMES, _ENV_VALUES, max_size=5))
def test_fuzz_environment_overrides_apply_or_name_the_field_at_fault(environ: dict[str, str]) -> None:
    try:
        check_usable(Settings.from_env(environ, Settings.from_dict(BASE)))
    except ConfigError as err:
        check_refusal(err)


# --- values accepted must be usable: growth past a float --------------------------------------


def test_a_breaker_that_trips_thousands_of_times_keeps_its_cooldown_capped() -> None:
    # 2.0 ** 1024 raises OverflowError: the 1025th trip in a row used to crash the breaker.
    clock = ManualClock()
    breaker = CircuitBreaker(("p", "m", "e"), BreakerConfig(failure_threshold=1, cooldown=1, max_cooldown=5), clock)
    for _ in range(1100):
        assert breaker.allow() is None
        breaker.record_failure()
        assert 0 < breaker.retry_after() <= 5
        clock.advance(5)


def test_backoff_after_thousands_of_attempts_stays_at_its_cap() -> None:
    # The largest settings allowed: 100 ** 2000 is past a float too.
    policy = RetryPolicy(RetryConfig(max_attempts=1000, max_delay=30, multiplier=100, jitter=False, deadline=None))
    assert [policy.backoff(n) for n in (1, 2, 3, 2000)] == [0.5, 30, 30, 30]


# --- hints import ----------------------------------------------------------------------------

_RIGHT: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(max_size=12),
    "int": st.integers(0, 10**6),
    "str | None": st.none() | st.text(max_size=12),
    "float | None": st.none() | st.floats(0, 2e9),
    "list[str]": st.lists(st.sampled_from(["chat/completions", "responses", "completions", "temperature", ""]), max_size=3),
    "bool | None": st.none() | st.booleans(),
    "bool": st.booleans(),
}


def _right(name: str) -> st.SearchStrategy[Any]:
    annotation = str(Hint.__dataclass_fields__[name].type)
    return _RIGHT[annotation]


@st.composite
def hint_records(draw: st.DrawFn) -> dict[str, Any]:
    """A hint record with every field of its type, then maybe one or two set to anything."""
    record = {
        name: draw(_right(name)) for name in Hint.__dataclass_fields__ if name in ("provider", "model", "endpoint") or draw(st.booleans())
    }
    for _ in range(draw(st.integers(0, 2))):
        record[draw(st.sampled_from(sorted(Hint.__dataclass_fields__) + ["extra"]))] = draw(VALUES)
    return record


def _hints() -> CompatibilityHints:
    return CompatibilityHints(HintsConfig(blacklist_after=2, reprobe_initial=1), ManualClock(), MemoryStore())


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=100),
        VALUES.map(json.dumps),
        st.lists(hint_records(), max_size=4).map(lambda rs: json.dumps({"version": 1, "hints": rs})),
        st.integers(1, 3000).map(lambda n: '{"hints": ' + "[" * n),
    )
)
def test_fuzz_hints_import_takes_good_records_refuses_the_rest_and_never_breaks_the_router(text: str) -> None:
    hints = _hints()
    try:
        count = hints.import_json(text)
    except LLMError as err:
        assert err.code == catalogue.VAL_MALFORMED.code
        assert list(hints) == []  # all or nothing
        return
    assert count >= len(list(hints))
    # Everything the router does with a hint, on every imported one.
    for hint in list(hints):
        key = hint.key
        hints.blocked(key)
        hints.endpoint_for(key)
        hints.strip_params(key, {"temperature": 0.5, "top_p": 1})
        hints.accepts_prefix(key)
        hints.record_success(key, "chat/completions", used_prefix=True)
        hints.record_error(key, catalogue.API_WRONG_ENDPOINT.error(suggested_endpoint="responses"), "chat/completions")
        hints.record_error(key, catalogue.API_UNSUPPORTED_PARAMETER.error(param="top_p"), "chat/completions")
        for _ in range(3):
            hints.record_error(key, catalogue.NET_UPSTREAM_ERROR.error(), "chat/completions")
    exported = hints.export_json()
    again = _hints()
    again.import_json(exported)
    assert again.export_json() == exported


def test_a_hint_record_of_the_wrong_type_is_refused_on_import_and_skipped_from_the_store() -> None:
    bad = {"provider": "p", "model": "m", "endpoint": "e", "success_count": "lots", "supported_endpoints": 5}
    hints = _hints()
    try:
        hints.import_json(json.dumps({"hints": [bad]}))
    except LLMError as err:
        assert err.code == catalogue.VAL_MALFORMED.code and "success_count" in err.message
    else:
        raise AssertionError("imported")
    store = MemoryStore()
    store.save("hints", "p/m/e", bad)
    store.save("hints", "q/m/e", Hint("q", "m", "e", success_count=2).to_dict())
    loaded = CompatibilityHints(HintsConfig(), ManualClock(), store)
    assert [h.key for h in loaded] == [("q", "m", "e")]  # the good one kept, the bad one skipped
