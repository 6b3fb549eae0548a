"""Extraction of cache misses on a Dask cluster (stub: being written)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kwbuild.builder import FileJob, Outcome
from kwbuild.cache import ContentCache
from kwbuild.config import BuildConfig


class DaskPrefetcher:
    def __init__(
        self, jobs: Sequence[FileJob], cache: ContentCache, config: BuildConfig, receive: Callable[[Outcome], None]
    ) -> None:
        raise NotImplementedError("--executor dask")

    def take(self, rel: str) -> Outcome | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        raise NotImplementedError

    def _unused(self) -> Any:
        return None
