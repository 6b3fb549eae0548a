"""A build's settings: the tree, the output and cache folders, the jobs, the include/exclude globs.

Globs come from `[tool.kwbuild]` in the tree's own `pyproject.toml` (keys `include`, `exclude`,
`gitignore`) and from options; options add to the file's lists. Every problem is a one-line `UserError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwbuild.cache import default_cache_dir
from kwbuild.discover import Rules
from kwbuild.errors import UsageError, UserError
from kwbuild.layout import Layout

DEFAULT_MAX_FILE_SIZE = 16 * 2**20
"""16 MiB: far above any hand-written source (the largest file of the torch tree is ~5 MB); generated giants
above it are recorded with their size and hash and a `size` error, not parsed."""


@dataclass(frozen=True)
class BuildConfig:
    root: Path
    out: Path
    cache: Path
    jobs: int
    rules: Rules
    source_url: str | None = None
    include_source: bool = False
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    recompute: bool = False  # --no-cache
    executor: str = "local"  # "local" (process pool) or "dask" (cache misses extracted on a Dask cluster)
    scheduler: str | None = None  # the Dask scheduler's address; None with "dask": a local cluster
    remote_cache: str | None = None  # URL of a `kwbuild serve` that shares its content cache
    remote_push: bool = False  # also send this build's new entries to the remote cache
    remote_token: str | None = None  # the push token ($KWBUILD_REMOTE_CACHE_TOKEN)

    @property
    def layout(self) -> Layout:
        return Layout(self.out)

    @property
    def root_name(self) -> str:
        return self.root.name

    @property
    def page_options(self) -> str:
        """The options that change pages (part of the pages' up-to-date check)."""
        return f"source_url={self.source_url or ''};include_source={int(self.include_source)}"


def make_config(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    source_url: str | None = None,
    include_source: bool | None = None,
    max_file_size: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    remote_cache: str | None = None,
    remote_push: bool = False,
) -> BuildConfig:
    """Validate the settings and read the tree's `[tool.kwbuild]`."""
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        what = "does not exist" if not root_path.exists() else "is not a folder"
        raise UserError(f"source root {str(root)!r} {what}")
    root_path = root_path.resolve()
    out_path = Path(out).expanduser().resolve() if out is not None else Path.cwd() / "kwbuild-out"
    cache_path = Path(cache).expanduser().resolve() if cache is not None else default_cache_dir()
    if jobs is not None and jobs < 1:
        raise UsageError(f"-j/--jobs must be at least 1, not {jobs}")
    settings = _tree_settings(root_path)
    rules = Rules(
        include=tuple(settings.get("include", ())) + include,
        exclude=tuple(settings.get("exclude", ())) + exclude,
        skip_paths=(str(out_path), str(cache_path)),
        gitignore=bool(settings.get("gitignore", True)),
        suffixes=_suffixes(settings.get("suffixes", {}), root_path),
    )
    url = source_url if source_url is not None else settings.get("source_url")
    if url is not None and not isinstance(url, str):
        raise UserError(f"{root_path / 'pyproject.toml'}: [tool.kwbuild] source_url must be a string")
    paste = include_source if include_source is not None else bool(settings.get("include_source", False))
    cap = max_file_size if max_file_size is not None else settings.get("max_file_size", DEFAULT_MAX_FILE_SIZE)
    if not isinstance(cap, int) or cap < 0:
        raise UsageError(f"the file size cap must be a whole number of bytes (0: none), not {cap!r}")
    cores = jobs or (os.cpu_count() or 1)
    if scheduler is not None and executor != "dask":
        raise UsageError("--scheduler needs --executor dask")
    token = os.environ.get("KWBUILD_REMOTE_CACHE_TOKEN") or None
    if remote_push and (remote_cache is None or token is None):
        raise UsageError("--remote-cache-push needs --remote-cache URL and $KWBUILD_REMOTE_CACHE_TOKEN")
    if remote_cache is not None and not remote_cache.startswith(("http://", "https://")):
        raise UsageError(f"--remote-cache must be an http:// or https:// URL, not {remote_cache!r}")
    return BuildConfig(
        root_path,
        out_path,
        cache_path,
        cores,
        rules,
        url or None,
        paste,
        cap,
        executor=executor,
        scheduler=scheduler,
        remote_cache=remote_cache,
        remote_push=remote_push,
        remote_token=token,
    )


def _suffixes(table: object, root: Path) -> tuple[tuple[str, str], ...]:
    """`[tool.kwbuild.suffixes]`: `".inl" = "cpp"` adds a suffix, `".h" = ""` turns one off."""
    from kwbuild.extract import EXTRACTORS

    if not isinstance(table, dict):
        raise UserError(f"{root / 'pyproject.toml'}: [tool.kwbuild] suffixes must be a table")
    for suffix, language in table.items():
        if not suffix.startswith(".") or (language and language not in EXTRACTORS):
            known = ", ".join(sorted(EXTRACTORS))
            raise UserError(f"{root / 'pyproject.toml'}: suffix {suffix!r} -> {language!r}: languages are {known}")
    return tuple(sorted((suffix.lower(), language) for suffix, language in table.items()))


def _tree_settings(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.exists():
        return {}
    import tomllib  # only for a tree that has the file: a build with nothing to do is mostly imports

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    settings = data.get("tool", {}).get("kwbuild", {})
    if not isinstance(settings, dict):
        raise UserError(f"{path}: [tool.kwbuild] must be a table")
    for key in ("include", "exclude"):
        value = settings.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise UserError(f"{path}: [tool.kwbuild] {key} must be a list of glob strings")
    return settings
