from __future__ import annotations

import json

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.clock import ManualClock
from llm_runner_router.core.config import HintsConfig
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.hints import CompatibilityHints
from llm_runner_router.core.store import MemoryStore

KEY = ("openai", "codex-mini", "chat/completions")
FAIL = catalogue.API_MODEL_NOT_FOUND.error()


def make(store: MemoryStore | None = None, **kw: float) -> tuple[CompatibilityHints, ManualClock]:
    clock = ManualClock()
    return CompatibilityHints(HintsConfig(**kw), clock, store), clock  # type: ignore[arg-type]


def test_records_successes_and_errors() -> None:
    hints, _ = make()
    hints.record_success(KEY, "chat/completions")
    hints.record_error(KEY, FAIL, "chat/completions")
    h = hints.get(KEY)
    assert h is not None
    assert (h.success_count, h.error_count, h.last_error_code) == (1, 1, FAIL.code)
    assert h.supported_endpoints == ["chat/completions"]


def test_blacklists_after_five_failures_with_no_success() -> None:
    hints, _ = make()
    for _ in range(4):
        hints.record_error(KEY, FAIL, "chat/completions")
    assert hints.blocked(KEY) is None
    hints.record_error(KEY, FAIL, "chat/completions")
    blocked = hints.blocked(KEY)
    assert blocked is not None and "blacklisted" in blocked.message


def test_one_success_protects_from_auto_blacklist() -> None:
    hints, _ = make()
    hints.record_success(KEY, "chat/completions")
    for _ in range(20):
        hints.record_error(KEY, FAIL, "chat/completions")
    assert hints.blocked(KEY) is None


def test_errors_that_are_the_callers_fault_teach_nothing() -> None:
    hints, _ = make()
    for _ in range(10):
        hints.record_error(KEY, catalogue.API_CONTENT_FILTERED.error(), "chat/completions")
    assert hints.get(KEY) is None


def test_reprobe_after_a_growing_interval() -> None:
    hints, clock = make(reprobe_initial=100, reprobe_multiplier=2, reprobe_max=250)
    for _ in range(5):
        hints.record_error(KEY, FAIL, "chat/completions")
    clock.advance(99)
    assert hints.blocked(KEY) is not None
    clock.advance(1)
    assert hints.blocked(KEY) is None  # one probe goes through
    assert hints.blocked(KEY) is not None  # ...and only one
    hints.record_error(KEY, FAIL, "chat/completions")  # the probe failed
    clock.advance(199)
    assert hints.blocked(KEY) is not None
    clock.advance(1)
    assert hints.blocked(KEY) is None
    hints.record_error(KEY, FAIL, "chat/completions")
    h = hints.get(KEY)
    assert h is not None and h.reprobe_interval == 250  # capped
    clock.advance(250)
    assert hints.blocked(KEY) is None
    hints.record_success(KEY, "chat/completions")  # it came back
    assert hints.blocked(KEY) is None and not hints.get(KEY).blacklisted  # type: ignore[union-attr]


def test_learns_the_endpoint_from_error_text() -> None:
    hints, _ = make()
    err = catalogue.API_WRONG_ENDPOINT.error("only supported in v1/responses", suggested_endpoint="responses")
    hints.record_error(KEY, err, "chat/completions")
    assert hints.endpoint_for(KEY) == "responses"
    h = hints.get(KEY)
    assert h is not None and h.unsupported_endpoints == ["chat/completions"] and h.error_count == 0


def test_learns_unsupported_parameters() -> None:
    hints, _ = make()
    hints.record_error(KEY, catalogue.API_UNSUPPORTED_PARAMETER.error(param="temperature"), "chat/completions")
    assert hints.strip_params(KEY, {"temperature": 0.1, "max_tokens": 5}) == {"max_tokens": 5}


def test_learns_prefix_support() -> None:
    hints, _ = make()
    assert hints.accepts_prefix(KEY) is None
    hints.record_error(KEY, catalogue.API_PREFILL_UNSUPPORTED.error(), "chat/completions")
    assert hints.accepts_prefix(KEY) is False
    other = ("p", "m", "chat/completions")
    hints.record_success(other, "chat/completions", used_prefix=True)
    assert hints.accepts_prefix(other) is True


def test_manual_blacklist_is_not_reprobed() -> None:
    hints, clock = make()
    hints.blacklist(KEY, "deprecated by provider")
    clock.advance(10**7)
    assert hints.blocked(KEY) is not None
    hints.unblacklist(KEY)
    assert hints.blocked(KEY) is None


def test_persisted_through_the_store() -> None:
    store = MemoryStore()
    hints, clock = make(store)
    for _ in range(5):
        hints.record_error(KEY, FAIL, "chat/completions")
    again = CompatibilityHints(HintsConfig(), clock, store)
    assert again.blocked(KEY) is not None


def test_export_import_round_trip() -> None:
    hints, clock = make()
    hints.record_error(KEY, catalogue.API_UNSUPPORTED_PARAMETER.error(param="seed"), "chat/completions")
    hints.record_success(("a", "b", "responses"), "responses")
    text = hints.export_json()
    other = CompatibilityHints(HintsConfig(), clock)
    assert other.import_json(text) == 2
    assert json.loads(other.export_json()) == json.loads(text)
    assert [h.provider for h in other.provider_hints("openai")] == ["openai"]


@pytest.mark.parametrize(
    "text", ["", "[]", "{}", '{"hints": 3}', '{"hints": [1]}', '{"hints": [{"provider": 1}]}', '{"hints": [{"model": "x"}]}']
)
def test_import_rejects_junk_with_a_code(text: str) -> None:
    hints, _ = make()
    with pytest.raises(LLMError) as info:
        hints.import_json(text)
    assert info.value.code == catalogue.VAL_MALFORMED.code
    assert list(hints) == []
