"""The policy: which provider may serve which api format, tool or thread.

Checked before every dispatch; the decision (with its reason) goes to the audit log.
A policy file is JSON decoded once by msgspec:

    {"default": "deny",
     "rules": [{"provider": "echo", "api": ["openai.chat"], "tool": ["*"], "thread": []}]}

`*` matches every name of that kind. Without a matching rule the `default` decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from lightflow_actors.cortex import DECODE_ERRORS, TargetKind

from ._errors import PolicyError

__all__ = ["Decision", "Policy", "PolicyRule", "decode_policy", "load_policy"]


class PolicyRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one provider may serve; names per target kind, `*` for all."""

    provider: str
    api: tuple[str, ...] = ()
    tool: tuple[str, ...] = ()
    thread: tuple[str, ...] = ()

    def names(self, kind: TargetKind) -> tuple[str, ...]:
        if kind == "api":
            return self.api
        if kind == "tool":
            return self.tool
        return self.thread


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    reason: str


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A set of allow rules and a default.

    >>> p = Policy(rules=(PolicyRule("echo", api=("openai.chat",)),))
    >>> p.decide("echo", "api", "openai.chat").allowed, p.decide("echo", "tool", "ls").allowed
    (True, False)
    """

    rules: tuple[PolicyRule, ...] = ()
    default: Literal["allow", "deny"] = "deny"

    @classmethod
    def allow_all(cls) -> Policy:
        """A policy that lets every provider serve everything (tests, single-user setups)."""
        return cls(default="allow")

    def decide(self, provider: str, kind: TargetKind, name: str) -> Decision:
        for index, rule in enumerate(self.rules):
            if rule.provider != provider:
                continue
            names = rule.names(kind)
            if name in names or "*" in names:
                return Decision(True, f"rule {index} lets {provider!r} serve {kind} {name!r}")
        if self.default == "allow":
            return Decision(True, "no rule matched; default allow")
        return Decision(False, f"no rule lets {provider!r} serve {kind} {name!r}; default deny")


def decode_policy(data: bytes, source: str = "<bytes>") -> Policy:
    """Decode a policy document; raises `PolicyError` naming the bad field."""
    try:
        return msgspec.json.decode(data, type=Policy)
    except DECODE_ERRORS as exc:  # bad JSON or field, deep nesting, bad UTF-8: all typed
        raise PolicyError(source, f"{type(exc).__name__}: {exc}") from exc


def load_policy(path: Path) -> Policy:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(str(path), f"cannot read it ({exc.strerror})") from exc
    return decode_policy(data, str(path))
