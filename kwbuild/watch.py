"""`kwbuild watch`: rebuild whenever the tree changes, one build per burst of changes.

watchfiles groups the file events that arrive close together (a `git checkout` of 1,000 files is one group:
it waits until no event came for `step` ms, at most `debounce` ms), and a build reads the tree as it is when it
starts, so events that arrive during a build only cause one more build after it. A running `kwbuild serve` on
the same output picks each build up by itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import watchfiles

from kwbuild.build import BuildResult, run_build
from kwbuild.config import BuildConfig
from kwbuild.discover import SKIP_DIR_NAMES
from kwbuild.progress import ProgressReporter

OnBuild = Callable[[BuildResult, int], None]
"""Called after each build with its result and the number of file events that caused it (0 for the first)."""


def watch_tree(
    config: BuildConfig,
    on_build: OnBuild,
    stop: threading.Event | None = None,
    debounce_ms: int = 1600,
    step_ms: int = 200,
) -> int:
    """Build, then rebuild after each burst of changes until `stop` is set; returns the number of builds."""
    on_build(run_build(config, ProgressReporter(quiet=True)), 0)
    builds = 1
    watch_filter = watchfiles.DefaultFilter(
        ignore_dirs=sorted(SKIP_DIR_NAMES), ignore_paths=[str(config.out), str(config.cache)]
    )
    for changes in watchfiles.watch(
        config.root,
        watch_filter=watch_filter,
        debounce=debounce_ms,
        step=step_ms,
        stop_event=stop,
        raise_interrupt=False,
    ):
        on_build(run_build(config, ProgressReporter(quiet=True)), len(changes))
        builds += 1
    return builds
