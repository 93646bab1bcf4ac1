"""Hypothesis settings profiles shared by every test run (CPython and Pyodide).

``make test`` (and so CI) runs with ``--hypothesis-profile=ci``: the same
examples every run, so a merge cannot pass or fail by the draw, and a failure
prints the blob that replays it. A plain ``pytest`` uses the default profile
and explores new examples each time, which is how new cases get found.
"""

from __future__ import annotations

from hypothesis import settings

# deadline=None: the suite also runs in WASM (several times slower) and on busy
# two-core CI machines; per-example timing is the benchmarks' job.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
