"""The root supervisor: the top of an ``ActorSystem``'s supervision tree.

``start_root(system)`` starts it. Services added with ``start_child(root, spec)`` are
supervised as by any ``Supervisor`` (one_for_one). Every other actor whose kernel parent is
the root, such as a top-level ``system.spawn`` once the system spawns under the root, is an
*adopted* temporary child: its exit is never restarted, it shows in ``which_children``,
and the root stops it on shutdown. Shutdown stops all of them in reverse spawn order.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Never

from ..kernel import SHUTDOWN, ActorSystem, ExitReason
from ._base import Child, SupervisorBase, peek_actor
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD
from ._messages import ChildInfo
from ._ops import SupervisorRef
from ._spec import ChildSpec
from ._supervisor import Supervisor

ROOT_NAME = "lightflow.root"
"""The registry name of the root supervisor that ``ActorSystem()`` starts."""


class RootSupervisor(Supervisor):
    """A one_for_one ``Supervisor`` that also adopts the actors spawned at the top level.

    A child spec with a ``backoff`` (a subsystem: ``start_subsystem``) is restarted after
    its backoff delay every time it exits, and those restarts do not count against the
    root's own intensity: the root is the top, nothing above it would restart it, so
    giving up would stop the whole system. The backoff is what bounds the restart rate.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec[Never]] = (),
        *,
        intensity: int = DEFAULT_INTENSITY,
        period: float = DEFAULT_PERIOD,
    ) -> None:
        super().__init__(children, strategy="one_for_one", intensity=intensity, period=period)

    def spec_children(self) -> list[ChildInfo]:
        """The children started from a child spec (the subsystems), not the adopted ones."""
        return super()._which()

    def _allow_restart(self, child: Child, reason: ExitReason) -> bool:
        if child.spec.backoff is not None:
            return True
        return super()._allow_restart(child, reason)

    def _adopted(self) -> list[int]:
        """Ids of kernel children that no spec of ours describes, in spawn order."""
        return [i for i in self.system.info(self.ref).children if i not in self._by_actor]

    def _which(self) -> list[ChildInfo]:
        rows = super()._which()
        for actor_id in self._adopted():
            ref = self.system.get(actor_id)
            if ref is None:
                continue
            is_sup = isinstance(peek_actor(self.system, actor_id), SupervisorBase)
            rows.append(
                ChildInfo(
                    id=ref.name or f"#{actor_id}",
                    ref=ref,
                    status="running",
                    type="supervisor" if is_sup else "worker",
                    restart="temporary",
                    restarts=0,
                )
            )
        return rows

    async def _stop_all(self) -> None:
        for child in self._children.values():
            self._cancel_pending(child)
        system = self.system
        # Newest first. Stopping an actor hands its own unlinked children up to us (the
        # kernel re-parents them), so they join the heap and keep the reverse spawn order.
        while kids := system.info(self.ref).children:
            heap = [-actor_id for actor_id in kids]
            heapq.heapify(heap)
            while heap:
                actor_id = -heapq.heappop(heap)
                ref = system.get(actor_id)
                if ref is None:
                    continue
                grandchildren = system.info(ref).children
                child_id = self._by_actor.get(actor_id)
                if child_id is not None:
                    await self._shutdown(self._children[child_id])
                else:
                    await system.terminate(ref, SHUTDOWN, system.stop_timeout)
                for orphan in grandchildren:
                    if system.get(orphan) is not None:
                        heapq.heappush(heap, -orphan)


async def start_root(
    system: ActorSystem,
    children: Sequence[ChildSpec[Never]] = (),
    *,
    name: str | None = None,
    intensity: int = DEFAULT_INTENSITY,
    period: float = DEFAULT_PERIOD,
) -> SupervisorRef:
    """Start the root supervisor of ``system`` (top level, no parent) and return its ref."""
    ref: SupervisorRef = await system.start_actor(
        lambda: RootSupervisor(children, intensity=intensity, period=period), name=name
    )
    return ref
