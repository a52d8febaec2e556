"""What every supervisor shares: trapping exits, restart intensity, backoff, child shutdown.

A supervisor is an actor with ``trap_exit = True``; its children are started with
``system.start_actor(..., parent=self.ref, link=True)``, so each child's exit arrives as an
``Exit`` message. The kernel runs an async handler one message at a time, so while a
supervisor restarts children it sees no other message: that is OTP's serial supervisor.

Invariants that must stay true:
- A child's ``ref`` is cleared (and its actor id forgotten) *before* the supervisor awaits
  its shutdown, so the ``Exit`` that shutdown causes is recognised as stale and ignored.
- Children stay linked while they are shut down: if the supervisor itself is killed midway,
  the link still takes the remaining children down with it.
- A pending restart is identified by ``(key, token)``; cancelling it bumps the token, so a
  timer that already fired into the mailbox is ignored when it is handled.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator
from typing import Never, cast

from ..kernel import (
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorRef,
    ActorSystem,
    AnyRef,
    Exit,
    ExitReason,
    StartFailed,
    Timer,
    format_reason,
    handler,
    is_transient,
)
from ._crash import CrashNote
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD, RestartIntensity
from ._messages import (
    ChildCounts,
    ChildInfo,
    ChildStatus,
    CountChildren,
    DeleteChild,
    OpFailure,
    RestartChild,
    RestartDue,
    StartChild,
    SupervisorMessage,
    TerminateChild,
    WhichChildren,
)
from ._spec import ChildSpec, ChildType, Restart, Shutdown, graceful_timeout

logger = logging.getLogger("lightflow_actors.supervision")

GAVE_UP: ExitReason = (SHUTDOWN, "reached_max_restart_intensity")
"""The exit reason of a supervisor that exceeded its restart intensity.

OTP exits with plain ``shutdown`` here; the tuple form has the same meaning (a transient
parent spec does not restart it) and tells operators why (ADR 0002)."""


class Child:
    """A supervisor's record of one child: its spec, its current actor, its restart state."""

    __slots__ = (
        "attempt",
        "crash",
        "key",
        "old_actor_id",
        "pending_reason",
        "ref",
        "restart_at",
        "restarts",
        "spec",
        "started_at",
        "status",
        "timer",
        "token",
    )

    def __init__(self, key: str | int, spec: ChildSpec[Never]) -> None:
        self.key = key
        self.spec = spec
        self.ref: AnyRef | None = None
        self.status: ChildStatus = "stopped"
        self.restarts = 0
        self.attempt = 0  # consecutive backoff attempts
        self.started_at = 0.0
        self.token = 0
        self.timer: Timer | None = None
        self.pending_reason: ExitReason | None = None
        self.restart_at: float | None = None
        self.old_actor_id: int | None = None  # dynamic children: the ref a restart replaces
        self.crash: CrashNote | None = None  # the last crash, for operators (_crash.py)

    def info(self) -> ChildInfo:
        return ChildInfo(
            id=self.spec.id,
            ref=self.ref,
            status=self.status,
            type=self.spec.type,
            restart=self.spec.restart,
            restarts=self.restarts,
            restart_at=self.restart_at if self.timer is not None else None,
            last_exit=(
                format_reason(self.pending_reason)
                if self.status == "restarting" and self.pending_reason is not None
                else None
            ),
            crash=self.crash.crash() if self.crash is not None else None,
        )


class ChildMeta:
    """What the system tree shows about an actor from its supervisor's spec."""

    __slots__ = ("child_id", "crash", "restart", "type")

    def __init__(
        self,
        child_id: str,
        restart: Restart,
        child_type: ChildType,
        crash: CrashNote | None = None,
    ) -> None:
        self.child_id = child_id
        self.restart = restart
        self.type = child_type
        self.crash = crash  # the child's last crash (an earlier incarnation's)


