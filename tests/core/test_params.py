"""core/params.py: the one check of sampling parameters, for the edge server's API and the page."""

from __future__ import annotations

from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.params import MAX_STOPS, MAX_TOKENS_LIMIT, sampling


def refused(data: dict[str, Any], names: dict[str, tuple[str, ...]] | None = None) -> LLMError:
    with pytest.raises(LLMError) as info:
        sampling(data, names)
    return info.value


def test_every_parameter_in_range_is_kept() -> None:
    data = {"max_tokens": 5, "temperature": 0.0, "top_p": 1.0, "presence_penalty": -2.0, "frequency_penalty": 2, "seed": -1, "stop": "\n"}
    assert sampling(data) == {**data, "stop": ["\n"]}


@pytest.mark.parametrize(
    ("field", "value", "spec"),
    [
        ("max_tokens", 0, catalogue.VAL_OUT_OF_RANGE),
        ("max_tokens", MAX_TOKENS_LIMIT + 1, catalogue.VAL_OUT_OF_RANGE),
        ("max_tokens", 1.5, catalogue.VAL_WRONG_TYPE),
        ("max_tokens", True, catalogue.VAL_WRONG_TYPE),
        ("temperature", 2.01, catalogue.VAL_OUT_OF_RANGE),
        ("temperature", float("nan"), catalogue.VAL_OUT_OF_RANGE),
        ("temperature", "hot", catalogue.VAL_WRONG_TYPE),
        ("top_p", 0.0, catalogue.VAL_OUT_OF_RANGE),  # (0, 1]
        ("presence_penalty", -2.5, catalogue.VAL_OUT_OF_RANGE),
        ("seed", 2**63, catalogue.VAL_OUT_OF_RANGE),
        ("stop", "", catalogue.VAL_WRONG_TYPE),
        ("stop", ["a", 1], catalogue.VAL_WRONG_TYPE),
        ("stop", ["s"] * (MAX_STOPS + 1), catalogue.VAL_OUT_OF_RANGE),
    ],
)
def test_a_bad_value_is_coded_and_names_its_field(field: str, value: Any, spec: Any) -> None:
    err = refused({field: value})
    assert err.spec is spec and err.context["field"] == field and err.message.startswith(f"{field}: ")


def test_fields_are_named_as_the_caller_spelled_them() -> None:
    names = {"max_tokens": ("max_tokens", "maxTokens")}
    assert sampling({"maxTokens": 7}, names) == {"max_tokens": 7}
    assert refused({"maxTokens": 0}, names).context["field"] == "maxTokens"
    # Every spelling present is checked; the first present is used.
    assert sampling({"max_tokens": 3, "maxTokens": 9}, names) == {"max_tokens": 3}
    assert refused({"max_tokens": 3, "maxTokens": -1}, names).context["field"] == "maxTokens"


def test_absent_and_null_are_the_same() -> None:
    assert sampling({}) == sampling({"temperature": None, "stop": None}) == {}
