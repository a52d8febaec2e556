"""Errors of the command line: usage errors exit 2, failures of the work itself exit 1."""

from __future__ import annotations

from ...kernel import LightflowError


class CliError(LightflowError):
    """The command was well-formed but could not be done (server unreachable, port taken)."""

    exit_code = 1


class UsageError(CliError):
    """The command line itself is wrong: unknown flag, duplicate flag, missing value..."""

    exit_code = 2
