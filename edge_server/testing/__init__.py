"""Stand-ins for testing and measuring the edge server: imported by tests/, bench/ and e2e/.

Each is its own import (``from llm_runner_router.edge.testing import fault_provider``); none is
part of ``llm_runner_router.edge.__all__``. They need the ``server`` extra (starlette, uvicorn,
httpx), like the edge server itself.

- ``fault_provider``: an OpenAI-compatible upstream that fails on purpose, in a thread or as a process
  (``python -m llm_runner_router.edge.testing.fault_provider --port N``).
- ``servers``: real servers on 127.0.0.1: an ASGI app in a thread (``ThreadServer``), the edge server
  as a child process (``ProcessServer``), ``free_port()``.
- ``api_fuzz``: hypothesis strategies for request bodies and the upstreams the fuzz tests point at;
  it imports hypothesis (a ``dev`` dependency), so it imports only where that is installed.

The core's own fakes (a scripted backend, a manual clock) are ``llm_runner_router.core.testing``.
"""
