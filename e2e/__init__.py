"""Browser end-to-end tests: Playwright (Python) driving the system Chromium. Run with ``make e2e``."""
