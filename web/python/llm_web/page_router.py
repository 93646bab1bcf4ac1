"""What JavaScript calls: the core's router in the page, over the local engines.

JS (web/lib/runtime.js) probes the device, asks :func:`plan_from_probe` which
engines to load (and with how many WASM threads), loads them, and builds a
:class:`PageRouter` with them. ``page_router.chat(messages, options)`` is then a
Python async generator that JS reads with ``for await``: plain JSON-ready
event dicts, ending with one ``done`` event that carries the coded error
when the answer could not be (fully) given. Nothing is thrown at JS.

Each engine is one provider and one deployment (``local-webgpu``,
``local-wasm``: the names are :mod:`.deployments`'s); the aliases ``default``
and the model's own name try them in the order the capability plan gives. A deployment is a :class:`_Slot`:
another kind of backend (the edge server, over fetch) slots in as one more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from llm_runner_router.core import catalogue
from llm_runner_router.core.capabilities import ENGINES, DeviceCapabilities, EnginePlan, ModelRequirements, plan_engines
from llm_runner_router.core.classify import classify
from llm_runner_router.core.clock import Clock, SystemClock
from llm_runner_router.core.config import Settings
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.params import sampling
from llm_runner_router.core.router import Router
from llm_runner_router.core.store import MemoryStore, Store
from llm_runner_router.core.telemetry import RouterMetrics
from llm_runner_router.core.types import Backend, ChatRequest, Deployment, Done, Message, StreamEvent

from .backend import BrowserEngineBackend
from .bridge import AbortHandle, JsEngine, py
from .deployments import LOCAL_PREFIX, local

__all__ = ["DEFAULT_NEEDS", "DEFAULT_SPEEDS", "MODEL", "PageRouter", "event_to_dict", "plan_from_probe"]

MODEL: Final = "SmolLM2-135M-Instruct"
ALIASES: Final = ("default", MODEL)
CONTEXT_WINDOW: Final = 8192  # SmolLM2's; an engine that says its own (info.contextLength) is taken at its word
# Configured decode speeds (tokens/s) until observed; settings_overrides can change them.
DEFAULT_SPEEDS: Final[Mapping[str, float]] = {"webgpu": 15.0, "wasm": 20.0}
# What SmolLM2-135M needs of the device per engine. The WASM variant unpacks its
# 4-bit weights to float32 in memory (llm_runner_router.edge.browser_model.wasm_weights), so it needs more.
DEFAULT_NEEDS: Final[Mapping[str, ModelRequirements]] = {
    "webgpu": ModelRequirements(memory_mb=512),
    "wasm": ModelRequirements(memory_mb=1024),
}


# The page's first-token and stall limits: a local engine that stops (no token
# within them) is moved off, and the answer continues on the next deployment
# (the edge), as on the server. The first-token limit is longer than the
# server's (30 s): a local engine prefills on this device's CPU or GPU, and its
# first answer compiles its GPU pipelines. An engine loaded on first use says
# it is alive while its download and session make progress (heartbeats,
# web/lib/runtime.js), so its load does not count against the limit; a load that
# stops moving does.
BROWSER_STREAM: Final[Mapping[str, float]] = {"first_token_timeout": 60.0, "stall_timeout": 15.0}
# With a software WebGPU adapter allowed (an explicit opt-in, for tests of that
# path): SwiftShader takes minutes to prefill and tens of seconds a token.
SOFTWARE_ADAPTER_STREAM: Final[Mapping[str, float]] = {"first_token_timeout": 600.0, "stall_timeout": 300.0}


def plan_from_probe(
    probe: Any, needs: Mapping[str, ModelRequirements] | ModelRequirements | None = None, *, allow_software_adapter: bool = False
) -> EnginePlan:
    """The engines to load for the probe's device, best first (``.to_dict()`` for JS).

    A software WebGPU adapter (SwiftShader) is left out (``catalogue.WEBGPU_SOFTWARE_ADAPTER``)
    unless ``allow_software_adapter`` (core/capabilities.py).
    """
    caps = DeviceCapabilities.from_probe(py(probe))
    return plan_engines(caps, DEFAULT_NEEDS if needs is None else needs, allow_software_adapter=bool(allow_software_adapter))


@dataclass(slots=True)
class _Slot:
    """One deployment and the backend that serves it."""

    deployment: str
    provider: str
    provider_kind: str  # core.config.ProviderConfig.kind
    backend: Backend
    engine: str | None = None  # the local engine it runs on; None for a remote backend
    fields: dict[str, Any] = field(default_factory=dict)  # core.types.Deployment fields


class PageRouter:
    """The core's router in the page, over its engines and remotes. Build it with :meth:`create`."""

    def __init__(
        self,
        capabilities: DeviceCapabilities,
        plan: EnginePlan,
        *,
        store: Store | None = None,
        settings_overrides: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        abort_factory: Callable[[], AbortHandle] | None = None,
    ) -> None:
        self.capabilities = capabilities
        self._plan = plan
        self.store: Store = store if store is not None else MemoryStore()
        self._overrides = dict(settings_overrides or {})
        self._clock = clock
        self._abort_factory = abort_factory
        self._slots: dict[str, _Slot] = {}
        # Kept across rebuilds of the router (add_engine), as the store keeps breakers and hints.
        self._metrics = RouterMetrics(clock or SystemClock())
        self.router = self._build_router()

    @classmethod
    def create(
        cls,
        probe: Any,
        engines: Mapping[str, JsEngine] | Any,
        *,
        store: Store | None = None,
        settings_overrides: Mapping[str, Any] | None = None,
        needs: Mapping[str, ModelRequirements] | ModelRequirements | None = None,
        clock: Clock | None = None,
        abort_factory: Callable[[], AbortHandle] | None = None,
        allow_software_adapter: bool = False,
    ) -> PageRouter:
        """A router for the probed device with its loaded engines ({"webgpu": engine, "wasm": engine}).

        ``settings_overrides`` is merged into the generated configuration (a
        core Settings document) before it is validated: change speeds, timeouts,
        add deployments. An invalid one raises a coded ConfigError.
        ``abort_factory`` makes an AbortController per attempt; in the
        browser it defaults to ``js.AbortController.new``.
        ``allow_software_adapter`` lets WebGPU on a software adapter into the
        plan (last), with the long limits of SOFTWARE_ADAPTER_STREAM.
        """
        caps = DeviceCapabilities.from_probe(py(probe))
        plan = plan_engines(caps, DEFAULT_NEEDS if needs is None else needs, allow_software_adapter=bool(allow_software_adapter))
        overrides = py(settings_overrides) if settings_overrides is not None else None
        if overrides is not None and not isinstance(overrides, Mapping):
            raise catalogue.CONFIG_INVALID.error("settings_overrides must be an object", field="settings_overrides")
        page_router = cls(caps, plan, store=store, settings_overrides=overrides, clock=clock, abort_factory=abort_factory)
        table = py(engines, depth=1)
        if not isinstance(table, Mapping):
            raise catalogue.VAL_WRONG_TYPE.error("engines must be an object of engine name to engine", field="engines")
        for name, engine in table.items():
            page_router._add(name, engine)
        page_router.router = page_router._build_router()
        return page_router

    # --- engines and configuration --------------------------------------------------------

    @property
    def plan(self) -> EnginePlan:
        return self._plan

    def add_engine(self, name: str, engine: JsEngine) -> None:
        """Add (or replace) the engine for ``name`` ("webgpu" or "wasm"), e.g. once it has loaded."""
        self._add(name, engine)
        self.router = self._build_router()

    def _add(self, name: Any, engine: JsEngine) -> None:
        if name not in ENGINES:
            raise catalogue.VAL_UNSUPPORTED.error(f"unknown engine {name!r}; known: {', '.join(ENGINES)}", field="engines", value=str(name))
        backend = BrowserEngineBackend(engine, abort_factory=self._abort_factory)
        fields = {
            "context_window": _context_window(backend.info.get("contextLength")) or CONTEXT_WINDOW,
            "expected_tokens_per_s": DEFAULT_SPEEDS[name],
            "accepts_prefix": True,
            "tags": ["local", name],
        }
        self._slots[local(name)] = _Slot(local(name), name, "browser", backend, name, fields)

    def add_remote(
        self,
        name: str,
        client: JsEngine,
        *,
        expected_tokens_per_s: float = 40.0,
        accepts_prefix: bool = True,
        context_window: int | None = None,
    ) -> None:
        """Add a remote deployment (the edge server, web/lib/edge.js) after the local engines.

        This project's edge server continues an assistant prefix
        (``continue_final_message``), so a local engine failing mid-answer is
        finished there without repeating text (a Switch event). For a server
        that cannot, ``accepts_prefix=False`` makes the failover a clean restart.
        ``context_window`` is the server's for the model (its ``/v1/models``
        says it); unknown, CONTEXT_WINDOW is assumed and the server refuses a
        prompt too long for it itself.
        """
        if not isinstance(name, str) or not name or name in ENGINES or name.startswith(LOCAL_PREFIX):
            raise catalogue.VAL_UNSUPPORTED.error(f"{name!r} cannot name a remote deployment", field="name", value=str(name))
        backend = BrowserEngineBackend(client, abort_factory=self._abort_factory)
        fields = {
            "context_window": _context_window(context_window) or CONTEXT_WINDOW,
            "expected_tokens_per_s": expected_tokens_per_s,
            "accepts_prefix": accepts_prefix,
            "tags": ["remote", name],
        }
        self._slots[name] = _Slot(name, name, "browser", backend, None, fields)
        self.router = self._build_router()

    def _order(self) -> list[str]:
        """Deployments for the aliases: local engines in the plan's order, then any others."""
        here = [local(e) for e in self._plan.engines if local(e) in self._slots]
        remote = [name for name, slot in self._slots.items() if slot.engine is None]
        return here + remote

    def settings_document(self) -> dict[str, Any]:
        """The generated configuration, overrides merged in (what Settings.from_dict reads)."""
        data: dict[str, Any] = {
            "providers": {s.provider: {"kind": s.provider_kind} for s in self._slots.values()},
            "deployments": {s.deployment: {"provider": s.provider, "model": MODEL, **s.fields} for s in self._slots.values()},
            "aliases": {},
            "stream": dict(SOFTWARE_ADAPTER_STREAM if self._software_engine() else BROWSER_STREAM),
            # No overall limit by default: on a slow device a long answer is still
            # worth having; the first-token and stall limits catch a stuck engine.
            "retry": {"deadline": None},
        }
        order = self._order()
        if order:
            data["aliases"] = {name: {"deployments": order, "strategy": "priority"} for name in ALIASES}
        return _merge(data, self._present(self._overrides))

    def _software_engine(self) -> bool:
        """Whether a loaded engine runs on a software WebGPU adapter (only when the plan was allowed one)."""
        adapter = self.capabilities.adapter
        return adapter is not None and adapter.is_software and "webgpu" in self._plan.engines and local("webgpu") in self._slots

    def _present(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The overrides less those of local engines not loaded yet (they apply once added)."""
        absent = {e for e in ENGINES if local(e) not in self._slots}
        out = dict(overrides)
        for table, names in (("providers", absent), ("deployments", {local(e) for e in absent})):
            entries = out.get(table)
            if isinstance(entries, Mapping):
                out[table] = {k: v for k, v in entries.items() if k not in names}
        return out

    def _build_router(self) -> Router:
        settings = Settings.from_dict(self.settings_document())
        backends = {s.provider: s.backend for s in self._slots.values()}
        return Router(settings, backends, clock=self._clock, store=self.store, metrics=self._metrics, filters=[self._capable])

    def _capable(self, deployment: Deployment, request: ChatRequest) -> LLMError | None:
        """A deployment on an engine the plan rules out is not tried (asked for by name, say)."""
        slot = self._slots.get(deployment.name)
        if slot is None or slot.engine is None:
            return None
        return self._plan.excluded.get(slot.engine)

    # --- what JS calls ---------------------------------------------------------------------

    async def chat(self, messages: Any, options: Any = None) -> AsyncIterator[dict[str, Any]]:
        """Stream the answer as event dicts; the last is always ``{"type": "done", ...}``."""
        try:
            request = self._request(messages, options)
        except LLMError as err:
            yield _failed(err)
            return
        try:
            self.router.alias(request.model)
        except LLMError as err:
            yield _failed(self._unservable(request.model, err))
            return
        try:
            async for event in self.router.stream(request):
                yield event_to_dict(event)
        except Exception as exc:  # the router raises only when no text was produced
            yield _failed(classify(exc))

    def _unservable(self, model: str, err: LLMError) -> LLMError:
        """Why a default alias has no deployment: the device, or engines not loaded yet."""
        if model not in ALIASES or self._order():
            return err
        if not self._plan.can_host:
            return self._plan.error()
        return catalogue.MODEL_NOT_LOADED.error(
            f"no local engine is loaded yet (usable here: {', '.join(self._plan.engines)})", model=model, usable=list(self._plan.engines)
        )

    def status(self) -> dict[str, Any]:
        """Router status (breakers, hints, deployments), the plan, the device and the engines; JSON-ready."""
        return {
            "models": list(ALIASES) if self._order() else [],
            "plan": self._plan.to_dict(),
            "capabilities": self.capabilities.to_dict(),
            "engines": {s.engine: s.backend.info for s in self._slots.values() if isinstance(s.backend, BrowserEngineBackend)},
            "router": self.router.status(),
        }

    def _request(self, messages: Any, options: Any) -> ChatRequest:
        return _chat_request(py(messages), py(options) if options is not None else {})


# --- requests from JS ------------------------------------------------------------------------


# The page's option names for each sampling parameter (camelCase, as JavaScript writes them, or the API's).
_PAGE_NAMES: dict[str, tuple[str, ...]] = {
    "max_tokens": ("max_tokens", "maxTokens"),
    "top_p": ("top_p", "topP"),
    "presence_penalty": ("presence_penalty", "presencePenalty"),
    "frequency_penalty": ("frequency_penalty", "frequencyPenalty"),
}


def _chat_request(messages: Any, options: Any) -> ChatRequest:
    if not isinstance(options, Mapping):
        raise catalogue.VAL_WRONG_TYPE.error("options must be an object", field="options")
    if not isinstance(messages, (list, tuple)):
        raise catalogue.VAL_WRONG_TYPE.error("messages must be an array", field="messages")
    if not messages:
        raise catalogue.VAL_EMPTY.error("messages must not be empty", field="messages")
    parsed: list[Message] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, Mapping) else None
        content = m.get("content") if isinstance(m, Mapping) else None
        if not isinstance(role, str) or not isinstance(content, str):
            raise catalogue.VAL_WRONG_TYPE.error(f"messages[{i}] must have a string role and content", field=f"messages[{i}]")
        parsed.append(Message(role, content))

    def pick(*names: str) -> Any:
        return next((options[n] for n in names if options.get(n) is not None), None)

    # The same ranges as the edge server's API (core/params.py), under the page's names too.
    params = sampling(options, _PAGE_NAMES)
    for penalty in ("presence_penalty", "frequency_penalty"):
        if params.pop(penalty, 0):  # checked, so a bad value reads the same as on the server; but not applied here
            raise catalogue.VAL_UNSUPPORTED.error(f"{penalty}: the page's engines apply no penalties", field=penalty)
    kind = pick("kind") or "chat"
    if kind not in ("chat", "text"):
        raise catalogue.VAL_UNSUPPORTED.error(f"kind must be 'chat' or 'text' (got {kind!r})", field="kind")
    model = pick("model") or "default"
    # The prompt's length in the model's tokens, counted by the page (engine.countTokens):
    # the router refuses a prompt longer than a deployment's context before any work.
    prompt_tokens = pick("prompt_tokens", "promptTokens")
    if prompt_tokens is not None and (isinstance(prompt_tokens, bool) or not isinstance(prompt_tokens, int) or prompt_tokens < 0):
        raise catalogue.VAL_WRONG_TYPE.error("promptTokens must be a whole number of tokens", field="promptTokens")
    request_id = pick("request_id", "requestId") or ""
    deadline = pick("deadline")
    if not isinstance(model, str) or not isinstance(request_id, str):
        raise catalogue.VAL_WRONG_TYPE.error("model and requestId must be strings", field="model")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not deadline > 0):
        raise catalogue.VAL_OUT_OF_RANGE.error("deadline must be a positive number of seconds", field="deadline")
    seconds = None if deadline is None else float(deadline)
    return ChatRequest(model, parsed, params, request_id, seconds, prompt_tokens=prompt_tokens, kind=kind)


# --- events to JS ----------------------------------------------------------------------------


def event_to_dict(event: StreamEvent) -> dict[str, Any]:
    """A core stream event as a plain JSON-ready dict for JavaScript: the event's own to_dict()."""
    return event.to_dict()


def _failed(err: LLMError) -> dict[str, Any]:
    """The done event of a request that produced no text."""
    return Done("incomplete", "", None, None, attempts=0, error=err).to_dict()


def _context_window(value: Any) -> int | None:
    """A context window said by JavaScript or a server: a positive whole number of tokens, else None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, tables recursively; a non-table value replaces."""
    out = dict(base)
    for key, value in extra.items():
        current = out.get(key)
        out[key] = _merge(current, value) if isinstance(current, dict) and isinstance(value, Mapping) else value
    return out
