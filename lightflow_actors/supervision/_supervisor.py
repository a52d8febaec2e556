"""``Supervisor``: OTP's supervisor with one_for_one, one_for_all and rest_for_one.

Children start in spec order, each waiting for the previous one's ``on_start``; a failing
start stops the ones already started (in reverse) and fails the supervisor's own start.
When a child exits, its restart type decides whether it is restarted; the strategy decides
which siblings are restarted with it. The restart intensity bounds how often.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, Never, TypeAlias

from ..kernel import AnyRef, ExitReason, StartFailed, is_normal_exit
from ._base import Child, ChildMeta, SupervisorBase
from ._errors import (
    ChildAlreadyPresent,
    ChildAlreadyStarted,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    ChildStartFailed,
    DuplicateChildId,
    InvalidSupervisorFlags,
)
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD
from ._messages import ChildInfo, OpFailure
from ._spec import ChildSpec

Strategy: TypeAlias = Literal["one_for_one", "one_for_all", "rest_for_one"]
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")


class Supervisor(SupervisorBase):
    """A supervisor of an ordered list of children.

    ::

        sup = await system.start_actor(lambda: Supervisor(
            [ChildSpec(id="db", start=Db), ChildSpec(id="api", start=Api)],
            strategy="rest_for_one", intensity=3, period=10.0,
        ))

    - ``one_for_one``: only the exited child is restarted.
    - ``one_for_all``: the other children are stopped (reverse order), then all restarted.
    - ``rest_for_one``: the children started after it are stopped (reverse order), then it
      and they are restarted in order.

    More than ``intensity`` restarts within ``period`` seconds make the supervisor stop
    every child and exit with ``("shutdown", "reached_max_restart_intensity")``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec[Never]] = (),
        *,
        strategy: Strategy = "one_for_one",
        intensity: int = DEFAULT_INTENSITY,
        period: float = DEFAULT_PERIOD,
    ) -> None:
        super().__init__(intensity=intensity, period=period)
        if strategy not in _STRATEGIES:
            raise InvalidSupervisorFlags("strategy", strategy, " | ".join(_STRATEGIES))
        seen: set[str] = set()
        for spec in children:
            if not isinstance(spec, ChildSpec):
                raise InvalidSupervisorFlags("children", spec, "a sequence of ChildSpec")
            if spec.id in seen:
                raise DuplicateChildId(spec.id)
            seen.add(spec.id)
        self.strategy: Strategy = strategy
        self._initial = tuple(children)
        self._order: list[str] = []  # child ids in start order
        self._children: dict[str, Child] = {}
        self._by_actor: dict[int, str] = {}

    @property
    def strategy_name(self) -> str:
        return self.strategy

    # -- start and stop ------------------------------------------------------------------

    async def _start_initial(self) -> None:
        for spec in self._initial:
            child = Child(spec.id, spec)
            try:
                await self._start(child)
            except StartFailed as exc:
                await self._stop_all()
                raise ChildStartFailed(self.label, spec.id, exc.reason) from exc
            self._order.append(spec.id)
            self._children[spec.id] = child

    async def _stop_all(self) -> None:
        for child_id in reversed(self._order):
            child = self._children[child_id]
            self._cancel_pending(child)
            if child.status == "running":
                await self._shutdown(child)

    def _started(self, child: Child, ref: AnyRef) -> None:
        self._by_actor[ref.id] = child.spec.id

    def _forget_actor(self, actor_id: int) -> None:
        self._by_actor.pop(actor_id, None)

    def _remove(self, child_id: str) -> None:
        child = self._children.pop(child_id)
        self._cancel_pending(child)
        self._order.remove(child_id)

    # -- exits and restarts -----------------------------------------------------------------

    async def _child_exited(self, ref: AnyRef, reason: ExitReason) -> None:
        child_id = self._by_actor.pop(ref.id, None)
        if child_id is None:
            return  # a stale signal: that actor was already shut down or replaced
        child = self._children[child_id]
        child.ref = None
        restart = child.spec.restart
        if restart == "permanent" or (restart == "transient" and not is_normal_exit(reason)):
            await self._failed(child, reason, retry=False)
        elif restart == "temporary":
            self._remove(child_id)
        else:
            child.status = "stopped"

    def _child_by_key(self, key: str | int) -> Child | None:
        return self._children.get(str(key))

    def _group(self, child: Child) -> Sequence[Child]:
        """The children the strategy restarts with ``child``, in start order."""
        if self.strategy == "one_for_one":
            return (child,)
        ids = self._order
        if self.strategy == "rest_for_one":
            ids = ids[ids.index(child.spec.id) :]
        return [self._children[i] for i in ids]

    def _has_siblings(self) -> bool:
        return self.strategy != "one_for_one"

    async def _stop_siblings(self, child: Child) -> None:
        """Stop the running group members (reverse order); temporary ones are forgotten.

        As OTP's ``terminate_children``, every non-temporary member is then restarted with
        the group, including members that were not running (terminated or exited normally).
        """
        for sibling in reversed(self._group(child)):
            if sibling is child:
                continue
            self._cancel_pending(sibling)
            if sibling.status == "running":
                await self._shutdown(sibling)
            if sibling.spec.restart == "temporary":
                self._remove(sibling.spec.id)
            else:
                sibling.status = "restarting"

    async def _restart_group(self, child: Child, reason: ExitReason) -> None:
        for member in self._group(child):
            if member.status != "restarting":
                continue
            self._cancel_pending(member)
            try:
                ref = self._launch(member)
                if member.ref is not ref:  # its on_start runs
                    await self._finish_start(member, ref)
            except StartFailed as exc:
                # OTP try_again: a failed restart is the member failing again; the retry
                # goes through the mailbox, so a shutdown request can get in between.
                await self._failed(member, exc.reason, retry=True)
                return
            self._note_restart(member, reason)

    # -- operations ---------------------------------------------------------------------------

    def _which(self) -> list[ChildInfo]:
        return [self._children[i].info() for i in self._order]

    def child_table(self) -> Iterator[tuple[int, ChildMeta]]:
        for child_id in self._order:
            child = self._children[child_id]
            if child.ref is not None:
                yield (
                    child.ref.id,
                    ChildMeta(child_id, child.spec.restart, child.spec.type, child.crash),
                )

    async def _start_child(self, spec: ChildSpec[Never]) -> AnyRef | OpFailure:
        existing = self._children.get(spec.id)
        if existing is not None:
            if existing.ref is not None:
                return ChildAlreadyStarted(self.label, spec.id, existing.ref)
            return ChildAlreadyPresent(self.label, spec.id)
        child = Child(spec.id, spec)
        try:
            ref = self._launch(child)
            if child.ref is not ref:  # its on_start runs
                await self._finish_start(child, ref)
        except StartFailed as exc:
            return exc
        self._order.append(spec.id)
        self._children[spec.id] = child
        return ref

    def _find(self, child: str | AnyRef) -> Child | None:
        if isinstance(child, str):
            return self._children.get(child)
        child_id = self._by_actor.get(child.id)
        return self._children.get(child_id) if child_id is not None else None

    async def _terminate_child(self, child: str | AnyRef) -> OpFailure | None:
        record = self._find(child)
        if record is None:
            return ChildNotFound(self.label, child)
        if record.timer is not None:
            # Its timer carried the restart of its whole group: the members waiting on it
            # are left stopped, as OTP leaves them undefined when the retry finds nothing.
            for member in self._group(record):
                if member.status == "restarting" and member.timer is None:
                    member.status = "stopped"
        self._cancel_pending(record)
        if record.status == "running":
            await self._shutdown(record)
        if record.spec.restart == "temporary":
            self._remove(record.spec.id)
        else:
            record.status = "stopped"
        return None

    def _stopped_child(self, child_id: str, operation: str) -> Child | OpFailure:
        """The record of ``child_id`` if ``operation`` may act on it (OTP: not running)."""
        record = self._children.get(child_id)
        if record is None:
            return ChildNotFound(self.label, child_id)
        if record.status == "running":
            return ChildRunning(self.label, child_id, operation)
        if record.status == "restarting":
            return ChildRestarting(self.label, child_id, operation)
        return record

    async def _restart_child(self, child_id: str) -> AnyRef | OpFailure:
        record = self._stopped_child(child_id, "restart")
        if not isinstance(record, Child):
            return record
        try:
            ref = await self._start(record)
        except StartFailed as exc:
            return exc
        self._note_restart(record, None)
        return ref

    async def _delete_child(self, child_id: str) -> OpFailure | None:
        record = self._stopped_child(child_id, "delete")
        if not isinstance(record, Child):
            return record
        self._remove(child_id)
        return None
