"""Fault plans: the faults a scenario declares, and the decisions they make during a run.

A plan is data (msgspec structs, decodable from JSON with a ``kind`` tag), so it can sit
beside a scenario, be printed, and be replayed. Message faults match by actor *name*
(``sender``, ``target``) and message type name (``message``); ``None`` matches anything,
and the sender of a message sent from outside any actor has no name. Each fault applies to
the ``nth`` matching message and the ``count - 1`` after it; with ``probability`` below 1
each of those is drawn from the run's seeded fault RNG, so exploring seeds explores faults.

- ``Drop``: the message is never queued.
- ``Delay``: it is queued ``by`` virtual seconds later (it may overtake nothing else: it is
  exempt from the FIFO check, as a network delay would be).
- ``Duplicate``: it is queued twice in a row.
- ``Crash``: the ``nth`` message an actor of that name handles raises ``InjectedCrash``
  before its handler runs (``times`` crashes in all, counting restarts afresh).
- ``Pause``: messages sent to the actor between virtual times ``at`` and ``at + duration``
  are held and queued, in order, when the pause ends.

Network faults act between *nodes*: groups of actors named in ``FaultPlan(nodes=...)`` (an
actor's children are on its node unless named elsewhere). A message between two different
nodes may be cut by a ``Partition`` (dropped), held back by a ``LinkDelay`` or doubled by a
``LinkDuplicate``, each active from ``at`` for ``duration`` virtual seconds (None: to the
end); a message within one node, or to or from an actor on no node, is never touched.
``network(system)`` changes the same things from scenario code (``partition``, ``heal``).
"""

from __future__ import annotations

import random
from typing import Literal, TypeAlias

import msgspec


class _MessageFault(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"
):
    """What the message faults share: which messages they match, and how many they take."""

    sender: str | None = None
    target: str | None = None
    message: str | None = None
    nth: int = 1
    count: int = 1
    probability: float = 1.0


class Drop(_MessageFault, frozen=True, tag="drop"):
    """The matched message is never queued."""


class Delay(_MessageFault, frozen=True, tag="delay"):
    """The matched message is queued ``by`` virtual seconds later."""

    by: float


class Duplicate(_MessageFault, frozen=True, tag="duplicate"):
    """The matched message is queued twice in a row."""


class Crash(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="crash"
):
    actor: str
    nth: int = 1
    times: int = 1
    message: str | None = None


class Pause(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="pause"
):
    actor: str
    at: float
    duration: float


class _NetworkFault(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"
):
    """When a network fault is active: from ``at`` for ``duration`` seconds (None: no end)."""

    at: float = 0.0
    duration: float | None = None

    def active(self, now: float) -> bool:
        return self.at <= now and (self.duration is None or now < self.at + self.duration)


class Partition(_NetworkFault, frozen=True, tag="partition"):
    """Messages between nodes of different ``groups`` are dropped while it is active (it
    heals at ``at + duration``). A node in no group still reaches every node."""

    groups: tuple[tuple[str, ...], ...]


class LinkDelay(_NetworkFault, frozen=True, tag="link_delay"):
    """Messages from node ``src`` to node ``dst`` (None: any other node) are queued ``by``
    virtual seconds later (each with ``probability``)."""

    src: str | None = None
    dst: str | None = None
    by: float = 0.0
    probability: float = 1.0


class LinkDuplicate(_NetworkFault, frozen=True, tag="link_duplicate"):
    """Messages from node ``src`` to node ``dst`` (None: any other node) are queued twice
    (each with ``probability``)."""

    src: str | None = None
    dst: str | None = None
    probability: float = 1.0


MessageFault: TypeAlias = Drop | Delay | Duplicate
NetworkFault: TypeAlias = Partition | LinkDelay | LinkDuplicate
Fault: TypeAlias = Drop | Delay | Duplicate | Crash | Pause | Partition | LinkDelay | LinkDuplicate


class FaultPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The faults of one scenario, e.g. ``FaultPlan([Crash(actor="worker", nth=3)])``.

    ``nodes`` maps a node name to the names of the actors on it (network faults act
    between nodes).
    """

    faults: tuple[Fault, ...] = ()
    nodes: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, fault in enumerate(self.faults):
            where = f"faults[{index}] ({type(fault).__name__.lower()})"
            if isinstance(fault, _MessageFault):
                if fault.nth < 1 or fault.count < 1:
                    raise ValueError(f"{where}: nth and count must be >= 1")
                if not 0.0 < fault.probability <= 1.0:
                    raise ValueError(f"{where}: probability must be in (0, 1]")
            if isinstance(fault, Delay) and not fault.by >= 0:
                raise ValueError(f"{where}: delay 'by' must be >= 0 seconds")
            if isinstance(fault, Crash) and (fault.nth < 1 or fault.times < 1):
                raise ValueError(f"{where}: nth and times must be >= 1")
            if isinstance(fault, Pause) and not (fault.at >= 0 and fault.duration > 0):
                raise ValueError(f"{where}: pause needs at >= 0 and duration > 0")
            if isinstance(fault, _NetworkFault):
                if not fault.at >= 0 or (fault.duration is not None and not fault.duration > 0):
                    raise ValueError(f"{where}: needs at >= 0 and duration > 0 (or None)")
                if isinstance(fault, LinkDelay | LinkDuplicate) and not (
                    0.0 < fault.probability <= 1.0
                ):
                    raise ValueError(f"{where}: probability must be in (0, 1]")
                if isinstance(fault, LinkDelay) and not fault.by >= 0:
                    raise ValueError(f"{where}: delay 'by' must be >= 0 seconds")
                if isinstance(fault, Partition) and len(fault.groups) < 2:
                    raise ValueError(f"{where}: a partition needs two or more groups")
        seen: dict[str, str] = {}
        for node, actors in self.nodes.items():
            for actor in actors:
                if actor in seen and seen[actor] != node:
                    raise ValueError(
                        f"nodes: actor {actor!r} is on both {seen[actor]!r} and {node!r}"
                    )
                seen[actor] = node

    @property
    def network_faults(self) -> tuple[NetworkFault, ...]:
        return tuple(f for f in self.faults if isinstance(f, _NetworkFault))

    @classmethod
    def from_json(cls, data: bytes | str) -> FaultPlan:
        """Decode a plan; errors name the bad field (``$.faults[0].nth``)."""
        return msgspec.json.decode(data, type=cls)

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)


NO_FAULTS = FaultPlan()


class MessageDecision(msgspec.Struct, frozen=True):
    """What to do with one sent message: ``deliver``, or the fault that takes it."""

    action: Literal["deliver", "drop", "delay", "duplicate", "hold"]
    delay: float = 0.0
    until: float = 0.0
    copies: int = 1
    """How many copies a ``delay`` queues (2: the link also duplicates)."""
    why: str = ""
    """What took the message, when not the message faults (``link a->b``, ``partition``)."""


DELIVER = MessageDecision("deliver")


class FaultInjector:
    """The run-time state of a plan: match counters and the fault RNG."""

    __slots__ = (
        "_applied",
        "_crash_counts",
        "_crashes_done",
        "_matched",
        "_random",
        "has_crashes",
        "has_message_faults",
        "plan",
    )

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        # A separate stream from system.random and the strategy's, so adding a fault does not
        # change the schedule of unrelated choices.
        self._random = random.Random(f"faults:{seed}")
        self._matched = [0] * len(plan.faults)
        self._applied = [0] * len(plan.faults)
        self._crash_counts: dict[tuple[int, int], int] = {}
        self._crashes_done = [0] * len(plan.faults)
        self.has_crashes = any(isinstance(f, Crash) for f in plan.faults)
        self.has_message_faults = any(isinstance(f, _MessageFault | Pause) for f in plan.faults)

    @property
    def random(self) -> random.Random:
        """The run's fault RNG (network faults with a probability draw from it too)."""
        return self._random

    def on_send(
        self, sender: str | None, target: str | None, message_type: str, now: float
    ) -> MessageDecision:
        for index, fault in enumerate(self.plan.faults):
            if isinstance(fault, Pause):
                if target == fault.actor and fault.at <= now < fault.at + fault.duration:
                    return MessageDecision("hold", until=fault.at + fault.duration)
                continue
            if isinstance(fault, Crash | _NetworkFault):
                continue
            if not _matches(fault, sender, target, message_type):
                continue
            self._matched[index] += 1
            if self._matched[index] < fault.nth or self._applied[index] >= fault.count:
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            self._applied[index] += 1
            if isinstance(fault, Drop):
                return MessageDecision("drop")
            if isinstance(fault, Delay):
                return MessageDecision("delay", delay=fault.by)
            return MessageDecision("duplicate")
        return DELIVER

    def crash_now(self, actor_id: int, actor: str | None, message_type: str) -> int | None:
        """The message number to crash at if this handled message must crash, else None."""
        if actor is None:
            return None
        for index, fault in enumerate(self.plan.faults):
            if not isinstance(fault, Crash) or fault.actor != actor:
                continue
            if fault.message is not None and fault.message != message_type:
                continue
            if self._crashes_done[index] >= fault.times:
                continue
            key = (index, actor_id)
            seen = self._crash_counts.get(key, 0) + 1
            self._crash_counts[key] = seen
            if seen == fault.nth:
                self._crashes_done[index] += 1
                return seen
        return None


def _matches(fault: MessageFault, sender: str | None, target: str | None, kind: str) -> bool:
    return (
        (fault.sender is None or fault.sender == sender)
        and (fault.target is None or fault.target == target)
        and (fault.message is None or fault.message == kind)
    )
