"""The one error hierarchy: user mistakes and broken environments, each with its exit code.

A bad *source file* is never an exception: it is data in its table. These exceptions are for the person
running kwbuild (a bad path, a bad option) and are mapped to exit codes in one place, `kwbuild.cli`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_SOURCE_ERRORS = 4  # only with `kwbuild build --strict`


class KwbuildError(Exception):
    """Base of every error kwbuild reports to a user as one line."""

    exit_code = EXIT_USER


class UserError(KwbuildError):
    """A mistake of the user: a bad root, an unwritable output folder, a missing build."""


class UsageError(KwbuildError):
    """A bad option or combination of options."""

    exit_code = EXIT_USAGE


class BuildFailed(KwbuildError):
    """The task graph did not complete (a task failed in a way that is not recorded as data)."""

    exit_code = EXIT_INTERNAL
