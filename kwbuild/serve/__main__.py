"""`python -m kwbuild.serve --out DIR [--host H] [--port P] [--workers N] [--cache DIR]`: as `kwbuild serve`."""

from __future__ import annotations

import argparse
import sys

from kwbuild.commands_read import cmd_serve
from kwbuild.errors import KwbuildError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kwbuild.serve", description="Serve a kwbuild output over HTTP.")
    parser.add_argument("--out", default="kwbuild-out", help="output folder of the build")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--cache", help="content cache shared at /api/cache (default: the per-user cache)")
    try:
        return cmd_serve(parser.parse_args(argv))
    except KwbuildError as error:
        print(f"kwbuild: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
