"""A shared content cache over HTTP (stub: being written)."""

from __future__ import annotations

from kwbuild.cache import ContentCache


class RemoteCache(ContentCache):
    def __init__(self, local: ContentCache, url: str, push: bool = False, token: str | None = None) -> None:
        super().__init__(local.folder, local.size_limit)
        raise NotImplementedError("--remote-cache")
