"""Errors of the generators: bad input (a usage error) and files a user changed."""

from __future__ import annotations

from ....kernel import LightflowError


class GeneratorError(LightflowError):
    """A generator could not do its work."""


class GeneratorInputError(GeneratorError, ValueError):
    """A name, a field spec or an option is not acceptable; the message says why."""


class GeneratorConflict(GeneratorError):
    """Files the generator would write exist with other contents (a user's edits)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        super().__init__(
            f"{len(paths)} file(s) exist with other contents and were left as they are: "
            f"{', '.join(paths)}; nothing was written. Pass --force to overwrite them "
            "(commit your work first), or generate under another name"
        )
