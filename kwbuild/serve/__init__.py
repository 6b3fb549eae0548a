"""HTTP over a built output: a JSON API, its OpenAPI document, and the pages as HTML (read-only); and a shared
content cache (`cache_api.py`: entries by key, pushes with a token) for `kwbuild build --remote-cache`.

Data enters from the output folder (`state.py` reloads the manifest and symbol map, `api.py` and `views.py`
read tables, links and pages), is shaped by `query.py` and `html.py`, and leaves through `app.py`, the ASGI
application that `runner.py` serves with granian. `python -m kwbuild.serve --out DIR` is `kwbuild serve`.
"""

from __future__ import annotations

from kwbuild.serve.app import App
from kwbuild.serve.runner import create_app, run_server

__all__ = ["App", "create_app", "run_server"]
