"""edge_server/settings.py: the server's sections on top of the core's configuration.

EdgeSettings is the core's Settings plus ``[server]`` and the options of the backends the
server runs (``llamacpp``, ``openai``); the format, the environment overlay and the error
codes are the core's (tests/core/test_config.py). These tests are CPython only: the page's
core has no edge package.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import ENV_PREFIX, ProviderConfig, Settings, rules_of
from llm_runner_router.core.errors import ConfigError
from llm_runner_router.core.store import MemoryStore
from llm_runner_router.edge.compose import build_state, load_settings
from llm_runner_router.edge.settings import EdgeSettings, ServerConfig
from tests.core.test_config import raises

INVALID = catalogue.CONFIG_INVALID.code
UNKNOWN = catalogue.CONFIG_UNKNOWN_FIELD.code


def minimal_tables() -> dict[str, Any]:
    return {
        "providers": {"local": {"kind": "llamacpp"}},
        "deployments": {"small": {"provider": "local", "model": "m"}},
        "aliases": {"chat": {"deployments": ["small"]}},
    }


# --- the [server] section ------------------------------------------------------------------------


def test_server_defaults() -> None:
    s = EdgeSettings()
    assert s.server == ServerConfig()
    assert (s.server.cors_origins, s.server.header_timeout, s.server.body_timeout) == ((), 10.0, 30.0)
    assert (s.server.send_timeout, s.server.max_connections) == (30.0, 1000)


def test_edge_settings_are_the_cores_plus_server() -> None:
    assert isinstance(EdgeSettings(), Settings)
    assert list(EdgeSettings.sections()) == [*Settings.sections(), "server"]
    assert EdgeSettings.tables() == Settings.tables() and EdgeSettings.top_level() == Settings.top_level()


def test_the_cores_settings_refuse_the_server_section() -> None:
    """The page parses its settings with the core alone, which knows no [server]."""
    raises(UNKNOWN, "server", Settings.from_dict, {"server": {}})
    raises(UNKNOWN, "server", Settings.from_env, {f"{ENV_PREFIX}SERVER__BODY_TIMEOUT": "5"})


def test_server_from_toml_env_and_back() -> None:
    s = EdgeSettings.from_toml('[server]\ncors_origins = ["https://App.Example"]\nheader_timeout = 2\n')
    assert s.server.cors_origins == ("https://app.example",) and s.server.header_timeout == 2.0
    s = EdgeSettings.from_env({f"{ENV_PREFIX}SERVER__MAX_CONNECTIONS": "7", "MAX_RETRIES": "4"}, s)
    assert (s.server.max_connections, s.server.header_timeout, s.retry.max_attempts) == (7, 2.0, 4)
    assert type(s) is EdgeSettings
    data = s.to_dict()
    assert list(data)[:8] == [*Settings.sections(), "server"]
    assert data["server"]["cors_origins"] == ["https://app.example"]
    assert EdgeSettings.from_json(json.dumps(data)) == s


def test_server_errors_name_the_field() -> None:
    raises(INVALID, "server.header_timeout", EdgeSettings.from_dict, {"server": {"header_timeout": 0}})
    raises(INVALID, "server.max_connections", ServerConfig, max_connections=0)
    raises(INVALID, "server.cors_origins", EdgeSettings.from_dict, {"server": {"cors_origins": ["https://a.example/path"]}})
    err = raises(UNKNOWN, "server.body_timout", EdgeSettings.from_dict, {"server": {"body_timout": 1}})
    assert err.context["suggestion"] == "body_timeout"
    err = raises(INVALID, "server.send_timeout", EdgeSettings.from_env, {f"{ENV_PREFIX}SERVER__SEND_TIMEOUT": "3601"})
    assert err.context["env"] == f"{ENV_PREFIX}SERVER__SEND_TIMEOUT" and "must be in (0, 3600]" in err.message


def _numbers(cls: type[Any]) -> list[tuple[str, type]]:
    out = []
    for f in dataclasses.fields(cls):
        kinds = [a for a in get_args(get_type_hints(cls)[f.name]) if a is not type(None)] or [get_type_hints(cls)[f.name]]
        if len(kinds) == 1 and kinds[0] in (int, float):
            out.append((f.name, kinds[0]))
    return out


@pytest.mark.parametrize(("name", "kind"), _numbers(ServerConfig))
def test_every_server_number_is_accepted_at_its_upper_bound_and_refused_above(name: str, kind: type) -> None:
    rule = rules_of(ServerConfig)[name]
    assert rule.le is not None and (rule.gt is not None or rule.ge is not None)
    at = int(rule.le) if kind is int else float(rule.le)
    assert getattr(EdgeSettings.from_dict({"server": {name: at}}).server, name) == at
    var = f"{ENV_PREFIX}SERVER__{name}".upper()
    assert getattr(EdgeSettings.from_env({var: str(at)}).server, name) == at
    for above in (int(rule.le) + 1 if kind is int else math.nextafter(rule.le, math.inf), 10**20):
        raises(INVALID, f"server.{name}", EdgeSettings.from_dict, {"server": {name: above}})
        raises(INVALID, f"server.{name}", EdgeSettings.from_env, {var: str(above)})


@hyp_settings(max_examples=60, deadline=None)
@given(
    server=st.dictionaries(
        st.sampled_from([f.name for f in dataclasses.fields(ServerConfig)] + ["nope"]),
        st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=12), st.lists(st.text(max_size=24), max_size=3)),
        max_size=4,
    )
)
def test_fuzz_server_section_loads_or_names_the_field_at_fault(server: dict[str, Any]) -> None:
    try:
        s = EdgeSettings.from_dict({"server": server})
    except ConfigError as err:
        assert err.code in (INVALID, UNKNOWN) and err.message.startswith(err.context["field"] + ":"), err.message
        return
    assert EdgeSettings.from_dict(s.to_dict()) == s


def test_load_settings_reads_the_server_section(tmp_path: Path) -> None:
    path = tmp_path / "router.toml"
    path.write_text('[server]\nbody_timeout = 3\n[providers.l]\nkind = "llamacpp"\noptions = { n_ctx = 4096 }\n')
    s = load_settings(path, {f"{ENV_PREFIX}SERVER__CORS_ORIGINS": "https://a.example"})
    assert type(s) is EdgeSettings
    assert (s.server.body_timeout, s.server.cors_origins, s.providers["l"].options) == (3.0, ("https://a.example",), {"n_ctx": 4096})
    assert type(load_settings(None, {})) is EdgeSettings


def test_the_state_holds_the_server_section() -> None:
    s = EdgeSettings.from_dict({"server": {"body_timeout": 4}})
    assert build_state(s, backends={}, store=MemoryStore(), monitor=False).server.body_timeout == 4.0
    # The core's Settings (a test's, or built by hand) have no [server]: the defaults; and the
    # server checks their providers' options all the same.
    assert build_state(Settings(), backends={}, store=MemoryStore(), monitor=False).server == ServerConfig()
    core = Settings.from_dict({"providers": {"l": {"kind": "llamacpp", "options": {"n_ctx": 1}}}})
    raises(INVALID, "providers.l.options.n_ctx", build_state, core, backends={}, store=MemoryStore(), monitor=False)


# --- provider options, by kind ---------------------------------------------------------------


def with_options(options: dict[str, Any], kind: str = "llamacpp") -> dict[str, Any]:
    data = minimal_tables()
    data["providers"]["local"] = {"kind": kind, "options": options}
    if kind == "openai":
        data["providers"]["local"]["base_url"] = "http://127.0.0.1:8080/v1"
    return data


def test_options_are_declared_for_every_provider_kind() -> None:
    assert set(EdgeSettings.provider_options) == set(rules_of(ProviderConfig)["kind"].choices)


@pytest.mark.parametrize(
    ("kind", "option"), [(kind, option) for kind, schema in EdgeSettings.provider_options.items() for option in schema]
)
def test_every_numeric_option_has_a_range(kind: str, option: str) -> None:
    tp, rule = EdgeSettings.provider_options[kind][option]
    numeric = [a for a in get_args(tp) if a is not type(None)] or [tp]
    if numeric[0] in (int, float):
        assert rule.le is not None and (rule.gt is not None or rule.ge is not None)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("llamacpp", {}),
        ("llamacpp", {"model_path": "models/m.gguf", "n_ctx": 16, "n_threads": 1}),
        ("llamacpp", {"n_ctx": 1_048_576, "n_threads": 1024}),
        ("llamacpp", {"n_threads": None}),
        ("openai", {}),
        ("openai", {"include_usage": False, "prefill": "prefix_flag", "health_timeout": 3600.0, "max_line_bytes": 64 * 1024 * 1024}),
        ("openai", {"prefill": "vllm", "health_timeout": 0.5, "max_line_bytes": 1}),
        ("browser", {}),
    ],
)
def test_valid_provider_options(kind: str, options: dict[str, Any]) -> None:
    assert EdgeSettings.from_dict(with_options(options, kind)).providers["local"].options == options


def test_numeric_options_are_converted() -> None:
    options = EdgeSettings.from_dict(with_options({"health_timeout": 2}, "openai")).providers["local"].options
    assert options == {"health_timeout": 2.0} and type(options["health_timeout"]) is float
    toml = '[providers.l]\nkind = "llamacpp"\noptions = { n_threads = "none" }\n'
    assert EdgeSettings.from_toml(toml).providers["l"].options == {"n_threads": None}


@pytest.mark.parametrize(
    ("kind", "options", "option"),
    [
        ("llamacpp", {"n_ctx": "big"}, "n_ctx"),
        ("llamacpp", {"n_ctx": 2048.0}, "n_ctx"),
        ("llamacpp", {"n_ctx": True}, "n_ctx"),
        ("llamacpp", {"n_ctx": 15}, "n_ctx"),
        ("llamacpp", {"n_ctx": 1_048_577}, "n_ctx"),
        ("llamacpp", {"n_ctx": 10**20}, "n_ctx"),
        ("llamacpp", {"model_path": 5}, "model_path"),
        ("llamacpp", {"model_path": " "}, "model_path"),
        ("llamacpp", {"model_path": ["a.gguf"]}, "model_path"),
        ("llamacpp", {"model_path": None}, "model_path"),
        ("llamacpp", {"n_threads": 0}, "n_threads"),
        ("llamacpp", {"n_threads": 1025}, "n_threads"),
        ("llamacpp", {"n_threads": "4"}, "n_threads"),
        ("openai", {"include_usage": "yes"}, "include_usage"),
        ("openai", {"prefill": "shout"}, "prefill"),
        ("openai", {"health_timeout": 0}, "health_timeout"),
        ("openai", {"health_timeout": 3601}, "health_timeout"),
        ("openai", {"health_timeout": math.nan}, "health_timeout"),
        ("openai", {"max_line_bytes": 0}, "max_line_bytes"),
        ("openai", {"max_line_bytes": 64 * 1024 * 1024 + 1}, "max_line_bytes"),
    ],
)
def test_invalid_provider_options(kind: str, options: dict[str, Any], option: str) -> None:
    raises(INVALID, f"providers.local.options.{option}", EdgeSettings.from_dict, with_options(options, kind))


def test_the_reviews_hostile_values_are_coded_errors() -> None:
    head = '[providers.local]\nkind = "llamacpp"\n'
    err = raises(INVALID, "providers.local.options.n_ctx", EdgeSettings.from_toml, head + 'options = { n_ctx = "big" }\n')
    assert "must be an integer (got 'big')" in err.message
    err = raises(INVALID, "providers.local.options.model_path", EdgeSettings.from_toml, head + "options = { model_path = 5 }\n")
    assert "must be a string (got 5)" in err.message
    # Built by hand, not from a document: checked all the same when it joins the settings.
    provider = ProviderConfig(name="p", kind="llamacpp", options={"n_ctx": "big"})
    raises(INVALID, "providers.p.options.n_ctx", EdgeSettings, providers={"p": provider})


@pytest.mark.parametrize(
    ("kind", "option", "suggestion"),
    [
        ("llamacpp", "n_ctxx", "n_ctx"),
        ("llamacpp", "nthreads", "n_threads"),
        ("llamacpp", "model", "model_path"),
        ("openai", "health_timout", "health_timeout"),
        ("openai", "organization", None),
        ("browser", "n_ctx", None),
    ],
)
def test_unknown_provider_option(kind: str, option: str, suggestion: str | None) -> None:
    err = raises(UNKNOWN, f"providers.local.options.{option}", EdgeSettings.from_dict, with_options({option: 1}, kind))
    assert err.context["suggestion"] == suggestion
    if suggestion is not None:
        assert f"did you mean 'providers.local.options.{suggestion}'?" in err.message
    else:
        assert "did you mean" not in err.message
