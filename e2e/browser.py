"""Launching the system Chromium (/usr/bin/chromium) for the e2e tests, with Playwright.

Playwright's own browser downloads are never used (no ``playwright install``):
``launch_persistent_context`` on the Debian chromium binary gives every context
a fresh profile directory (a ``--user-data-dir`` argument would be refused).

Options:

- ``webgpu``: True adds ``--enable-unsafe-webgpu`` (WebGPU on SwiftShader when
  there is no GPU); False turns the feature off, so ``navigator.gpu`` is absent
  and the WASM path is what runs.
- ``isolate``: True keeps the server's COOP/COEP headers (cross-origin isolated
  pages, SharedArrayBuffer, WASM threads); False strips them from every response,
  as a host that cannot set headers would serve the bundle.
- ``local_only``: requests to any host but 127.0.0.1/localhost are aborted (the
  bundle must need nothing from the internet).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Playwright, Route

CHROMIUM = os.environ.get("LLM_ROUTER_CHROMIUM", "/usr/bin/chromium")
BASE_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = ("127.0.0.1", "localhost")
ISOLATION_HEADERS = ("cross-origin-opener-policy", "cross-origin-embedder-policy")


def chromium_args(webgpu: bool = False, extra: Sequence[str] = ()) -> list[str]:
    gpu = ["--enable-unsafe-webgpu"] if webgpu else ["--disable-features=WebGPU"]
    return [*BASE_ARGS, *gpu, *extra]


def _strip_isolation(route: Route) -> None:
    response = route.fetch()
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ISOLATION_HEADERS}
    route.fulfill(response=response, headers=headers)


@contextmanager
def launch(
    pw: Playwright,
    *,
    webgpu: bool = False,
    isolate: bool = True,
    local_only: bool = True,
    extra_args: Sequence[str] = (),
    profile_dir: Path | None = None,
) -> Iterator[BrowserContext]:
    """A Chromium context on a fresh (or the given) profile; closed, and a fresh profile removed, on exit."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} does not exist: install Debian's chromium (or set LLM_ROUTER_CHROMIUM)")
    own = profile_dir is None
    profile = profile_dir or Path(tempfile.mkdtemp(prefix="llm-e2e-profile-"))
    args = chromium_args(webgpu, extra_args)
    context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=args)
    try:
        # Playwright runs the last-registered handler first: the offline filter, then (falling back) the header stripping.
        if not isolate:
            context.route("**/*", _strip_isolation)
        if local_only:

            def only_local(route: Route) -> None:
                url = urlsplit(route.request.url)
                if url.scheme in ("data", "blob") or url.hostname in LOCAL_HOSTS:
                    route.fallback()
                else:
                    route.abort()

            context.route("**/*", only_local)
        yield context
    finally:
        context.close()
        if own:
            shutil.rmtree(profile, ignore_errors=True)
