"""The edge server: the imperative shell around the core, on CPython."""
