"""Each stream event's to_dict(): the one JSON shape the page's runtime and the edge server's x_llm use."""

from __future__ import annotations

import json

from llm_runner_router.core import catalogue
from llm_runner_router.core.types import Delta, Done, Restart, Switch, Usage


def test_delta() -> None:
    assert Delta("Hi", "local").to_dict() == {"type": "delta", "text": "Hi", "deployment": "local"}


def test_switch_and_restart_say_from_where_to_where_and_why() -> None:
    err = catalogue.STREAM_CUT.error("cut mid-answer")
    assert Switch("a", "b", err).to_dict() == {"type": "switch", "from": "a", "to": "b", "reason": err.code, "message": err.message}
    assert Restart("a", "b", "It was", err).to_dict() == {
        "type": "restart",
        "from": "a",
        "to": "b",
        "reason": err.code,
        "message": err.message,
        "discarded": "It was",
    }


def test_done_complete_and_incomplete() -> None:
    assert Done("complete", "a", "stop", Usage(3, 4), attempts=2).to_dict() == {
        "type": "done",
        "status": "complete",
        "complete": True,
        "finish_reason": "stop",
        "deployment": "a",
        "attempts": 2,
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "error": None,
    }
    err = catalogue.RETRY_ALL_FAILED.error("every deployment failed")
    done = Done("incomplete", "b", None, None, error=err).to_dict()
    assert (done["complete"], done["usage"]) == (False, None)
    assert done["error"] == {"code": err.code, "message": err.message, "type": err.type, "summary": catalogue.RETRY_ALL_FAILED.message}


def test_every_shape_is_plain_json() -> None:
    err = catalogue.NET_UNAVAILABLE.error()
    for event in (Delta("x", "a"), Switch("a", "b", err), Restart("a", "b", "x", err), Done("cached", "a", "stop", error=err)):
        d = event.to_dict()
        assert json.loads(json.dumps(d)) == d and d["type"] == event.type
