"""Child specifications: what a supervisor starts, when it restarts it, how it stops it.

``ChildSpec`` follows OTP's child spec map (``id``, ``start``, ``restart``, ``shutdown``,
``type``) with one addition from Akka's ``BackoffSupervisor``: an optional ``Backoff`` that
delays each restart of this child exponentially, with jitter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Generic, Literal, TypeAlias, TypeVar

import msgspec

from ..kernel import Actor
from ._errors import InvalidChildSpec

M = TypeVar("M", contravariant=True)

Restart: TypeAlias = Literal["permanent", "transient", "temporary"]
"""``permanent``: always restarted. ``transient``: restarted only after an abnormal exit
(anything but ``normal``, ``shutdown``, ``("shutdown", term)``). ``temporary``: never
restarted, and its spec is forgotten once it exits."""

ChildType: TypeAlias = Literal["worker", "supervisor"]

Shutdown: TypeAlias = float | Literal["brutal_kill", "infinity"]
"""``brutal_kill``: killed at once (no ``on_stop``). A number: seconds the child gets to
run ``on_stop`` before it is killed. ``infinity``: wait as long as it takes (the default for
supervisors, which need the time to stop their own children)."""

_RESTARTS = ("permanent", "transient", "temporary")
_TYPES = ("worker", "supervisor")

DEFAULT_WORKER_SHUTDOWN = 5.0
"""OTP's default shutdown for a worker: 5000 ms."""


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential restart delay with jitter (Akka's ``BackoffSupervisor``).

    The n-th consecutive restart (n = 0, 1, ...) waits
    ``min(max_delay, min_delay * 2**n) * (1 + jitter * u)`` seconds, u uniform in [0, 1)
    from ``system.random``. The count goes back to 0 once the child has run for
    ``reset_after`` seconds without exiting (default: ``min_delay``, Akka's auto-reset).

    >>> Backoff(min_delay=0.1, max_delay=5.0).delay(3, random.Random(0)) >= 0.8
    True
    """

    min_delay: float
    max_delay: float
    jitter: float = 0.2
    reset_after: float | None = None

    def __post_init__(self) -> None:
        _check_seconds("backoff.min_delay", self.min_delay, allow_zero=True)
        _check_seconds("backoff.max_delay", self.max_delay, allow_zero=True)
        if self.max_delay < self.min_delay:
            raise InvalidChildSpec(
                "backoff.max_delay", self.max_delay, f">= backoff.min_delay ({self.min_delay})"
            )
        _check_seconds("backoff.jitter", self.jitter, allow_zero=True)
        if self.reset_after is not None:
            _check_seconds("backoff.reset_after", self.reset_after, allow_zero=True)

    @property
    def reset_window(self) -> float:
        return self.min_delay if self.reset_after is None else self.reset_after

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before restart number ``attempt`` (0-based) of a run of failures."""
        # 2.0**attempt overflows past 1023; 2**64 times any sane min_delay exceeds any cap.
        base = min(self.max_delay, self.min_delay * 2.0 ** min(attempt, 64))
        return base * (1.0 + self.jitter * rng.random())


def graceful_timeout(policy: float | Literal["infinity"]) -> float | None:
    """The seconds a graceful shutdown ``policy`` gives ``on_stop``; None for ``infinity``."""
    return None if policy == "infinity" else float(policy)


class ChildSpec(msgspec.Struct, Generic[M], frozen=True, kw_only=True):
    """How a supervisor runs one child.

    ``start`` is a zero-argument factory returning a fresh actor (the class itself, a
    lambda or a ``functools.partial``); every (re)start calls it again. ::

        spec = ChildSpec(id="cache", start=Cache, restart="transient", shutdown=1.0)

    ``shutdown=None`` means OTP's default: 5 s for a worker, ``"infinity"`` for a supervisor.
    ``name``, if set, registers each incarnation of the child under that name (the old one
    releases it when it exits, before the restart), as an OTP ``{local, Name}`` start does.
    """

    id: str
    start: Callable[[], Actor[M]]
    restart: Restart = "permanent"
    shutdown: Shutdown | None = None
    type: ChildType = "worker"
    backoff: Backoff | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidChildSpec("id", self.id, "a non-empty str")
        if not callable(self.start):
            raise InvalidChildSpec("start", self.start, "a zero-argument actor factory")
        if self.restart not in _RESTARTS:
            raise InvalidChildSpec("restart", self.restart, " | ".join(_RESTARTS))
        if self.type not in _TYPES:
            raise InvalidChildSpec("type", self.type, " | ".join(_TYPES))
        shutdown = self.shutdown
        if shutdown is not None and shutdown not in ("brutal_kill", "infinity"):
            _check_seconds("shutdown", shutdown, allow_zero=True)
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise InvalidChildSpec("name", self.name, "a non-empty str or None")
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise InvalidChildSpec("backoff", self.backoff, "a Backoff or None")

    @property
    def shutdown_policy(self) -> Shutdown:
        """The shutdown to apply, with OTP's default filled in."""
        if self.shutdown is not None:
            return self.shutdown
        return "infinity" if self.type == "supervisor" else DEFAULT_WORKER_SHUTDOWN


def _check_seconds(field: str, value: object, *, allow_zero: bool) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidChildSpec(field, value, f"a finite number of seconds {bound}")
