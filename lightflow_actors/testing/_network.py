"""The simulated network between nodes: partitions, delays and duplicates between groups.

A *node* is a group of actors: the actors a ``FaultPlan(nodes=...)`` names, the actors a
scenario places with ``network(system).place(ref, "node")``, and the children of either
(a child lives on its parent's node unless it is named elsewhere). Messages within a node,
and messages to or from an actor on no node (the scenario itself, a system actor), never
cross the network. A message between two nodes may be

- dropped, while the two nodes are on different sides of a partition, or with a
  probability while loss is set on that link;
- queued ``by`` virtual seconds later, while a delay is set on that link;
- queued twice, while duplication is set on that link.

The plan's ``Partition`` / ``LinkDelay`` / ``LinkDuplicate`` faults switch these on and off
by virtual time; ``network(system)`` switches them from scenario code (``partition``,
``heal``, ``delay``, ``duplicate``, ``drop``), which a later cluster layer can drive as well. Every
decision goes into the trace, and probabilities draw from the run's fault RNG, so a run
with network faults replays like any other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from ..kernel._cell import Cell
from ..kernel._ref import ActorRef
from ..supervision import ActorSystem
from ._errors import SimulationError
from ._faults import FaultPlan, LinkDelay, LinkDuplicate, MessageDecision, Partition

Link = tuple[str, str]
EventSink = Callable[[str], None]


class Network:
    """The network of one run: which node each actor is on and which links are faulty."""

    __slots__ = (
        "_cut",
        "_delays",
        "_drops",
        "_duplicates",
        "_faults",
        "_named",
        "_node_of",
        "_random",
        "_record",
        "active",
    )

    def __init__(self, plan: FaultPlan, rng: random.Random, record: EventSink) -> None:
        self._named: dict[str, str] = {
            actor: node for node, actors in plan.nodes.items() for actor in actors
        }
        self._node_of: dict[int, str] = {}
        self._faults = plan.network_faults
        self._random = rng
        self._record = record
        # Set from scenario code: node -> side of the current partition; link -> delay.
        self._cut: dict[str, int] = {}
        self._delays: dict[tuple[str | None, str | None], float] = {}
        self._duplicates: set[tuple[str | None, str | None]] = set()
        self._drops: dict[tuple[str | None, str | None], float] = {}
        self.active = bool(self._named)
        """True once any actor is on a node (until then no message can cross a link)."""

    # -- nodes ----------------------------------------------------------------------------

    def place(self, actor: ActorRef[object] | Cell, node: str) -> None:
        """Put an actor (and the children it spawns afterwards) on ``node``."""
        cell = actor if isinstance(actor, Cell) else actor._cell
        self._node_of[cell.id] = node
        self.active = True

    def node_of(self, actor: ActorRef[object] | Cell) -> str | None:
        cell = actor if isinstance(actor, Cell) else actor._cell
        return self._node_of.get(cell.id)

    def on_spawn(self, cell: Cell) -> None:
        node = self._named.get(cell.name) if cell.name is not None else None
        if node is None and cell.parent is not None:
            node = self._node_of.get(cell.parent.id)
        if node is not None:
            self._node_of[cell.id] = node

    # -- scenario control -----------------------------------------------------------------

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut the network between ``groups`` of nodes until ``heal()`` (or a new partition)."""
        sides = [tuple(g) for g in groups]
        if len(sides) < 2:
            raise SimulationError("network.partition() needs two or more groups of nodes")
        self._cut = {node: index for index, side in enumerate(sides) for node in side}
        self._record("partition " + " | ".join(",".join(side) for side in sides))

    def heal(self) -> None:
        """End the partition and every delay, duplication and loss set from scenario code."""
        self._cut = {}
        self._delays.clear()
        self._duplicates.clear()
        self._drops.clear()
        self._record("heal")

    def delay(self, src: str | None, dst: str | None, by: float) -> None:
        """Queue messages from ``src`` to ``dst`` (None: any node) ``by`` seconds later."""
        if not by >= 0:
            raise SimulationError(f"network.delay(): 'by' must be >= 0 seconds, got {by!r}")
        self._delays[(src, dst)] = by
        self._record(f"delay {src or '*'}->{dst or '*'} {by:g}s")

    def duplicate(self, src: str | None, dst: str | None) -> None:
        """Queue every message from ``src`` to ``dst`` (None: any node) twice."""
        self._duplicates.add((src, dst))
        self._record(f"duplicate {src or '*'}->{dst or '*'}")

    def drop(self, src: str | None, dst: str | None, probability: float = 1.0) -> None:
        """Lose each message from ``src`` to ``dst`` (None: any node) with ``probability``
        (drawn from the run's fault RNG) until ``heal()``."""
        if not 0.0 < probability <= 1.0:
            raise SimulationError(
                f"network.drop(): 'probability' must be in (0, 1], got {probability!r}"
            )
        self._drops[(src, dst)] = probability
        self._record(f"drop {src or '*'}->{dst or '*'} p={probability:g}")

    # -- decisions ------------------------------------------------------------------------

    def decide(self, sender: Cell | None, target: Cell, now: float) -> MessageDecision | None:
        """The network's decision for one message, or None if it crosses no faulty link."""
        if sender is None:
            return None
        src = self._node_of.get(sender.id)
        dst = self._node_of.get(target.id)
        if src is None or dst is None or src == dst:
            return None
        cut = self._cut
        if cut and src in cut and dst in cut and cut[src] != cut[dst]:
            return MessageDecision("drop", why=f"partition {src}|{dst}")
        for (a, b), probability in self._drops.items():
            if _on_link(a, b, src, dst) and self._draw(probability):
                return MessageDecision("drop", why=f"loss {src}->{dst}")
        delay: float | None = None
        duplicate = False
        for fault in self._faults:
            if not fault.active(now):
                continue
            if isinstance(fault, Partition):
                side = _side(fault.groups, src), _side(fault.groups, dst)
                if side[0] is not None and side[1] is not None and side[0] != side[1]:
                    return MessageDecision("drop", why=f"partition {src}|{dst}")
            elif _on_link(fault.src, fault.dst, src, dst) and self._draw(fault.probability):
                if isinstance(fault, LinkDelay):
                    delay = max(delay or 0.0, fault.by)
                elif isinstance(fault, LinkDuplicate):
                    duplicate = True
        for (a, b), by in self._delays.items():
            if _on_link(a, b, src, dst):
                delay = max(delay or 0.0, by)
        if not duplicate:
            duplicate = any(_on_link(a, b, src, dst) for a, b in self._duplicates)
        if delay is not None:
            copies = 2 if duplicate else 1
            return MessageDecision("delay", delay=delay, copies=copies, why=f"link {src}->{dst}")
        if duplicate:
            return MessageDecision("duplicate", why=f"link {src}->{dst}")
        return None

    def _draw(self, probability: float) -> bool:
        return probability >= 1.0 or self._random.random() < probability


def _side(groups: tuple[tuple[str, ...], ...], node: str) -> int | None:
    for index, group in enumerate(groups):
        if node in group:
            return index
    return None


def _on_link(a: str | None, b: str | None, src: str, dst: str) -> bool:
    return (a is None or a == src) and (b is None or b == dst)


def network(system: ActorSystem) -> Network:
    """The simulated network of the run ``system`` belongs to (simulated systems only)::

    net = network(system)
    net.partition(["n1"], ["n2", "n3"])
    ...
    net.heal()
    """
    net = getattr(system, "network", None)
    if not isinstance(net, Network):
        raise SimulationError(
            "network(system) needs a system of a deterministic run (a scenario's system, "
            "sim_system, or Simulation.system()); a plain ActorSystem has no simulated network"
        )
    return net


__all__ = ["LinkDelay", "LinkDuplicate", "Network", "Partition", "network"]
