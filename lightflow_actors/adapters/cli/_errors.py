"""Errors of the command line: usage errors exit 2, failures of the work itself exit 1.

A refusal of the runs domain is mapped here, once, by its reason: a request that is
malformed or too large is the user's to fix (exit 2); anything else exits 1.
"""

from __future__ import annotations

from typing import Final

from ...kernel import LightflowError, RefusalReason, Refused


class CliError(LightflowError):
    """The command was well-formed but could not be done (server unreachable, port taken)."""

    exit_code = 1


class UsageError(CliError):
    """The command line itself is wrong: unknown flag, duplicate flag, missing value..."""

    exit_code = 2


USAGE_REASONS: Final[frozenset[RefusalReason]] = frozenset({"invalid", "too_large"})
"""The refusal reasons that are a usage error (exit 2): the input must change."""


def failure(what: str, exc: Exception) -> CliError:
    """``exc`` (a domain refusal or failure) as the CLI error of its kind, ``what: exc``."""
    message = f"{what}: {exc}"
    if isinstance(exc, Refused) and exc.reason in USAGE_REASONS:
        return UsageError(message)
    return CliError(message)
