"""The benchmarks and the reliability suite: each module is a command, run from the checkout's root.

    python -m bench.router_overhead --quick
    python -m bench.reliability --quick

Run as modules, they import the project as ``llm_runner_router`` (installed editable), one another as
``bench.NAME``, the browser helpers as ``e2e.browser`` and the stand-in servers from
``llm_runner_router.edge.testing``; what they measure alike (percentiles, CPU time, the machine's load)
is bench/harness.py. Figures go to bench/results/ and the docs' tables.
"""
