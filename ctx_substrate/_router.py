"""Routes: which provider serves which api format, tool or thread (before the policy check).

A route table maps a name (or `*`, the fallback) to a provider name per target kind. The
route decides *who would* serve a request; the policy then decides whether that provider
*may*. Both answers end up in `<id>.route.json` and the audit log.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.cortex import TargetKind

__all__ = ["Routes"]


class Routes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`{"api": {"openai.chat": "echo"}, "tool": {"*": "tools"}, "thread": {}}`."""

    api: dict[str, str] = msgspec.field(default_factory=dict)
    tool: dict[str, str] = msgspec.field(default_factory=dict)
    thread: dict[str, str] = msgspec.field(default_factory=dict)

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

    def providers(self) -> set[str]:
        return {*self.api.values(), *self.tool.values(), *self.thread.values()}
