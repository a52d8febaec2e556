"""``DynamicSupervisor``: OTP's simple_one_for_one / Elixir's DynamicSupervisor.

Children are added at run time with ``start_child(sup, spec)`` and named by their ref, not
an id; the strategy is one_for_one. ``max_children`` bounds how many it holds (running or
waiting for a restart). On shutdown all children are stopped together, not in order, as
OTP does for dynamic children (there may be very many).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Never

import msgspec

from ..kernel import SHUTDOWN, AnyRef, ExitReason, StartFailed, is_normal_exit
from ._base import Child, ChildMeta, SupervisorBase
from ._errors import (
    ChildNotFound,
    InvalidSupervisorFlags,
    MaxChildrenReached,
    NotSupportedByDynamic,
)
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD
from ._messages import ChildInfo, OpFailure
from ._spec import ChildSpec, graceful_timeout


class DynamicSupervisor(SupervisorBase):
    """A one_for_one supervisor whose children come and go (sessions, runs, connections).

    ::

        sessions = await system.start_actor(lambda: DynamicSupervisor(max_children=10_000))
        ref = await start_child(sessions, ChildSpec(id="session", start=Session,
                                                    restart="transient"))
        await terminate_child(sessions, ref)

    ``restart_child`` and ``delete_child`` need child ids, which dynamic children do not
    have: they raise ``NotSupportedByDynamic`` (OTP's ``{error, simple_one_for_one}``).
    """

    @property
    def strategy_name(self) -> str:
        # OTP's name for it: operators (the tree, the observer) tell it apart by this.
        return "simple_one_for_one"

    def __init__(
        self,
        *,
        max_children: int | None = None,
        intensity: int = DEFAULT_INTENSITY,
        period: float = DEFAULT_PERIOD,
    ) -> None:
        super().__init__(intensity=intensity, period=period)
        if max_children is not None and (
            not isinstance(max_children, int) or isinstance(max_children, bool) or max_children < 0
        ):
            raise InvalidSupervisorFlags("max_children", max_children, "an int >= 0 or None")
        self.max_children = max_children
        self._children: dict[int, Child] = {}  # by slot, in start order
        self._by_actor: dict[int, int] = {}  # actor id -> slot (also a restarting child's old id)
        self._slots = 0

    # -- start and stop ------------------------------------------------------------------

    async def _start_initial(self) -> None:
        return None

    async def _stop_all(self) -> None:
        running: list[tuple[AnyRef, Child]] = []
        for child in self._children.values():
            self._cancel_pending(child)
            if child.ref is not None:
                running.append((child.ref, child))
                child.ref = None
                child.status = "stopped"
        self._by_actor.clear()
        system = self.system
        graceful = []
        for ref, child in running:
            policy = child.spec.shutdown_policy
            if policy == "brutal_kill":
                system.kill(ref)
            else:
                graceful.append(system.terminate(ref, SHUTDOWN, graceful_timeout(policy)))
        if graceful:
            await asyncio.gather(*graceful)
        for ref, _ in running:
            await system.wait_exit(ref)

    def _started(self, child: Child, ref: AnyRef) -> None:
        self._by_actor[ref.id] = int(child.key)
        if child.old_actor_id is not None:
            self._by_actor.pop(child.old_actor_id, None)
            child.old_actor_id = None

    def _forget_actor(self, actor_id: int) -> None:
        self._by_actor.pop(actor_id, None)

    def _remove(self, child: Child) -> None:
        self._cancel_pending(child)
        del self._children[int(child.key)]
        if child.old_actor_id is not None:
            self._by_actor.pop(child.old_actor_id, None)

    # -- exits and restarts -----------------------------------------------------------------

    async def _child_exited(self, ref: AnyRef, reason: ExitReason) -> None:
        slot = self._by_actor.get(ref.id)
        if slot is None:
            return
        child = self._children[slot]
        if child.ref is None or child.ref.id != ref.id:
            return  # the old id of a child already waiting for its restart
        child.ref = None
        restart = child.spec.restart
        if restart == "permanent" or (restart == "transient" and not is_normal_exit(reason)):
            child.old_actor_id = ref.id  # terminate_child(old ref) still finds it (OTP)
            await self._failed(child, reason, retry=False)
        else:
            self._by_actor.pop(ref.id, None)
            self._remove(child)

    def _child_by_key(self, key: str | int) -> Child | None:
        return self._children.get(int(key))

    async def _restart_group(self, child: Child, reason: ExitReason) -> None:
        try:
            ref = self._launch(child)
            if child.ref is not ref:  # its on_start runs
                await self._finish_start(child, ref)
        except StartFailed as exc:
            await self._failed(child, exc.reason, retry=True)
            return
        self._note_restart(child, reason)

    # -- operations ---------------------------------------------------------------------------

    def _which(self) -> list[ChildInfo]:
        return [child.info() for child in self._children.values()]

    def child_table(self) -> Iterator[tuple[int, ChildMeta]]:
        for child in self._children.values():
            if child.ref is not None:
                yield (
                    child.ref.id,
                    ChildMeta(child.spec.id, child.spec.restart, child.spec.type, child.crash),
                )

    async def _start_child(self, spec: ChildSpec[Never]) -> AnyRef | OpFailure:
        if self.max_children is not None and len(self._children) >= self.max_children:
            return MaxChildrenReached(self.label, self.max_children)
        self._slots += 1
        child = Child(self._slots, spec)
        try:
            ref = self._launch(child)
            if child.ref is not ref:  # its on_start runs
                await self._finish_start(child, ref)
        except StartFailed as exc:
            return exc
        self._children[self._slots] = child
        if spec.restart == "temporary":
            # Never restarted, so its factory (and all the factory holds: a live session's
            # view, request and services) is not kept, as OTP keeps no start arguments of
            # a temporary child (ADR 0108).
            child.spec = spent(spec)
        return ref

    async def _terminate_child(self, child: str | AnyRef) -> OpFailure | None:
        if isinstance(child, str):
            return NotSupportedByDynamic(self.label, "terminate_child by id")
        slot = self._by_actor.get(child.id)
        if slot is None:
            return ChildNotFound(self.label, child)
        record = self._children[slot]
        if record.status == "running":
            await self._shutdown(record)
        self._remove(record)
        return None

    async def _restart_child(self, child_id: str) -> AnyRef | OpFailure:
        return NotSupportedByDynamic(self.label, "restart_child")

    async def _delete_child(self, child_id: str) -> OpFailure | None:
        return NotSupportedByDynamic(self.label, "delete_child")


def _never_again() -> Never:
    raise RuntimeError("a temporary child is never started again; its factory is not kept")


_SPENT: dict[tuple[object, ...], ChildSpec[Never]] = {}


def spent(spec: ChildSpec[Never]) -> ChildSpec[Never]:
    """`spec` without its factory, one shared copy per set of other fields (at most 256
    are kept; past them each is a copy of its own)."""
    key = (spec.id, spec.restart, spec.shutdown, spec.type, spec.backoff, spec.name)
    found = _SPENT.get(key)
    if found is None:
        found = msgspec.structs.replace(spec, start=_never_again)
        if len(_SPENT) < 256:
            _SPENT[key] = found
    return found