async def shutdown_child(system: ActorSystem, ref: AnyRef, policy: Shutdown) -> None:
    """Stop one child as its spec says (OTP ``supervisor:shutdown/1``) and wait for it."""
    if policy == "brutal_kill":
        system.kill(ref)
        await system.wait_exit(ref)
    else:
        await system.terminate(ref, SHUTDOWN, graceful_timeout(policy))


def peek_actor(system: ActorSystem, actor_id: int) -> Actor[Never] | None:
    """The actor object behind a live id, for read-only snapshots (tree, escalation log).

    Reading another actor's fields is safe only because everything runs on one loop thread
    and the caller copies what it reads without awaiting in between.
    """
    ref = system.get(actor_id)
    return ref._cell.actor if ref is not None else None


class SupervisorBase(Actor[SupervisorMessage], abc.ABC):
    """Shared machinery of ``Supervisor`` and ``DynamicSupervisor``."""

    trap_exit = True

    def __init__(
        self, *, intensity: int = DEFAULT_INTENSITY, period: float = DEFAULT_PERIOD
    ) -> None:
        self._intensity = RestartIntensity(intensity, period)
        self._parent_id: int | None = None
        self._tokens = 0

    # -- what subclasses provide ----------------------------------------------------------

    @abc.abstractmethod
    async def _start_initial(self) -> None: ...

    @abc.abstractmethod
    async def _stop_all(self) -> None: ...

    @abc.abstractmethod
    async def _child_exited(self, ref: AnyRef, reason: ExitReason) -> None: ...

    @abc.abstractmethod
    def _child_by_key(self, key: str | int) -> Child | None:
        """The child a ``RestartDue`` names, or None if it is gone."""

    @abc.abstractmethod
    async def _restart_group(self, child: Child, reason: ExitReason) -> None:
        """Start ``child`` again (and, by strategy, the siblings stopped with it)."""

    async def _stop_siblings(self, child: Child) -> None:
        """Stop the siblings the strategy restarts with ``child`` (one_for_one: none)."""

    def _has_siblings(self) -> bool:
        """True if the strategy restarts other children with one (one_for_one: False)."""
        return False

    @abc.abstractmethod
    def _which(self) -> list[ChildInfo]: ...

    @abc.abstractmethod
    async def _start_child(self, spec: ChildSpec[Never]) -> AnyRef | OpFailure: ...

    @abc.abstractmethod
    async def _terminate_child(self, child: str | AnyRef) -> OpFailure | None: ...

    @abc.abstractmethod
    async def _restart_child(self, child_id: str) -> AnyRef | OpFailure: ...

    @abc.abstractmethod
    async def _delete_child(self, child_id: str) -> OpFailure | None: ...

    @abc.abstractmethod
    def child_table(self) -> Iterator[tuple[int, ChildMeta]]:
        """``(actor id, spec data)`` of every running child, for ``system_tree``."""

    def waiting_children(self) -> list[ChildInfo]:
        """The children no actor runs now (restarting, or stopped and kept), for the tree."""
        return [row for row in self._which() if row.status != "running"]

    @property
    def strategy_name(self) -> str:
        return "one_for_one"

    # -- lifecycle -----------------------------------------------------------------------

    async def on_start(self) -> None:
        # Remember the parent now: when it exits, the kernel re-parents us before our Exit
        # handler runs, so the id cannot be read at that point.
        self._parent_id = self.system.info(self.ref).parent
        await self._start_initial()

    async def on_stop(self, reason: ExitReason) -> None:
        await self._stop_all()

    # -- messages --------------------------------------------------------------------------

    @handler(eager_start=True)
    async def handle_exit(self, msg: Exit) -> None:
        sender = msg.sender
        if sender is None or sender.id == self._parent_id:
            # OTP: an exit signal from the parent (here also from the system) means stop,
            # with the same reason; on_stop shuts the children down in reverse order.
            self.stop(msg.reason)
            return
        await self._child_exited(sender, msg.reason)

    @handler(eager_start=True)
    async def handle_restart_due(self, msg: RestartDue) -> None:
        await self._restart_due(msg.key, msg.token)

    @handler
    def handle_which_children(self, msg: WhichChildren) -> list[ChildInfo]:
        return self._which()

    @handler
    def handle_count_children(self, msg: CountChildren) -> ChildCounts:
        rows = self._which()
        supervisors = sum(1 for row in rows if row.type == "supervisor")
        return ChildCounts(
            specs=len(rows),
            active=sum(1 for row in rows if row.status == "running"),
            supervisors=supervisors,
            workers=len(rows) - supervisors,
        )

    @handler(eager_start=True)
    async def handle_start_child(self, msg: StartChild) -> AnyRef | OpFailure:
        return await self._start_child(msg.spec)

    @handler(eager_start=True)
    async def handle_terminate_child(self, msg: TerminateChild) -> OpFailure | None:
        return await self._terminate_child(msg.child)

    @handler(eager_start=True)
    async def handle_restart_child(self, msg: RestartChild) -> AnyRef | OpFailure:
        return await self._restart_child(msg.child_id)

    @handler(eager_start=True)
    async def handle_delete_child(self, msg: DeleteChild) -> OpFailure | None:
        return await self._delete_child(msg.child_id)

    # -- helpers for subclasses --------------------------------------------------------------

    @property
    def label(self) -> str:
        return self.ref._cell.label

    async def _start(self, child: Child) -> AnyRef:
        """Start ``child``'s actor, linked, and wait for its ``on_start`` (if it has one)."""
        ref = self._launch(child)
        if child.ref is not ref:  # its on_start runs
            await self._finish_start(child, ref)
        return ref

    def _launch(self, child: Child) -> AnyRef:
        """Spawn ``child``'s actor, linked. Without ``on_start`` it runs on return, and is
        recorded (``child.ref is ref``); otherwise ``_finish_start`` must follow.

        Split from ``_start`` so that a restart or ``start_child`` of a child without
        ``on_start``, a supervisor's hot path, costs no coroutine (ADR 0094). A factory
        that raises is a start failure too (OTP: the start function crashed).
        """
        spec = child.spec
        cell = self._cell  # running: read directly, as on every hot path here
        system = cell.system
        # The attempt's time, not only a successful start's: backoff's reset window counts
        # from here, so a child failing to start again and again keeps backing off.
        child.started_at = system.clock.now()
        try:
            ref: AnyRef = system.spawn(spec.start, name=spec.name, parent=cell.ref, link=True)
        except Exception as exc:
            raise StartFailed(f"child {spec.id!r} of {self.label}", exc) from exc
        if not system.is_starting(ref):
            self._running(child, ref)
        return ref

    async def _finish_start(self, child: Child, ref: AnyRef) -> None:
        """Wait for the ``on_start`` of a child ``_launch`` spawned; ``StartFailed`` if it
        failed."""
        system = self.system
        await system.wait_started(ref)
        child.started_at = system.clock.now()
        self._running(child, ref)

    def _running(self, child: Child, ref: AnyRef) -> None:
        child.ref = ref
        child.status = "running"
        self._started(child, ref)

    def _started(self, child: Child, ref: AnyRef) -> None:
        """``child`` runs as ``ref`` now: record the actor id (subclasses keep a map)."""

    def _note_restart(self, child: Child, reason: ExitReason | None) -> None:
        ref = child.ref
        assert ref is not None
        child.restarts += 1
        ref._cell.restarts = child.restarts  # ActorInfo.restarts reports it
        self._cell.system.record("restarted", ref, reason)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s restarted child %r as %s (restart %d)%s",
                self.label,
                child.spec.id,
                ref._cell.label,
                child.restarts,
                f" after {format_reason(reason)}" if reason is not None else "",
            )

    async def _shutdown(self, child: Child) -> None:
        ref = child.ref
        child.ref = None
        child.status = "stopped"
        if ref is not None:
            self._forget_actor(ref.id)
            await shutdown_child(self.system, ref, child.spec.shutdown_policy)

    def _forget_actor(self, actor_id: int) -> None:
        """Drop the actor-id → child mapping (subclasses keep one)."""

    async def _failed(self, child: Child, reason: ExitReason, *, retry: bool) -> None:
        """``child`` must be restarted: now (OTP), or via the mailbox after backoff/retry."""
        child.status = "restarting"
        if isinstance(reason, BaseException):  # a crash: keep its traceback for operators
            child.crash = CrashNote(
                reason, at_ms=self._cell.system.clock.wall_ms(), restarts=child.restarts
            )
        delay = 0.0 if child.spec.backoff is None else self._backoff_delay(child)
        if delay == 0.0 and not retry:
            if self._allow_restart(child, reason):
                if self._has_siblings():
                    await self._stop_siblings(child)
                await self._restart_group(child, reason)
            return
        if self._has_siblings():
            await self._stop_siblings(child)
        self._schedule(child, delay, reason)

    async def _restart_due(self, key: str | int, token: int) -> None:
        child = self._child_by_key(key)
        if child is None or child.token != token or child.status != "restarting":
            return  # gone, or superseded by a later event (terminate_child, a group restart)
        child.timer = None
        reason = child.pending_reason if child.pending_reason is not None else NORMAL
        if self._allow_restart(child, reason):
            await self._restart_group(child, reason)

    def _backoff_delay(self, child: Child) -> float:
        backoff = child.spec.backoff
        if backoff is None:
            return 0.0
        if self.system.clock.now() - child.started_at >= backoff.reset_window:
            child.attempt = 0
        delay = backoff.delay(child.attempt, self.system.random)
        child.attempt += 1
        return delay

    def _schedule(self, child: Child, delay: float, reason: ExitReason) -> None:
        """Restart ``child`` after ``delay`` seconds, through the mailbox (OTP try_again)."""
        self._cancel_pending(child)
        self._tokens += 1
        child.token = self._tokens
        child.status = "restarting"
        child.pending_reason = reason
        clock = self.system.clock
        child.restart_at = clock.now() + delay
        me = cast(ActorRef[RestartDue], self.ref)
        child.timer = self.send_after(delay, me, RestartDue(child.key, child.token))
        self.system.record(
            "restart_scheduled",
            self.ref,
            reason,
            child=child.spec.id,
            restart_at_ms=clock.wall_ms() + round(delay * 1000),
        )
        if delay > 0 and logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s restarts child %r in %.3g s (after %s)",
                self.label,
                child.spec.id,
                delay,
                format_reason(reason),
            )

    def _cancel_pending(self, child: Child) -> None:
        if child.timer is not None:
            child.timer.cancel()
            child.timer = None
        child.token = 0

    def _allow_restart(self, child: Child, reason: ExitReason) -> bool:
        """Count a restart; on exceeding the intensity, give up and return False."""
        if self._intensity.add(self._cell.system.clock.now()):
            return True
        self._give_up(child, reason)
        return False

    def _give_up(self, child: Child, reason: ExitReason) -> None:
        """OTP ``reached_max_restart_intensity``: stop all children, exit, let the parent decide."""
        parent = peek_actor(self.system, self._parent_id) if self._parent_id else None
        intensity = self._intensity
        why = (
            f"{self.label} reached its maximum restart intensity ({intensity.intensity} "
            f"restarts in {intensity.period:g}s; last: child {child.spec.id!r} "
            f"exited with {format_reason(reason)})"
        )
        if isinstance(parent, SupervisorBase):
            # a transient failure (a broker down) is retried by the parent's backoff, which
            # says so once per attempt: no ERROR per give-up
            level = logging.INFO if is_transient(reason) else logging.ERROR
            logger.log(level, "%s; stopping its children and escalating to %s", why, parent.label)
        else:
            logger.critical(
                "%s; it is a top-level supervisor, so its whole subtree is stopped and "
                "nothing will restart it",
                why,
            )
        self.system.record("escalated", self.ref, GAVE_UP)
        self.stop(GAVE_UP)
