"""Plain `doit` for kwbuild: the same task generators as `kwbuild build`, without the snapshot or the pools.

    doit                                  build this project's own source into ./out (cache in ./cache)
    doit root=PATH out=DIR [cache=DIR]    build another tree (also: source_url=URL)
    doit list / doit info table:PATH / doit forget / doit clean
"""

from __future__ import annotations

from doit import get_var

from kwbuild.config import make_config
from kwbuild.plan import make_plan
from kwbuild.tasks import make_builders, namespace

_config = make_config(
    get_var("root", "."),
    get_var("out", "out"),
    get_var("cache", "cache"),
    jobs=1,
    source_url=get_var("source_url", None),
)
_config.layout.prepare()
globals().update(namespace(make_plan(_config, use_snapshot=False), make_builders(_config)))
