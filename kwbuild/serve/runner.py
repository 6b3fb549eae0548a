"""Running the server: granian (Rust HTTP/1.1 and HTTP/2, uvloop) in front of the ASGI `App`.

granian starts its workers as processes that import the application by name, so the output folder reaches
them through the environment (`KWBUILD_SERVE_OUT`) and `create_app` builds one `App` per worker.
granian was chosen by measurement against uvicorn (httptools, uvloop) and hypercorn on the same minimal ASGI
app: see `bench/serve.py` and BENCHMARKS.md.
"""

from __future__ import annotations

import os
import sys

from kwbuild.query import existing_layout
from kwbuild.serve.app import App

ENV_OUT = "KWBUILD_SERVE_OUT"
APP_FACTORY = "kwbuild.serve.runner:create_app"


def create_app() -> App:
    """The application of one worker process, over the output folder named by `KWBUILD_SERVE_OUT`."""
    out = os.environ.get(ENV_OUT)
    if not out:
        raise RuntimeError(f"{ENV_OUT} is not set: start the server with `kwbuild serve --out DIR`")
    return App(out)


def run_server(out: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the build in `out` until interrupted (SIGINT or SIGTERM)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    existing_layout(out)
    os.environ[ENV_OUT] = os.path.abspath(out)
    App(out)  # fail here, in the foreground, rather than in every worker
    server = Granian(
        APP_FACTORY,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.auto,
        http=HTTPModes.auto,
        websockets=False,
        log_access=False,
        log_level=LogLevels.warning,
    )
    print(f"kwbuild: serving {out} on http://{_url_host(host)}:{port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    server.serve()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
