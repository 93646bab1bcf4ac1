"""The package's version: one place, read by pyproject.toml, the CLI and the browser bundle's core wheel."""

__title__ = "llm-runner-router"
__version__ = "0.1.0"
