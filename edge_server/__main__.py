"""``python -m llm_runner_router.edge [--host H] [--port P] [--config FILE]``: run the edge server.

The same as ``llm-runner-router serve``; kept for scripts that start the server
by its module.
"""

import argparse
import sys

from .cli import add_serve_options, main

parser = argparse.ArgumentParser(prog="python -m llm_runner_router.edge", description="Run the llm-runner-router edge server.")
add_serve_options(parser)
parser.parse_args()  # validates and gives --help; the same options are passed on
sys.exit(main(["serve", *sys.argv[1:]]))
