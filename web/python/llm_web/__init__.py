"""The Python that runs inside Pyodide in the page: the core's router over the browser's engines.

- :mod:`llm_web.bridge`: typed stand-ins for the JavaScript objects, and the conversions across the boundary;
- :mod:`llm_web.backend`: :class:`BrowserEngineBackend`, core's Backend over a JS engine;
- :mod:`llm_web.page_router`: :class:`PageRouter`, the core's router over the page's engines: what JavaScript calls;
- :mod:`llm_web.deployments`: the deployment names, shared with JavaScript (web/lib/deployments.js is generated from it).

It needs the ``core`` package beside it (the project's core wheel, loaded into Pyodide with it).
"""

from .backend import BrowserEngineBackend
from .bridge import JsEngine, chunk_from_js, error_from_js, to_js_options
from .page_router import MODEL, PageRouter, event_to_dict, plan_from_probe

__all__ = [
    "MODEL",
    "BrowserEngineBackend",
    "JsEngine",
    "PageRouter",
    "chunk_from_js",
    "error_from_js",
    "event_to_dict",
    "plan_from_probe",
    "to_js_options",
]
