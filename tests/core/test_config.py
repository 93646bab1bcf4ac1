"""core.config: defaults, constructors, environment, validation, round trips."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, get_args, get_type_hints

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import (
    ENV_PREFIX,
    AliasConfig,
    BreakerConfig,
    CacheConfig,
    HintsConfig,
    LoggingConfig,
    MonitorConfig,
    ProviderConfig,
    RetryConfig,
    Settings,
    StreamConfig,
    rules_of,
)
from llm_runner_router.core.errors import ConfigError, LLMError
from llm_runner_router.core.types import Deployment

INVALID = catalogue.CONFIG_INVALID.code
UNKNOWN = catalogue.CONFIG_UNKNOWN_FIELD.code
MISSING = catalogue.CONFIG_MISSING_FIELD.code
PARSE = catalogue.CONFIG_PARSE.code

FULL_TOML = """
default_strategy = "latency"

[retry]
max_attempts = 4
initial_delay = 1          # an int where a float is expected
max_delay = 20.5
jitter = false
deadline = "none"          # TOML has no null

[breaker]
cooldown = 10
max_cooldown = 120

[logging]
level = "debug"

[providers.local]
kind = "llamacpp"
base_url = "http://127.0.0.1:8080"

[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
read_timeout = 90

[providers.openai.options]
prefill = "vllm"

[deployments.small]
provider = "local"
model = "qwen2.5-3b-instruct"
context_window = 32768
tags = ["local", "cheap"]

[deployments.big]
provider = "openai"
model = "gpt-4o"
endpoint = "responses"
quality = 0.9
cost_per_1k_tokens = 0.005
accepts_prefix = false

[aliases.chat]
deployments = ["small", "big"]
strategy = "my-custom-strategy"
hedge_after = 2.5
context_window_fallbacks = ["big"]
"""


def full() -> Settings:
    return Settings.from_toml(FULL_TOML)


def minimal_tables() -> dict[str, Any]:
    return {
        "providers": {"local": {"kind": "llamacpp"}},
        "deployments": {"small": {"provider": "local", "model": "m"}},
        "aliases": {"chat": {"deployments": ["small"]}},
    }


def raises(code: str, field: str, fn: Any, *args: Any, **kwargs: Any) -> ConfigError:
    """fn(*args) raises a ConfigError with this code, naming this field."""
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.code == code, str(err)
    assert err.context["field"] == field, str(err)
    if field:
        assert field in err.message, err.message
    return err


# --- defaults ---------------------------------------------------------------------


def test_defaults_of_every_section() -> None:
    s = Settings()
    assert s.retry == RetryConfig(
        max_attempts=3, initial_delay=0.5, max_delay=30.0, multiplier=2.0, jitter=True, deadline=120.0, retry_after_cap=60.0
    )
    assert s.breaker == BreakerConfig(
        failure_threshold=5,
        window_seconds=60.0,
        min_calls=10,
        failure_rate_threshold=0.5,
        slow_call_seconds=30.0,
        slow_call_rate_threshold=1.0,
        cooldown=30.0,
        cooldown_multiplier=2.0,
        max_cooldown=600.0,
        half_open_max_calls=1,
        success_threshold=2,
        history_size=100,
    )
    assert s.hints == HintsConfig(blacklist_after=5, reprobe_initial=300.0, reprobe_multiplier=2.0, reprobe_max=86400.0)
    assert s.cache == CacheConfig(enabled=True, ttl=3600.0, max_entries=1000)
    assert s.stream == StreamConfig(first_token_timeout=30.0, stall_timeout=15.0, max_restarts=2)
    assert s.monitor == MonitorConfig(health_check_interval=30.0, memory_threshold=0.9, queue_size=64, max_concurrency=4)
    assert s.logging == LoggingConfig(level="INFO")
    assert s.providers == {} and s.deployments == {} and s.aliases == {}
    assert s.default_strategy == "priority"


def test_provider_and_alias_defaults() -> None:
    p = ProviderConfig(name="p", kind="llamacpp")
    assert (p.base_url, p.api_key_env, p.connect_timeout, p.read_timeout, p.options) == (None, None, 5.0, 60.0, {})
    a = AliasConfig(name="a", deployments=("d",))
    assert (a.strategy, a.hedge_after, a.context_window_fallbacks) == ("priority", None, ())


def test_empty_inputs_give_defaults() -> None:
    assert Settings.from_dict({}) == Settings()
    assert Settings.from_toml("") == Settings()
    assert Settings.from_json("{}") == Settings()
    assert Settings.from_env({}) == Settings()
    assert Settings.load() == Settings()
    assert Settings.from_dict({"retry": {}, "providers": {}}) == Settings()


def test_sections_are_frozen() -> None:
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.retry.max_attempts = 9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.default_strategy = "x"  # type: ignore[misc]


# --- direct construction validates too ---------------------------------------------


def test_direct_construction_is_validated_and_converted() -> None:
    raises(INVALID, "retry.max_attempts", RetryConfig, max_attempts=0)
    raises(INVALID, "breaker.max_cooldown", BreakerConfig, cooldown=100.0, max_cooldown=50.0)
    raises(INVALID, "providers.p.kind", ProviderConfig, name="p", kind="ollama")
    raises(INVALID, "aliases.a.deployments", AliasConfig, name="a", deployments=())
    r = RetryConfig(initial_delay=1)
    assert r.initial_delay == 1.0 and type(r.initial_delay) is float
    assert LoggingConfig(level="error").level == "ERROR"


def test_replace_is_validated() -> None:
    r = dataclasses.replace(RetryConfig(), max_attempts=7)
    assert r.max_attempts == 7
    raises(INVALID, "retry.multiplier", dataclasses.replace, RetryConfig(), multiplier=0.5)


def test_settings_direct_construction_checks_tables() -> None:
    local = ProviderConfig(name="local", kind="llamacpp")
    dep = Deployment(name="d", provider="local", model="m", quality=1)  # int quality
    deployments = {"d": dep}
    s = Settings(providers={"local": local}, deployments=deployments)
    assert s.deployments["d"].quality == 1.0 and type(s.deployments["d"].quality) is float
    assert deployments["d"] is dep  # the caller's dict is left alone
    raises(INVALID, "providers.other.name", Settings, providers={"other": local})
    raises(INVALID, "deployments.d.provider", Settings, deployments={"d": dep})
    bad = Deployment(name="d", provider="local", model="m", context_window=0)
    raises(INVALID, "deployments.d.context_window", Settings, providers={"local": local}, deployments={"d": bad})
    raises(INVALID, "retry", Settings, retry="fast")


# --- constructors --------------------------------------------------------------------


def test_from_toml_full_document() -> None:
    s = full()
    assert s.default_strategy == "latency"
    assert s.retry.max_attempts == 4
    assert s.retry.initial_delay == 1.0 and type(s.retry.initial_delay) is float
    assert s.retry.max_delay == 20.5
    assert s.retry.jitter is False
    assert s.retry.deadline is None
    assert s.retry.multiplier == 2.0  # untouched fields keep their defaults
    assert (s.breaker.cooldown, s.breaker.max_cooldown) == (10.0, 120.0)
    assert s.logging.level == "DEBUG"
    assert s.providers["openai"] == ProviderConfig(
        name="openai",
        kind="openai",
        base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
        read_timeout=90.0,
        options={"prefill": "vllm"},
    )
    assert s.providers["local"].base_url == "http://127.0.0.1:8080"
    assert s.deployments["small"] == Deployment(
        name="small", provider="local", model="qwen2.5-3b-instruct", context_window=32768, tags=("local", "cheap")
    )
    big = s.deployments["big"]
    assert (big.endpoint, big.quality, big.cost_per_1k_tokens, big.accepts_prefix) == ("responses", 0.9, 0.005, False)
    assert s.aliases["chat"] == AliasConfig(
        name="chat",
        deployments=("small", "big"),
        strategy="my-custom-strategy",
        hedge_after=2.5,
        context_window_fallbacks=("big",),
    )


def test_from_json_equals_from_toml() -> None:
    doc = json.dumps(full().to_dict())
    assert Settings.from_json(doc) == full()


def test_from_json_null_for_optional_fields() -> None:
    s = Settings.from_json('{"retry": {"deadline": null}, "providers": {"p": {"kind": "browser", "base_url": null}}}')
    assert s.retry.deadline is None
    assert s.providers["p"].base_url is None


def test_from_dict_accepts_matching_name_and_rejects_other() -> None:
    data = minimal_tables()
    data["providers"]["local"]["name"] = "local"
    assert Settings.from_dict(data).providers["local"].name == "local"
    data["providers"]["local"]["name"] = "remote"
    raises(INVALID, "providers.local.name", Settings.from_dict, data)


def test_load_file_then_env_on_top() -> None:
    text = "[retry]\nmax_attempts = 4\ninitial_delay = 0.25\n[breaker]\ncooldown = 12\n"
    s = Settings.load(text, "toml", {"MAX_RETRIES": "6"})
    assert s.retry.max_attempts == 6  # env wins
    assert s.retry.initial_delay == 0.25  # file value kept
    assert s.breaker.cooldown == 12.0
    assert Settings.load(text) == Settings.from_toml(text)
    j = Settings.load('{"cache": {"enabled": false}}', fmt="json", environ={"LLM_ROUTER__CACHE__TTL": "5"})
    assert (j.cache.enabled, j.cache.ttl) == (False, 5.0)
    assert Settings.load(None, environ={"LOG_LEVEL": "error"}).logging.level == "ERROR"


def test_load_rejects_unknown_format() -> None:
    raises(INVALID, "fmt", Settings.load, "", "yaml")


# --- parse errors ------------------------------------------------------------------------


def test_json_parse_error_has_line() -> None:
    err = raises(PARSE, "", Settings.from_json, '{\n  "retry": {\n    "max_attempts": ,\n  }\n}')
    assert err.context["line"] == 3
    assert "line 3" in err.message


def test_toml_parse_error_has_line() -> None:
    err = raises(PARSE, "", Settings.from_toml, "[retry]\nmax_attempts = 3\n[breaker\n")
    assert err.context["line"] == 3
    assert "line 3" in err.message
    err = raises(PARSE, "", Settings.from_toml, "a = 1\nb = [")
    assert err.context["line"] == 2


def test_json_duplicate_key_is_a_parse_error() -> None:
    err = raises(PARSE, "", Settings.from_json, '{"retry": {"max_attempts": 2, "max_attempts": 3}}')
    assert "max_attempts" in err.message


def test_root_must_be_a_table() -> None:
    raises(INVALID, "", Settings.from_json, "[1, 2]")
    raises(INVALID, "", Settings.from_dict, [("retry", {})])


def test_errors_are_config_errors_with_json_context() -> None:
    err = raises(INVALID, "retry.max_attempts", Settings.from_dict, {"retry": {"max_attempts": -1}})
    assert isinstance(err, LLMError)
    assert err.code == "LLM_CONFIG_001_E"
    out = json.loads(err.to_json())
    assert out["context"] == {"field": "retry.max_attempts", "value": -1}


# --- unknown and missing fields ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "suggestion"),
    [
        ({"retyr": {}}, "retyr", "retry"),
        ({"retry": {"max_attempt": 3}}, "retry.max_attempt", "max_attempts"),
        ({"breaker": {"coldown": 3}}, "breaker.coldown", "cooldown"),
        ({"providers": {"p": {"kind": "llamacpp", "base_ulr": "http://x"}}}, "providers.p.base_ulr", "base_url"),
        (
            {"providers": {"p": {"kind": "llamacpp"}}, "deployments": {"d": {"provider": "p", "model": "m", "weigth": 2}}},
            "deployments.d.weigth",
            "weight",
        ),
        ({"aliases": {"a": {"deployment": ["d"]}}}, "aliases.a.deployment", "deployments"),
    ],
)
def test_unknown_field_suggests_nearest(data: dict[str, Any], field: str, suggestion: str) -> None:
    err = raises(UNKNOWN, field, Settings.from_dict, data)
    assert err.context["suggestion"] == suggestion
    assert f"did you mean '{field.rsplit('.', 1)[0] + '.' if '.' in field else ''}{suggestion}'" in err.message


def test_unknown_field_without_close_match_lists_fields() -> None:
    err = raises(UNKNOWN, "cache.zzz", Settings.from_dict, {"cache": {"zzz": 1}})
    assert err.context["suggestion"] is None
    assert "max_entries" in err.message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"providers": {"p": {}}}, "providers.p.kind"),
        ({"providers": {"p": {"kind": "llamacpp"}}, "deployments": {"d": {"provider": "p"}}}, "deployments.d.model"),
        ({"deployments": {"d": {"model": "m"}}}, "deployments.d.provider"),
        ({"aliases": {"a": {"strategy": "priority"}}}, "aliases.a.deployments"),
        ({"providers": {"p": {"kind": "openai"}}}, "providers.p.base_url"),
    ],
)
def test_missing_required_field(data: dict[str, Any], field: str) -> None:
    raises(MISSING, field, Settings.from_dict, data)


def test_base_url_optional_except_for_openai() -> None:
    s = Settings.from_dict({"providers": {"l": {"kind": "llamacpp"}, "b": {"kind": "browser"}}})
    assert s.providers["l"].base_url is None and s.providers["b"].base_url is None


# --- types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"retry": {"max_attempts": True}}, "retry.max_attempts"),  # bool is not an int
        ({"retry": {"initial_delay": False}}, "retry.initial_delay"),  # nor a float
        ({"retry": {"max_attempts": 2.0}}, "retry.max_attempts"),  # no float for an int
        ({"retry": {"max_attempts": "3"}}, "retry.max_attempts"),
        ({"retry": {"jitter": "yes"}}, "retry.jitter"),  # strings are converted only from env
        ({"retry": {"jitter": 1}}, "retry.jitter"),
        ({"retry": {"deadline": "soon"}}, "retry.deadline"),
        ({"retry": {"initial_delay": math.nan}}, "retry.initial_delay"),
        ({"retry": {"max_delay": math.inf}}, "retry.max_delay"),
        ({"cache": {"ttl": 10**400}}, "cache.ttl"),
        ({"logging": {"level": 10}}, "logging.level"),
        ({"default_strategy": 5}, "default_strategy"),
        ({"retry": [1, 2]}, "retry"),
        ({"retry": None}, "retry"),
        ({"providers": ["p"]}, "providers"),
        ({"providers": {"p": "llamacpp"}}, "providers.p"),
        ({"providers": {"p": {"kind": "llamacpp", "options": [1]}}}, "providers.p.options"),
        ({"providers": {"p": {"kind": "llamacpp", "api_key_env": 7}}}, "providers.p.api_key_env"),
        ({"providers": {"": {"kind": "llamacpp"}}}, "providers."),
        ({"aliases": {"a": {"deployments": "d"}}}, "aliases.a.deployments"),
        ({"aliases": {"a": {"deployments": ["d", 1]}}}, "aliases.a.deployments"),
    ],
)
def test_wrong_type(data: dict[str, Any], field: str) -> None:
    raises(INVALID, field, Settings.from_dict, data)


def test_ints_are_accepted_for_floats() -> None:
    s = Settings.from_dict({"breaker": {"cooldown": 7, "max_cooldown": 70}, "monitor": {"memory_threshold": 1}})
    assert s.breaker.cooldown == 7.0 and type(s.breaker.cooldown) is float
    assert s.monitor.memory_threshold == 1.0 and type(s.monitor.memory_threshold) is float


# --- ranges -----------------------------------------------------------------------------

OUT_OF_RANGE = [
    ("retry", "max_attempts", 0),
    ("retry", "initial_delay", -0.1),
    ("retry", "multiplier", 0.9),
    ("retry", "deadline", 0),
    ("retry", "retry_after_cap", -1),
    ("breaker", "failure_threshold", 0),
    ("breaker", "window_seconds", 0),
    ("breaker", "min_calls", 0),
    ("breaker", "failure_rate_threshold", 0),
    ("breaker", "failure_rate_threshold", 1.01),
    ("breaker", "slow_call_seconds", 0),
    ("breaker", "slow_call_rate_threshold", 0),
    ("breaker", "slow_call_rate_threshold", 1.5),
    ("breaker", "cooldown", 0),
    ("breaker", "cooldown_multiplier", 0.5),
    ("breaker", "half_open_max_calls", 0),
    ("breaker", "success_threshold", 0),
    ("breaker", "history_size", 0),
    ("hints", "blacklist_after", 0),
    ("hints", "reprobe_initial", 0),
    ("hints", "reprobe_multiplier", 0.99),
    ("cache", "ttl", 0),
    ("cache", "max_entries", 0),
    ("stream", "first_token_timeout", 0),
    ("stream", "stall_timeout", -1),
    ("stream", "max_restarts", -1),
    ("monitor", "health_check_interval", 0),
    ("monitor", "memory_threshold", 0),
    ("monitor", "memory_threshold", 1.1),
    ("monitor", "queue_size", 0),
    ("monitor", "max_concurrency", 0),
    ("logging", "level", "VERBOSE"),
]


@pytest.mark.parametrize(("section", "name", "value"), OUT_OF_RANGE)
def test_out_of_range(section: str, name: str, value: Any) -> None:
    err = raises(INVALID, f"{section}.{name}", Settings.from_dict, {section: {name: value}})
    assert err.context["value"] == value


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("retry", {"initial_delay": 0, "max_delay": 0, "multiplier": 1, "deadline": None, "retry_after_cap": 0, "max_attempts": 1}),
        ("breaker", {"failure_rate_threshold": 1, "slow_call_rate_threshold": 1.0, "cooldown_multiplier": 1, "max_cooldown": 30}),
        ("hints", {"reprobe_multiplier": 1, "reprobe_max": 300}),
        ("stream", {"max_restarts": 0}),
        ("monitor", {"memory_threshold": 1}),
    ],
)
def test_boundaries_are_accepted(section: str, values: dict[str, Any]) -> None:
    s = Settings.from_dict({section: values})
    for name, value in values.items():
        assert getattr(getattr(s, section), name) == value


@pytest.mark.parametrize(
    ("section", "values", "field", "other"),
    [
        ("retry", {"initial_delay": 5, "max_delay": 4}, "retry.max_delay", "retry.initial_delay"),
        ("retry", {"initial_delay": 45}, "retry.max_delay", "retry.initial_delay"),  # against the default max_delay
        ("breaker", {"cooldown": 700}, "breaker.max_cooldown", "breaker.cooldown"),
        ("hints", {"reprobe_initial": 10, "reprobe_max": 5}, "hints.reprobe_max", "hints.reprobe_initial"),
    ],
)
def test_field_must_not_be_below_another(section: str, values: dict[str, Any], field: str, other: str) -> None:
    err = raises(INVALID, field, Settings.from_dict, {section: values})
    assert other in err.message


# --- upper bounds: every number has one -------------------------------------------------------
#
# Derived from the classes and their rules (rules_of), so that a new numeric field without an upper bound fails here.

# Where each class sits in a document: a section, or one entry of a table of minimal_tables().
_ENTRY = {"providers": "local", "deployments": "small", "aliases": "chat"}
_PLACE: dict[type[Any], tuple[str, str | None]] = {
    **{cls: (name, None) for name, cls in Settings.sections().items()},
    **{cls: (name, _ENTRY[name]) for name, cls in Settings.tables().items()},
}


def _number_type(tp: Any) -> type | None:
    """int or float for a numeric annotation, optional or not; None for anything else."""
    args = [a for a in get_args(tp) if a is not type(None)] or [tp]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


NUMBERS: list[tuple[type[Any], str, type]] = [
    (cls, f.name, kind)
    for cls in _PLACE
    for f in dataclasses.fields(cls)
    if f.init and (kind := _number_type(get_type_hints(cls)[f.name])) is not None
]


def _path(cls: type[Any], name: str) -> str:
    section, key = _PLACE[cls]
    return f"{section}.{key}.{name}" if key else f"{section}.{name}"


def _document(cls: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    section, key = _PLACE[cls]
    if key is None:
        return {section: values}
    data = minimal_tables()
    data[section][key].update(values)
    return data


def _with_dependents(cls: type[Any], name: str, value: Any) -> dict[str, Any]:
    """``name`` set to ``value``, and every field that must be >= it at its own upper bound."""
    values = {name: value}
    for other, rule in rules_of(cls).items():
        if rule.ge_field == name:
            assert rule.le is not None and rule.le >= rules_of(cls)[name].le, f"{_path(cls, other)} cannot reach {_path(cls, name)}"
            values[other] = rule.le
    return values


def _at(kind: type, bound: float) -> Any:
    return int(bound) if kind is int else float(bound)


def _above(kind: type, bound: float) -> Any:
    return int(bound) + 1 if kind is int else math.nextafter(bound, math.inf)


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


def _ids(rows: list[tuple[type[Any], str, type]]) -> list[str]:
    return [_path(cls, name) for cls, name, _ in rows]


def test_the_numbers_are_all_found() -> None:
    found = {(cls, name) for cls, name, _ in NUMBERS}
    assert {(BreakerConfig, "history_size"), (CacheConfig, "max_entries"), (Deployment, "context_window")} <= found
    assert {(RetryConfig, "deadline"), (AliasConfig, "hedge_after"), (ProviderConfig, "read_timeout")} <= found
    assert (RetryConfig, "jitter") not in found  # a bool is not a number
    assert len(NUMBERS) >= 40


@pytest.mark.parametrize(("cls", "name", "kind"), NUMBERS, ids=_ids(NUMBERS))
def test_every_number_has_a_range(cls: type[Any], name: str, kind: type) -> None:
    rule = rules_of(cls).get(name)
    assert rule is not None, f"{_path(cls, name)} has no rule (core/config/sections.py)"
    assert rule.le is not None, f"{_path(cls, name)} has no upper bound (le)"
    assert rule.gt is not None or rule.ge is not None or rule.ge_field is not None, f"{_path(cls, name)} has no lower bound"
    if kind is int:
        assert rule.le < 2**31  # a C ssize_t (deque maxlen), a C int, on every platform


@pytest.mark.parametrize(("cls", "name", "kind"), NUMBERS, ids=_ids(NUMBERS))
def test_every_number_is_accepted_at_its_upper_bound_and_refused_above(cls: type[Any], name: str, kind: type) -> None:
    rule = rules_of(cls)[name]
    assert rule.le is not None
    section, key = _PLACE[cls]
    at = _at(kind, rule.le)
    s = Settings.from_dict(_document(cls, _with_dependents(cls, name, at)))
    obj = getattr(s, section) if key is None else getattr(s, section)[key]
    assert getattr(obj, name) == at and type(getattr(obj, name)) is kind
    for above in (_above(kind, rule.le), 10**20, 10**400):
        err = raises(INVALID, _path(cls, name), Settings.from_dict, _document(cls, _with_dependents(cls, name, above)))
        assert err.context["value"] == above
        if kind is float and above == 10**400:  # past a float: refused as not finite
            assert "must be a finite number" in err.message
        else:  # the allowed range, e.g. "must be in [1, 100000]"
            assert f", {_shown(rule.le)}]" in err.message, err.message


SECTION_NUMBERS = [row for row in NUMBERS if _PLACE[row[0]][1] is None]


@pytest.mark.parametrize(("cls", "name", "kind"), SECTION_NUMBERS, ids=_ids(SECTION_NUMBERS))
def test_env_numbers_are_accepted_at_their_upper_bound_and_refused_above(cls: type[Any], name: str, kind: type) -> None:
    rule = rules_of(cls)[name]
    assert rule.le is not None
    section = _PLACE[cls][0]
    var = f"{ENV_PREFIX}{section}__{name}".upper()

    def env(value: Any) -> dict[str, str]:
        return {f"{ENV_PREFIX}{section}__{field}".upper(): str(v) for field, v in _with_dependents(cls, name, value).items()}

    at = _at(kind, rule.le)
    assert getattr(getattr(Settings.from_env(env(at)), section), name) == at
    for above in (_above(kind, rule.le), 10**20, "9" * 5000):
        err = raises(INVALID, f"{section}.{name}", Settings.from_env, env(above))
        assert err.context["env"] == var and var in err.message, err.message


@pytest.mark.parametrize(
    ("env", "field", "words"),
    [
        ({"MAX_RETRIES": "1001"}, "retry.max_attempts", "must be in [1, 1000]"),
        ({"MAX_RETRIES": "1" + "0" * 5000}, "retry.max_attempts", "is not an integer"),
        ({"RETRY_DELAY": "86400001"}, "retry.initial_delay", "(86400 seconds) must be in [0, 86400]"),
        ({"HEALTH_CHECK_INTERVAL": "1e999"}, "monitor.health_check_interval", "(inf seconds) must be in (0, 86400]"),
        ({"MEMORY_THRESHOLD": "nan"}, "monitor.memory_threshold", "must be in (0, 1]"),
    ],
)
def test_seed_env_numbers_out_of_range_name_the_variable(env: dict[str, str], field: str, words: str) -> None:
    err = raises(INVALID, field, Settings.from_env, env)
    (var,) = env
    assert err.context["env"] == var and var in err.message
    assert words in err.message, err.message
    assert len(err.message) < 200  # a long value is shortened


def test_seed_env_numbers_at_their_bound() -> None:
    s = Settings.from_env({"MAX_RETRIES": "1000", "RETRY_DELAY": "30000", "HEALTH_CHECK_INTERVAL": "86400000"})
    assert (s.retry.max_attempts, s.retry.initial_delay, s.monitor.health_check_interval) == (1000, 30.0, 86_400.0)


@pytest.mark.parametrize(
    ("load", "text"),
    [
        (Settings.from_json, '{"breaker": {"history_size": ' + "9" * 5000 + "}}"),
        (Settings.from_toml, "[breaker]\nhistory_size = " + "9" * 5000 + "\n"),
    ],
)
def test_a_number_too_long_to_read_is_a_parse_error(load: Any, text: str) -> None:
    err = raises(PARSE, "", load, text)
    assert "digits" in err.message


def test_settings_at_every_upper_bound_serve_a_request() -> None:
    """Each number at its largest reaches what uses it (deque lengths, cache size, timeouts) and works."""
    from llm_runner_router.core.router import Router
    from llm_runner_router.core.testing import ScriptedBackend, run_virtual
    from llm_runner_router.core.types import ChatRequest, Message

    data: dict[str, Any] = minimal_tables()
    for cls, name, kind in NUMBERS:
        rule = rules_of(cls)[name]
        assert rule.le is not None
        section, key = _PLACE[cls]
        place = data.setdefault(section, {}) if key is None else data[section][key]
        place[name] = _at(kind, rule.le)
    s = Settings.from_dict(data)
    assert s.breaker.history_size == 100_000 and s.cache.max_entries == 1_000_000

    async def main(loop: Any) -> tuple[str, dict[str, Any]]:
        router = Router(s, {"local": ScriptedBackend()}, clock=loop.clock)
        answer = await router.complete(ChatRequest("chat", [Message("user", "hi")]))
        return answer.text, router.status()

    text, status = run_virtual(main)
    assert text == "ok"
    assert status["deployments"]["small"]["breaker"] == "closed"


# --- provider options, by kind ---------------------------------------------------------------
#
# The core serves one kind itself, the page's "browser", which takes no option; the edge server's
# kinds (llamacpp, openai) and their options are its own (tests/edge_server/test_config_edge.py).


def with_options(options: dict[str, Any], kind: str) -> dict[str, Any]:
    data = minimal_tables()
    data["providers"]["local"] = {"kind": kind, "options": options}
    if kind == "openai":
        data["providers"]["local"]["base_url"] = "http://127.0.0.1:8080/v1"
    return data


def test_the_core_declares_options_for_the_browser_kind_only() -> None:
    assert set(Settings.provider_options) == {"browser"}
    assert set(Settings.provider_options) < set(rules_of(ProviderConfig)["kind"].choices)


@pytest.mark.parametrize(("option", "suggestion"), [("n_ctx", None), ("model_path", None)])
def test_the_browser_kind_takes_no_option(option: str, suggestion: str | None) -> None:
    assert Settings.from_dict(with_options({}, "browser")).providers["local"].options == {}
    err = raises(UNKNOWN, f"providers.local.options.{option}", Settings.from_dict, with_options({option: 1}, "browser"))
    assert err.context["suggestion"] == suggestion and "no field is accepted here" in err.message


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
def test_options_of_a_kind_another_shell_serves_are_kept_unread(kind: str) -> None:
    """The page's core holds an edge provider's options as given: the edge checks them (EdgeSettings)."""
    options = {"n_ctx": "big", "anything": [1, 2]}
    assert Settings.from_dict(with_options(options, kind)).providers["local"].options == options


@pytest.mark.parametrize(
    ("given_level", "stored"),
    [("debug", "DEBUG"), ("Info", "INFO"), (" warning ", "WARNING"), ("warn", "WARNING"), ("ERROR", "ERROR"), ("critical", "CRITICAL")],
)
def test_log_level_is_case_insensitive_and_stored_upper(given_level: str, stored: str) -> None:
    assert Settings.from_dict({"logging": {"level": given_level}}).logging.level == stored


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        ({"kind": "ollama"}, "providers.p.kind"),
        ({"kind": "openai", "base_url": "ftp://host/v1"}, "providers.p.base_url"),
        ({"kind": "openai", "base_url": "api.openai.com"}, "providers.p.base_url"),
        ({"kind": "openai", "base_url": "https://"}, "providers.p.base_url"),
        ({"kind": "llamacpp", "base_url": "localhost:8080"}, "providers.p.base_url"),
        ({"kind": "llamacpp", "connect_timeout": 0}, "providers.p.connect_timeout"),
        ({"kind": "llamacpp", "read_timeout": -5}, "providers.p.read_timeout"),
        ({"kind": "llamacpp", "api_key_env": " "}, "providers.p.api_key_env"),
    ],
)
def test_invalid_provider(provider: dict[str, Any], field: str) -> None:
    raises(INVALID, field, Settings.from_dict, {"providers": {"p": provider}})


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"endpoint": "chat"}, "deployments.d.endpoint"),
        ({"context_window": 0}, "deployments.d.context_window"),
        ({"quality": 1.5}, "deployments.d.quality"),
        ({"quality": -0.1}, "deployments.d.quality"),
        ({"cost_per_1k_tokens": -1}, "deployments.d.cost_per_1k_tokens"),
        ({"expected_tokens_per_s": 0}, "deployments.d.expected_tokens_per_s"),
        ({"expected_ttft_s": -1}, "deployments.d.expected_ttft_s"),
        ({"max_concurrency": 0}, "deployments.d.max_concurrency"),
        ({"weight": 0}, "deployments.d.weight"),
        ({"accepts_prefix": "yes"}, "deployments.d.accepts_prefix"),
        ({"tags": [1]}, "deployments.d.tags"),
        ({"model": ""}, "deployments.d.model"),
    ],
)
def test_invalid_deployment(override: dict[str, Any], field: str) -> None:
    data = minimal_tables()
    data["deployments"]["d"] = {"provider": "local", "model": "m", **override}
    raises(INVALID, field, Settings.from_dict, data)


@pytest.mark.parametrize("endpoint", ["chat/completions", "responses", "completions"])
def test_every_endpoint_is_accepted(endpoint: str) -> None:
    data = minimal_tables()
    data["deployments"]["small"]["endpoint"] = endpoint
    assert Settings.from_dict(data).deployments["small"].endpoint == endpoint


# --- cross-references -------------------------------------------------------------------


def test_deployment_must_name_a_declared_provider() -> None:
    data = minimal_tables()
    data["deployments"]["small"]["provider"] = "locl"
    err = raises(INVALID, "deployments.small.provider", Settings.from_dict, data)
    assert "did you mean 'local'" in err.message
    assert err.context["value"] == "locl"


def test_alias_must_name_declared_deployments() -> None:
    data = minimal_tables()
    data["aliases"]["chat"]["deployments"] = ["small", "huge"]
    err = raises(INVALID, "aliases.chat.deployments", Settings.from_dict, data)
    assert "'huge'" in err.message


def test_context_window_fallbacks_must_be_declared() -> None:
    data = minimal_tables()
    data["aliases"]["chat"]["context_window_fallbacks"] = ["long"]
    raises(INVALID, "aliases.chat.context_window_fallbacks", Settings.from_dict, data)


@pytest.mark.parametrize(
    ("alias", "field"),
    [
        ({"deployments": []}, "aliases.chat.deployments"),
        ({"deployments": ["small", "small"]}, "aliases.chat.deployments"),
        ({"deployments": ["small"], "hedge_after": 0}, "aliases.chat.hedge_after"),
        ({"deployments": ["small"], "strategy": ""}, "aliases.chat.strategy"),
        ({"deployments": ["small"], "context_window_fallbacks": ["small", "small"]}, "aliases.chat.context_window_fallbacks"),
    ],
)
def test_invalid_alias(alias: dict[str, Any], field: str) -> None:
    data = minimal_tables()
    data["aliases"]["chat"] = alias
    raises(INVALID, field, Settings.from_dict, data)


def test_strategy_names_are_not_checked_beyond_being_non_empty() -> None:
    data = minimal_tables()
    data["default_strategy"] = "registered-later"
    data["aliases"]["chat"]["strategy"] = "also-custom"
    s = Settings.from_dict(data)
    assert (s.default_strategy, s.aliases["chat"].strategy) == ("registered-later", "also-custom")
    raises(INVALID, "default_strategy", Settings.from_dict, {"default_strategy": "  "})


def test_none_string_in_toml_for_optional_numbers() -> None:
    text = FULL_TOML.replace("hedge_after = 2.5", 'hedge_after = "None"')
    s = Settings.from_toml(text)
    assert s.aliases["chat"].hedge_after is None
    assert s.retry.deadline is None


# --- environment --------------------------------------------------------------------------


def test_seed_env_vars_with_millisecond_conversion() -> None:
    s = Settings.from_env(
        {
            "MAX_RETRIES": "5",
            "RETRY_DELAY": "1000",
            "HEALTH_CHECK_INTERVAL": "30000",
            "MEMORY_THRESHOLD": "0.75",
            "LOG_LEVEL": "warning",
        }
    )
    assert s.retry.max_attempts == 5
    assert s.retry.initial_delay == 1.0  # 1000 ms
    assert s.monitor.health_check_interval == 30.0  # 30000 ms
    assert s.monitor.memory_threshold == 0.75
    assert s.logging.level == "WARNING"
    assert Settings.from_env({"RETRY_DELAY": "250"}).retry.initial_delay == 0.25
    assert Settings.from_env({"HEALTH_CHECK_INTERVAL": "1500"}).monitor.health_check_interval == 1.5


def test_general_env_form_for_every_section() -> None:
    env = {
        "LLM_ROUTER__RETRY__DEADLINE": "45",
        "LLM_ROUTER__BREAKER__COOLDOWN": "10",
        "LLM_ROUTER__HINTS__BLACKLIST_AFTER": "3",
        "LLM_ROUTER__CACHE__ENABLED": "false",
        "LLM_ROUTER__STREAM__MAX_RESTARTS": "0",
        "LLM_ROUTER__MONITOR__QUEUE_SIZE": "8",
        "LLM_ROUTER__LOGGING__LEVEL": "debug",
        "LLM_ROUTER__DEFAULT_STRATEGY": "cost",
        "PATH": "/usr/bin",  # unrelated variables are ignored
    }
    s = Settings.from_env(env)
    assert s.retry.deadline == 45.0
    assert s.breaker.cooldown == 10.0
    assert s.hints.blacklist_after == 3
    assert s.cache.enabled is False
    assert s.stream.max_restarts == 0
    assert s.monitor.queue_size == 8
    assert s.logging.level == "DEBUG"
    assert s.default_strategy == "cost"


def test_general_env_form_is_case_insensitive() -> None:
    assert Settings.from_env({"llm_router__retry__max_attempts": "9"}).retry.max_attempts == 9


def test_general_form_wins_over_seed_name() -> None:
    s = Settings.from_env({"RETRY_DELAY": "2000", f"{ENV_PREFIX}RETRY__INITIAL_DELAY": "0.1"})
    assert s.retry.initial_delay == 0.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("off", False),
    ],
)
def test_env_booleans(text: str, expected: bool) -> None:
    assert Settings.from_env({"LLM_ROUTER__RETRY__JITTER": text}).retry.jitter is expected


@pytest.mark.parametrize("text", ["none", "None", "", "  "])
def test_env_none_for_optional_fields(text: str) -> None:
    assert Settings.from_env({"LLM_ROUTER__RETRY__DEADLINE": text}).retry.deadline is None


def test_env_empty_value_for_required_field_is_ignored() -> None:
    base = Settings.from_dict({"retry": {"max_attempts": 7}})
    assert Settings.from_env({"MAX_RETRIES": "", "LLM_ROUTER__BREAKER__COOLDOWN": " "}, base) == base


def test_env_keeps_base_and_overrides_only_what_it_names() -> None:
    base = full()
    s = Settings.from_env({"LLM_ROUTER__BREAKER__COOLDOWN": "11"}, base)
    assert s.breaker.cooldown == 11.0
    assert s.breaker.max_cooldown == base.breaker.max_cooldown
    assert s.providers == base.providers and s.aliases == base.aliases and s.retry == base.retry
    assert base.breaker.cooldown == 10.0  # the base is not changed


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MAX_RETRIES": "three"}, "retry.max_attempts"),
        ({"MAX_RETRIES": "2.5"}, "retry.max_attempts"),
        ({"RETRY_DELAY": "soon"}, "retry.initial_delay"),
        ({"MAX_RETRIES": "none"}, "retry.max_attempts"),
        ({"LLM_ROUTER__RETRY__JITTER": "maybe"}, "retry.jitter"),
    ],
)
def test_env_unconvertible_values(env: dict[str, str], field: str) -> None:
    err = raises(INVALID, field, Settings.from_env, env)
    (var,) = env
    assert err.context["env"] == var
    assert var in err.message


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MEMORY_THRESHOLD": "1.5"}, "monitor.memory_threshold"),
        ({"MAX_RETRIES": "0"}, "retry.max_attempts"),
        ({"HEALTH_CHECK_INTERVAL": "0"}, "monitor.health_check_interval"),
        ({"LOG_LEVEL": "loud"}, "logging.level"),
        ({"RETRY_DELAY": "60000"}, "retry.max_delay"),  # 60 s is above max_delay
        ({"LLM_ROUTER__BREAKER__FAILURE_RATE_THRESHOLD": "2"}, "breaker.failure_rate_threshold"),
    ],
)
def test_env_values_are_validated(env: dict[str, str], field: str) -> None:
    raises(INVALID, field, Settings.from_env, env)


@pytest.mark.parametrize(
    ("var", "field", "suggestion"),
    [
        ("LLM_ROUTER__BREAKR__COOLDOWN", "breakr", "breaker"),
        ("LLM_ROUTER__BREAKER__COLDOWN", "breaker.coldown", "cooldown"),
        ("LLM_ROUTER__DEFAULT_STRATEG", "default_strateg", "default_strategy"),
    ],
)
def test_env_unknown_names(var: str, field: str, suggestion: str) -> None:
    err = raises(UNKNOWN, field, Settings.from_env, {var: "1"})
    assert err.context["suggestion"] == suggestion
    assert err.context["env"] == var


@pytest.mark.parametrize("var", ["LLM_ROUTER__PROVIDERS__LOCAL", "LLM_ROUTER__RETRY", "LLM_ROUTER__RETRY__MAX_ATTEMPTS__X"])
def test_env_only_sets_scalar_fields(var: str) -> None:
    err = raises(INVALID, var[len(ENV_PREFIX) :].split("__")[0].lower(), Settings.from_env, {var: "1"})
    assert err.context["env"] == var


# --- round trips ------------------------------------------------------------------------


def test_to_dict_is_plain_json_data_and_round_trips() -> None:
    s = full()
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["deployments"]["small"]["tags"] == ["local", "cheap"]
    assert "name" not in d["providers"]["openai"]  # the key carries it
    assert d["retry"]["deadline"] is None
    assert Settings.from_dict(d) == s
    assert Settings.from_json(json.dumps(d)) == s
    assert Settings.from_dict(Settings().to_dict()) == Settings()


def test_to_dict_is_a_copy() -> None:
    s = full()
    d = s.to_dict()
    d["providers"]["openai"]["options"]["prefill"] = "changed"
    d["retry"]["max_attempts"] = 99
    assert s.providers["openai"].options == {"prefill": "vllm"}
    assert s.retry.max_attempts == 4


def floats(lo: float, hi: float, *, exclude_min: bool = False) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, exclude_min=exclude_min, allow_nan=False, allow_infinity=False)


@st.composite
def retry_sections(draw: st.DrawFn) -> dict[str, Any]:
    initial = draw(floats(0, 86_400))
    section: dict[str, Any] = {
        "max_attempts": draw(st.integers(1, 1000)),
        "initial_delay": draw(st.one_of(st.just(int(initial)), st.just(initial))),
        "max_delay": draw(floats(initial, 86_400)),
        "multiplier": draw(floats(1, 100)),
        "jitter": draw(st.booleans()),
        "deadline": draw(st.none() | floats(0, 86_400, exclude_min=True)),
        "retry_after_cap": draw(floats(0, 86_400)),
    }
    keys = draw(st.sets(st.sampled_from(sorted(section))))  # any subset: the rest default
    out = {k: v for k, v in section.items() if k in keys}
    if out.get("max_delay", 30.0) < out.get("initial_delay", 0.5):
        out["max_delay"] = out.get("initial_delay", 0.5)  # keep max_delay >= initial_delay
    return out


@st.composite
def breaker_sections(draw: st.DrawFn) -> dict[str, Any]:
    cooldown = draw(floats(0, 86_400, exclude_min=True))
    rate = floats(0, 1, exclude_min=True)
    section: dict[str, Any] = {
        "failure_threshold": draw(st.integers(1, 100_000)),
        "window_seconds": draw(floats(0, 86_400, exclude_min=True)),
        "min_calls": draw(st.integers(1, 100_000)),
        "failure_rate_threshold": draw(rate),
        "slow_call_seconds": draw(floats(0, 86_400, exclude_min=True)),
        "slow_call_rate_threshold": draw(rate),
        "cooldown": cooldown,
        "cooldown_multiplier": draw(floats(1, 100)),
        "max_cooldown": draw(floats(cooldown, 604_800)),
        "half_open_max_calls": draw(st.integers(1, 100)),
        "success_threshold": draw(st.integers(1, 100)),
        "history_size": draw(st.integers(1, 100_000)),
    }
    if draw(st.booleans()):  # sometimes leave both cooldowns to their defaults
        del section["cooldown"], section["max_cooldown"]
    return section


@hyp_settings(max_examples=150, deadline=None)
@given(retry=retry_sections(), breaker=breaker_sections())
def test_round_trip_property(retry: dict[str, Any], breaker: dict[str, Any]) -> None:
    s = Settings.from_dict({"retry": retry, "breaker": breaker})
    for name, value in retry.items():
        assert getattr(s.retry, name) == value
    for name, value in breaker.items():
        assert getattr(s.breaker, name) == value
    assert Settings.from_dict(s.to_dict()) == s
    assert Settings.from_json(json.dumps(s.to_dict())) == s
