"""docs/errors.md and the page's catalogue.js, generated from the catalogue.

``python build/gen_error_docs.py`` writes both; ``--check`` (and a test) fail
when a file and its renderer (:func:`render_markdown`,
:func:`render_javascript`) disagree. The output depends only
on :mod:`core.catalogue`, :mod:`core.errors` and the HTTP status table of
:mod:`core.classify`, so it is the same on every machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from . import catalogue, errors
from .classify import STATUS_CODES
from .errors import ErrorSpec, LLMError, Recovery, Severity

__all__ = ["CATEGORY_TITLES", "RECOVERY_DESCRIPTIONS", "SEVERITY_DESCRIPTIONS", "render_javascript", "render_markdown", "spec_names"]

#: Category -> what it covers.
CATEGORY_TITLES: dict[str, str] = {
    "CORE": "Router core: initialisation, learned state, pipeline, self-healing, cancellation",
    "MODEL": "Model files and loading",
    "RUNTIME": "A running model: inference, context window, output limits",
    "NET": "Connections to a backend and its server errors",
    "TIMEOUT": "Connect, read, first-token and overall deadlines",
    "MEM": "Memory, caches and storage quota",
    "AUTH": "Credentials and permissions",
    "RATE": "Upstream rate limits and quotas, our own request queue",
    "CONFIG": "Configuration",
    "VAL": "A caller's bad input",
    "API": "What an upstream API refused or could not answer",
    "CB": "Circuit breakers",
    "RETRY": "Retries and deployments exhausted",
    "WEBGPU": "The browser's WebGPU engine",
    "WASM": "The browser's WebAssembly engine",
    "GGUF": "GGUF model files",
    "ONNX": "ONNX models and sessions",
    "STREAM": "Streams cut, stalled or malformed",
}

SEVERITY_DESCRIPTIONS: dict[Severity, str] = {
    Severity.INFO: "Informational; nothing failed that the caller did not ask for.",
    Severity.WARNING: "Degraded but working; worth watching.",
    Severity.ERROR: "A failure the router recovers from automatically where it can.",
    Severity.CRITICAL: "A failure that threatens the process or a model; an operator should look.",
    Severity.FATAL: "Unrecoverable; the process stops.",
}

RECOVERY_DESCRIPTIONS: dict[Recovery, str] = {
    Recovery.NONE: "Nothing to do: informational.",
    Recovery.RETRY: "Retry the same deployment after a backoff (honouring `Retry-After`), then fall back to the next.",
    Recovery.FALLBACK: "Move to the next deployment at once.",
    Recovery.ADJUST: "Retry the same deployment at once with a learned change (other endpoint, parameter removed, no "
    "assistant prefix); the change is remembered for that deployment.",
    Recovery.LARGER_CONTEXT: "Retry only on deployments whose context window is larger.",
    Recovery.ABORT: "Stop; the error goes back to the caller unchanged.",
    Recovery.RELOAD: "The local model is reloaded (by an operator or the self-healing monitor).",
    Recovery.SHED: "Free caches, then fall back.",
    Recovery.MANUAL: "An operator must act.",
}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _anchor(category: str) -> str:
    return category.lower()


def _classes() -> dict[str, type[LLMError]]:
    return {cls.category: cls for cls in LLMError.__subclasses__() if cls.__module__ == errors.__name__ and cls.category}


def _categories(specs: Iterable[ErrorSpec]) -> list[str]:
    seen = {spec.category for spec in specs}
    known = [c for c in errors.CATEGORIES if c in seen]
    return known + sorted(seen - set(known))


def render_markdown() -> str:
    """The full text of docs/errors.md."""
    specs = list(catalogue.ALL.values())
    categories = _categories(specs)
    classes = _classes()
    example = specs[0].code if specs else "LLM_CORE_001_E"
    out: list[str] = [
        "# Error codes",
        "",
        "<!-- Generated from core/catalogue.py by build/gen_error_docs.py; do not edit by hand. -->",
        "",
        "Every failure the router can meet has exactly one entry in the catalogue (`core/catalogue.py`) and reaches "
        "callers as an `LLMError` subclass carrying that entry. This page is generated from the catalogue, and so is "
        "the page's `web/lib/catalogue.js` (JavaScript imports `CODES.<NAME>` from it and never spells a code); "
        "`python build/gen_error_docs.py --check` fails when either is stale.",
        "",
        "## Code format",
        "",
        "A code reads `LLM_<CATEGORY>_<NNN>_<SEVERITY>`, for example `" + example + "`:",
        "",
        "- `CATEGORY`: one of the categories below; it chooses the exception class, so `except NetworkError` catches every `NET` code.",
        "- `NNN`: three digits, unique within the category. Numbers are never reused or renumbered; new codes are only added.",
        "- `SEVERITY`: one letter, below.",
        "",
        "An error serialises (`to_dict()` / `to_json()`) as `code`, `type` (the category in lower case), `name`, "
        "`message`, `severity`, `retryable`, `http_status`, `recovery`, and when present `retry_after` (seconds), "
        "`context` and `cause`.",
        "",
        "## Severities",
        "",
        "| Letter | Severity | Meaning |",
        "|---|---|---|",
    ]
    for severity in Severity:
        out.append(f"| `{severity.value}` | {severity.name.title()} | {_cell(SEVERITY_DESCRIPTIONS.get(severity, ''))} |")
    out += [
        "",
        "## Recovery actions",
        "",
        "What the router does when it meets an error with this recovery:",
        "",
        "| Recovery | Action |",
        "|---|---|",
    ]
    for recovery in Recovery:
        out.append(f"| `{recovery.value}` | {_cell(RECOVERY_DESCRIPTIONS.get(recovery, ''))} |")
    out += [
        "",
        "## Columns",
        "",
        "- **Retryable**: whether trying the same request again may succeed.",
        "- **HTTP**: the status the edge server answers with when this error ends a request.",
        "- **Recovery**: the action above.",
        "- **Counts against backend**: whether the error is the backend's fault, and so counts against its circuit "
        "breaker and its learned compatibility record. A caller's bad input, a content-filter refusal or an "
        "over-long prompt say nothing about the health of a deployment.",
        "",
        "## Categories",
        "",
        "| Category | Exception class | Codes | Covers |",
        "|---|---|---|---|",
    ]
    for category in categories:
        cls = classes.get(category, LLMError)
        count = sum(1 for spec in specs if spec.category == category)
        title = CATEGORY_TITLES.get(category, category)
        out.append(f"| [`{category}`](#{_anchor(category)}) | `{cls.__name__}` | {count} | {_cell(title)} |")
    for category in categories:
        cls = classes.get(category, LLMError)
        out += [
            "",
            f"## {category}",
            "",
            f"{_cell(CATEGORY_TITLES.get(category, category))}. Exception class: `{cls.__name__}`.",
            "",
            "| Code | Name | Message | Retryable | HTTP | Recovery | Counts against backend |",
            "|---|---|---|---|---|---|---|",
        ]
        for spec in sorted((s for s in specs if s.category == category), key=lambda s: s.number):
            out.append(
                f"| `{spec.code}` | `{spec.name}` | {_cell(spec.message)} | {_yes(spec.retryable)} | {spec.http_status} "
                f"| `{spec.recovery.value}` | {_yes(spec.blames_backend)} |"
            )
    out += [
        "",
        "## Upstream HTTP statuses",
        "",
        "`core.classify.classify_http` first reads what an upstream's error body says (a context-length message, a "
        "content-filter refusal, a wrong endpoint, an unsupported parameter, an exhausted quota, an unknown model...); "
        "only when the body says nothing it recognises does the bare status decide:",
        "",
        "| Status | Code | Name |",
        "|---|---|---|",
    ]
    for status in sorted(STATUS_CODES):
        spec = STATUS_CODES[status]
        out.append(f"| {status} | `{spec.code}` | `{spec.name}` |")
    out += [
        f"| other 4xx | `{catalogue.API_BAD_REQUEST.code}` | `{catalogue.API_BAD_REQUEST.name}` |",
        f"| other 5xx | `{catalogue.NET_UPSTREAM_ERROR.code}` | `{catalogue.NET_UPSTREAM_ERROR.name}` |",
        f"| anything else | `{catalogue.API_INVALID_RESPONSE.code}` | `{catalogue.API_INVALID_RESPONSE.name}` |",
        "",
        "`Retry-After` (delta-seconds or an HTTP-date) and `retry-after-ms` set the error's `retry_after`.",
        "",
    ]
    return "\n".join(out)


def spec_names() -> dict[str, ErrorSpec]:
    """Every spec by its name in :mod:`core.catalogue` (``WASM_OUT_OF_MEMORY``), in catalogue order."""
    by_code = {id(spec): name for name, spec in vars(catalogue).items() if isinstance(spec, ErrorSpec)}
    return {by_code[id(spec)]: spec for spec in catalogue.ALL.values()}


def render_javascript() -> str:
    """web/lib/catalogue.js: every code for the page, so that no JavaScript spells one by hand."""
    lines = [
        "// @ts-check",
        "// Generated from core/catalogue.py by build/gen_error_docs.py -- do not edit.",
        "// Import codes by their catalogue name: CODES.WASM_OUT_OF_MEMORY, never the string itself.",
        "",
        "/**",
        " * @typedef {{code: string, name: string, category: string, severity: 'I'|'W'|'E'|'C'|'F',",
        " *   retryable: boolean, http: number, recovery: string, summary: string}} CatalogueEntry",
        " */",
        "",
        "/** Every code the product can emit, by its name in core/catalogue.py. */",
        "export const CATALOGUE = Object.freeze({",
    ]
    for name, spec in spec_names().items():
        entry = {
            "code": spec.code,
            "name": spec.name,
            "category": spec.category,
            "severity": spec.severity.value,
            "retryable": spec.retryable,
            "http": spec.http_status,
            "recovery": spec.recovery.value,
            "summary": spec.message,
        }
        fields = ", ".join(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in entry.items())
        lines.append(f"  {name}: Object.freeze({{ {fields} }}),")
    lines += [
        "});",
        "",
        "/** The code strings by name: CODES.WASM_OUT_OF_MEMORY is the code of CATALOGUE.WASM_OUT_OF_MEMORY. */",
        "export const CODES = Object.freeze({",
    ]
    lines += [f"  {name}: {json.dumps(spec.code)}," for name, spec in spec_names().items()]
    lines += [
        "});",
        "",
        "/** @type {Map<string, CatalogueEntry>} the entries by code string */",
        "const BY_CODE = new Map(Object.values(CATALOGUE).map((entry) => [entry.code, entry]));",
        "",
        "/**",
        " * The entry of a code string, or undefined for a code the catalogue does not have.",
        " * @param {string} code",
        " * @returns {CatalogueEntry | undefined}",
        " */",
        "export function lookup(code) {",
        "  return BY_CODE.get(code);",
        "}",
        "",
    ]
    return "\n".join(lines)
