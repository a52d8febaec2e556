"""`ProviderHost`: serves one provider's requests on a pool of worker slots, under a
real `Supervisor`.

A provider has `concurrency` slots (its `ProviderSpec`): that many worker actors, the
`permanent` children `<provider> <i>/<n>` of one `lightflow_actors.supervision`
`Supervisor` (restart intensity `max_restarts` in `period_s`), so the operator tree shows
how many requests it may serve at once. Each slot serves one request at a time; a request
may also belong to a route with a limit of its own (`Routes.limits`), and is then not
started while that many of its route are in flight. The host keeps the queue and monitors
each worker incarnation, so when a worker exits it knows exactly which request it had:

- the worker crashed (an exception): that request is answered `provider_crashed`;
- it was stopped or killed from outside (an operator, or the system shutting down): the
  request goes back to the head of the queue (on disk it stays claimed, so if the whole
  substrate is going down it is served again after the restart).

The supervisor restarts the worker and the host adopts the new incarnation of that slot,
found with `which_children`. When the supervisor gives up (intensity exceeded, it exits
with `GAVE_UP`), the provider stays down: everything queued or arriving later is
answered `provider_crashed` until the substrate is restarted. Nothing is lost, nothing is
answered twice.

Waiting requests are queued per tenant (`ProviderRequest.tenant`) and served by weighted
deficit round robin (`tenants.FairQueue`, ADR 0104), not first come first served: a tenant
that floods a provider delays its own requests, and another tenant's request waits at
most one round. With a `TenantLedger`, a tenant past its ``provider_calls_per_min``
budget is passed over (its requests keep their place, a ``throttled`` event is recorded
when it starts waiting) until its bucket has a call again; the host wakes itself then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import msgspec

from lightflow_actors.kernel import (
    Actor,
    ActorRef,
    Down,
    Exit,
    LightflowError,
    format_reason,
    handler,
    is_crash,
)
from lightflow_actors.supervision import (
    GAVE_UP,
    ChildSpec,
    Supervisor,
    SupervisorRef,
    which_children,
)
from lightflow_actors.tenants import FairQueue, TenantLedger

from .._audit import AuditEvent, AuditLog
from ._protocol import Failure, Outcome, ProviderRequest, ProviderSpec, Work, WorkDone

__all__ = ["ProviderHost", "Serve", "Served", "slot_id"]

_RETRY_S = 0.01


def slot_id(
    provider: str, index: int, concurrency: int, route_limits: Mapping[str, int] | None = None
) -> str:
    """The child id of a provider's worker slot, as the operator tree shows it:
    `echo 3/16`, or `echo 3/16 (api/openai.chat<=2)` when routes to it have limits."""
    base = f"{provider} {index + 1}/{concurrency}"
    if not route_limits:
        return base
    limits = ", ".join(f"{route}<={limit}" for route, limit in sorted(route_limits.items()))
    return f"{base} ({limits})"


class Served(msgspec.Struct, frozen=True):
    token: int
    provider: str
    outcome: Outcome


class Serve(msgspec.Struct, frozen=True):
    """Serve `request`; `lane` names its route (`<kind>/<name>`) when that route limits
    how many of its requests are in flight (`lane_limit`)."""

    token: int
    request: ProviderRequest
    reply_to: ActorRef[Served]
    lane: str | None = None
    lane_limit: int | None = None


class _FindWorker(msgspec.Struct, frozen=True):
    pass


class _Pump(msgspec.Struct, frozen=True):
    """A tenant held for its provider-call budget may have a call again."""


class _Slot:
    """One worker slot: its current incarnation, the monitor on it, its request."""

    __slots__ = ("current", "monitor", "worker")

    def __init__(self) -> None:
        self.worker: ActorRef[Work] | None = None
        self.monitor: int | None = None
        self.current: Serve | None = None


class ProviderHost(Actor[Serve | WorkDone | Down | Exit | _FindWorker | _Pump]):
    trap_exit = True

    def __init__(
        self,
        spec: ProviderSpec,
        audit: AuditLog,
        *,
        max_restarts: int,
        period_s: float,
        shutdown_s: float,
        route_limits: Mapping[str, int] | None = None,
        tenants: TenantLedger | None = None,
        record: Callable[[AuditEvent], None] | None = None,
    ) -> None:
        self._spec = spec
        self._tenants = tenants
        self._held: set[str] = set()  # tenants waiting for their provider-call budget
        self._wake_at: float | None = None  # when a `_Pump` is due (loop clock)
        self._audit = audit
        # Where its audit lines go: the substrate appends them on its lanes, off the loop
        # (ADR 0128); without it, here.
        self._record = record if record is not None else audit.append
        self._max_restarts = max_restarts
        self._period_s = period_s
        self._shutdown_s = shutdown_s
        self._queue: FairQueue[Serve] = FairQueue(tenants.weight if tenants else None)
        n = spec.concurrency
        self._slots = {slot_id(spec.name, i, n, route_limits): _Slot() for i in range(n)}
        self._lanes: Counter[str] = Counter()  # requests in flight per limited route
        self._supervisor: SupervisorRef | None = None
        self._finding = False
        self._gave_up = False
        self._last_exit: str | None = None  # why the previous worker incarnation exited
        self.restarts = 0

    async def on_start(self) -> None:
        workers = [
            ChildSpec(
                id=child, start=self._spec.factory, restart="permanent", shutdown=self._shutdown_s
            )
            for child in self._slots
        ]
        intensity, period = self._max_restarts, self._period_s
        self._supervisor = await self.system.start_actor(
            lambda: Supervisor(workers, intensity=intensity, period=period),
            parent=self.ref,
            link=True,
        )
        await self._find_worker(_FindWorker())

    def _adopt(self, slot: _Slot, worker: ActorRef[Work]) -> None:
        slot.worker = worker
        slot.monitor = self.monitor(worker)
        if self._last_exit is not None:
            self.restarts += 1
            self._record(
                AuditEvent("provider.restarted", provider=self._spec.name, reason=self._last_exit)
            )
            self._last_exit = None

    @handler
    async def _find_worker(self, msg: _FindWorker) -> None:
        """Adopt the supervisor's current incarnation of every slot without one; retry
        while one restarts."""
        self._finding = False
        if self._gave_up or self._supervisor is None:
            return
        if all(slot.worker is not None for slot in self._slots.values()):
            return
        try:
            children = await which_children(self._supervisor, timeout=5.0)
        except LightflowError:
            return  # the supervisor is gone; its Exit tells us why
        running = {c.id: c.ref for c in children if c.status == "running"}
        missing = False
        for child, slot in self._slots.items():
            if slot.worker is not None:
                continue
            ref = running.get(child)
            if ref is None or not ref.alive:
                missing = True
                continue
            self._adopt(slot, ref)  # type: ignore[arg-type]
        if missing:
            self._finding = True
            self.send_after(_RETRY_S, self.ref, _FindWorker())
        self._pump()

    @handler
    def serve(self, msg: Serve) -> None:
        if self._gave_up:
            msg.reply_to.tell(Served(msg.token, self._spec.name, self._down_failure()))
            return
        self._queue.push(msg.request.tenant, msg)
        self._pump()

    @handler
    def wake(self, msg: _Pump) -> None:
        self._wake_at = None
        self._pump()

    def _pump(self) -> None:
        """Start queued requests on free slots, tenants in turn (FIFO within one), passing
        over requests whose route is at its limit and tenants out of provider calls (they
        keep their place)."""
        if not self._queue:
            return
        free = [s for s in self._slots.values() if s.worker is not None and s.current is None]
        if not free:
            return
        ledger, lanes = self._tenants, self._lanes
        waits: dict[str, float] = {}

        def ready(tenant: str) -> bool:
            if ledger is None:
                return True
            wait = waits.get(tenant)
            if wait is None:
                wait = waits[tenant] = ledger.provider_wait(tenant)
            return wait <= 0

        def servable(tenant: str, serve: Serve) -> bool:
            return (
                serve.lane is None
                or serve.lane_limit is None
                or (lanes[serve.lane] < serve.lane_limit)
            )

        while free:
            popped = self._queue.pop(servable, ready)
            if popped is None:
                break
            tenant, serve = popped
            if ledger is not None:
                ledger.provider_call(tenant)
                waits.pop(tenant, None)  # its bucket changed: ask again
                self._held.discard(tenant)
            if serve.lane is not None and serve.lane_limit is not None:
                lanes[serve.lane] += 1
            slot = free.pop()
            slot.current = serve
            assert slot.worker is not None
            slot.worker.tell(Work(serve.token, serve.request, self.ref))
        if ledger is not None:
            self._hold(ledger, {t: w for t, w in waits.items() if w > 0})

    def _hold(self, ledger: TenantLedger, waits: dict[str, float]) -> None:
        """Record the tenants that start waiting for their budget, and wake up when the
        first of them may call again."""
        waiting = self._queue.waiting()
        for tenant, wait in waits.items():
            if tenant not in self._held and waiting.get(tenant):
                self._held.add(tenant)
                ledger.provider_throttled(tenant, self._spec.name, wait)
        if not waits:
            return
        now = self.system.clock.now()
        due = now + min(waits.values())
        if self._wake_at is None or due < self._wake_at:
            self._wake_at = due
            self.send_after(due - now, self.ref, _Pump())

    def _finish(self, slot: _Slot) -> Serve | None:
        serve, slot.current = slot.current, None
        if serve is not None and serve.lane is not None and serve.lane_limit is not None:
            self._lanes[serve.lane] -= 1
        return serve

    @handler
    def work_done(self, msg: WorkDone) -> None:
        slot = next(
            (s for s in self._slots.values() if s.current and s.current.token == msg.token), None
        )
        if slot is None:
            return  # a late answer from a worker incarnation that already exited
        current = self._finish(slot)
        assert current is not None
        current.reply_to.tell(Served(msg.token, self._spec.name, msg.outcome))
        self._pump()

    @handler
    def worker_down(self, msg: Down) -> None:
        slot = next((s for s in self._slots.values() if s.monitor == msg.monitor), None)
        if slot is None:
            return
        slot.worker, slot.monitor = None, None
        in_flight = self._finish(slot)
        reason = format_reason(msg.reason)
        if is_crash(msg.reason):
            self._record(
                AuditEvent(
                    "provider.crashed",
                    provider=self._spec.name,
                    id=in_flight.request.id if in_flight else None,
                    reason=reason,
                )
            )
            if in_flight is not None:
                failure = Failure(
                    "provider_crashed", f"provider {self._spec.name!r} crashed: {reason}"
                )
                in_flight.reply_to.tell(Served(in_flight.token, self._spec.name, failure))
        elif in_flight is not None:
            if self._gave_up:
                in_flight.reply_to.tell(
                    Served(in_flight.token, self._spec.name, self._down_failure())
                )
            else:
                self._queue.push_front(in_flight.request.tenant, in_flight)
        self._last_exit = reason
        if not self._gave_up and not self._finding:
            self._finding = True
            self.ref.tell(_FindWorker())
        self._pump()

    @handler
    def exited(self, msg: Exit) -> None:
        if (
            self._supervisor is not None
            and msg.sender == self._supervisor
            and msg.reason == GAVE_UP
        ):
            # The worker's supervisor exceeded its restart intensity.
            self._supervisor = None
            self._gave_up = True
            self._record(
                AuditEvent(
                    "provider.gave_up",
                    provider=self._spec.name,
                    reason=f"{format_reason(msg.reason)}: more than {self._max_restarts} "
                    f"restarts in {self._period_s}s",
                )
            )
            for _, waiting in self._queue.drain():
                waiting.reply_to.tell(Served(waiting.token, self._spec.name, self._down_failure()))
            return
        # Our parent (the substrate) or the supervisor is being shut down: stop too (the
        # link takes the supervisor and its worker along).
        self.stop(msg.reason)

    def _down_failure(self) -> Failure:
        return Failure(
            "provider_crashed",
            f"provider {self._spec.name!r} crashed more than {self._max_restarts} times in "
            f"{self._period_s}s and is down; fix it and restart the substrate",
        )
