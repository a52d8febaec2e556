"""Typed errors of the CortexFS substrate. Each message says what was wrong and what to do."""

from __future__ import annotations

from lightflow_actors.cortex import ErrorKind


class SubstrateError(Exception):
    """Base class of every substrate error."""


class PolicyError(SubstrateError, ValueError):
    """The policy file is unreadable or does not match the policy schema."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(
            f"policy {source}: {problem}; fix the file (schema in specs/cortexfs-abi.md §Policy)"
        )


class ChannelError(SubstrateError, ValueError):
    """A channel folder is incomplete, malformed, or its keyref cannot be resolved."""

    def __init__(self, channel: str, problem: str) -> None:
        self.channel = channel
        super().__init__(f"channel {channel!r}: {problem}")


class ConfigError(SubstrateError, ValueError):
    """The substrate configuration is inconsistent (unknown provider in a route, ...)."""


class AuditError(SubstrateError, ValueError):
    """A line of an audit log does not decode as an `AuditEvent`."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.line = line
        super().__init__(
            f"audit log {source} line {line}: {problem}; the lines before it are intact "
            "(the log is append-only: a torn last line is what a crash mid-append leaves)"
        )


class RequestRefused(SubstrateError):
    """A request cannot be served; becomes `<id>.error` with `kind` and an audit record."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        self.kind: ErrorKind = kind
        self.message = message
        super().__init__(f"{kind}: {message}")


class ProviderFailure(SubstrateError):
    """Raised by a provider to answer with `<id>.error` instead of crashing.

    A provider that raises anything else crashes; its supervisor restarts it and the
    request it was serving is answered with a `provider_crashed` error.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        self.kind: ErrorKind = kind
        self.message = message
        super().__init__(f"{kind}: {message}")
