"""Running the server: granian (Rust HTTP/1.1 and HTTP/2, uvloop) in front of the ASGI `App`.

granian starts its workers as processes that import the application by name, so the output folder and the
shared content cache reach them through the environment (`KWBUILD_SERVE_OUT`, `KWBUILD_SERVE_CACHE`, the push
token in `$KWBUILD_REMOTE_CACHE_TOKEN`) and `create_app` builds one `App` per worker.
granian was chosen by measurement against uvicorn (httptools, uvloop) and hypercorn on the same minimal ASGI
app: see `bench/serve.py` and BENCHMARKS.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kwbuild.cache import default_cache_dir
from kwbuild.query import existing_layout
from kwbuild.remote import TOKEN_ENV
from kwbuild.serve.app import App

ENV_OUT = "KWBUILD_SERVE_OUT"
ENV_CACHE = "KWBUILD_SERVE_CACHE"
APP_FACTORY = "kwbuild.serve.runner:create_app"


def create_app() -> App:
    """The application of one worker process, over the output folder named by `KWBUILD_SERVE_OUT`."""
    out = os.environ.get(ENV_OUT)
    if not out:
        raise RuntimeError(f"{ENV_OUT} is not set: start the server with `kwbuild serve --out DIR`")
    cache = os.environ.get(ENV_CACHE)
    return App(out, content_cache=Path(cache) if cache else None, token=os.environ.get(TOKEN_ENV) or None)


def run_server(out: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, cache: str | None = None) -> None:
    """Serve the build in `out`, and share the content cache `cache` (default: the per-user one), until
    interrupted (SIGINT or SIGTERM)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    existing_layout(out)
    os.environ[ENV_OUT] = os.path.abspath(out)
    cache_dir = Path(cache).expanduser().resolve() if cache else default_cache_dir()
    os.environ[ENV_CACHE] = str(cache_dir)
    create_app()  # fail here, in the foreground, rather than in every worker
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
    push = "pushes accepted" if os.environ.get(TOKEN_ENV) else f"no pushes (${TOKEN_ENV} is not set)"
    print(f"kwbuild: serving {out} on http://{_url_host(host)}:{port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    print(f"kwbuild: sharing the content cache {cache_dir} at /api/cache/ ({push})", file=sys.stderr, flush=True)
    server.serve()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
