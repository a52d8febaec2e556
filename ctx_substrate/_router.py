"""Routes: which provider serves which api format, tool or thread (before the policy check).

A route table maps a name (or `*`, the fallback) to a provider name per target kind. The
route decides *who would* serve a request; the policy then decides whether that provider
*may*. Both answers end up in `<id>.route.json` and the audit log. A route may also limit
how many of its requests its provider serves at once (`limits`, keyed `<kind>/<name>` as
in the tables, `*` included), below the provider's own concurrency.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from lightflow_actors.cortex import TargetKind

from ._errors import ConfigError

__all__ = ["Routes"]


class Routes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`{"api": {"openai.chat": "echo"}, "tool": {"*": "tools"}, "thread": {}}`."""

    api: dict[str, str] = msgspec.field(default_factory=dict)
    tool: dict[str, str] = msgspec.field(default_factory=dict)
    thread: dict[str, str] = msgspec.field(default_factory=dict)
    limits: dict[str, Annotated[int, msgspec.Meta(ge=1, le=4096)]] = msgspec.field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        for key in self.limits:
            kind, _, name = key.partition("/")
            if kind not in ("api", "tool", "thread") or name not in self.table(kind):  # type: ignore[arg-type]
                raise ConfigError(
                    f"routes.limits[{key!r}] names no route; write `<kind>/<name>` of a route "
                    f"in the api, tool or thread table (e.g. 'api/openai.chat' or 'tool/*')"
                )

    def table(self, kind: TargetKind) -> dict[str, str]:
        if kind == "api":
            return self.api
        if kind == "tool":
            return self.tool
        return self.thread

    def route(self, kind: TargetKind, name: str) -> tuple[str, str] | None:
        """`(provider, reason)` for a target, or None when nothing serves it."""
        table = self.table(kind)
        if name in table:
            return table[name], f"route {kind}/{name} -> {table[name]}"
        if "*" in table:
            return table["*"], f"route {kind}/* -> {table['*']}"
        return None

    def limit(self, kind: TargetKind, name: str) -> tuple[str, int] | None:
        """`(route key, limit)` when the route serving this target limits its requests."""
        table = self.table(kind)
        key = f"{kind}/{name}" if name in table else f"{kind}/*"
        limit = self.limits.get(key)
        return None if limit is None else (key, limit)

    def limits_of(self, provider: str) -> dict[str, int]:
        """The limits of the routes that send requests to `provider`."""
        limits = {}
        for key, limit in self.limits.items():
            kind, _, name = key.partition("/")
            if self.table(kind).get(name) == provider:  # type: ignore[arg-type]
                limits[key] = limit
        return limits

    def providers(self) -> set[str]:
        return {*self.api.values(), *self.tool.values(), *self.thread.values()}
