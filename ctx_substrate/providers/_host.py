"""`ProviderHost`: feeds one provider's worker a request at a time, under a real `Supervisor`.

The worker runs as the single `permanent` child of a `lightflow_actors.supervision`
`Supervisor` (restart intensity `max_restarts` in `period_s`). The host keeps the queue and
hands the worker one request at a time, and monitors each worker incarnation, so when a
worker exits it knows exactly which request was in flight:

- the worker crashed (an exception): that request is answered `provider_crashed`;
- it was stopped or killed from outside (an operator, or the system shutting down): the
  request goes back to the head of the queue (on disk it stays claimed, so if the whole
  substrate is going down it is served again after the restart).

The supervisor restarts the worker and the host sends the queued requests to the new
incarnation, found with `which_children`. When the supervisor gives up (intensity exceeded,
it exits with `GAVE_UP`), the provider stays down: everything queued or arriving later is
answered `provider_crashed` until the substrate is restarted. Nothing is lost, nothing is
answered twice.
"""

from __future__ import annotations

from collections import deque

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

from .._audit import AuditEvent, AuditLog
from ._protocol import Failure, Outcome, ProviderRequest, ProviderSpec, Work, WorkDone

__all__ = ["ProviderHost", "Serve", "Served"]

_WORKER = "worker"
_RETRY_S = 0.01


class Served(msgspec.Struct, frozen=True):
    token: int
    provider: str
    outcome: Outcome


class Serve(msgspec.Struct, frozen=True):
    token: int
    request: ProviderRequest
    reply_to: ActorRef[Served]


class _FindWorker(msgspec.Struct, frozen=True):
    pass


class ProviderHost(Actor[Serve | WorkDone | Down | Exit | _FindWorker]):
    trap_exit = True

    def __init__(
        self,
        spec: ProviderSpec,
        audit: AuditLog,
        *,
        max_restarts: int,
        period_s: float,
        shutdown_s: float,
    ) -> None:
        self._spec = spec
        self._audit = audit
        self._max_restarts = max_restarts
        self._period_s = period_s
        self._shutdown_s = shutdown_s
        self._queue: deque[Serve] = deque()
        self._current: Serve | None = None
        self._supervisor: SupervisorRef | None = None
        self._worker: ActorRef[Work] | None = None
        self._monitor: int | None = None
        self._finding = False
        self._gave_up = False
        self._last_exit: str | None = None  # why the previous worker incarnation exited
        self.restarts = 0

    async def on_start(self) -> None:
        worker = ChildSpec(
            id=_WORKER, start=self._spec.factory, restart="permanent", shutdown=self._shutdown_s
        )
        intensity, period = self._max_restarts, self._period_s
        self._supervisor = await self.system.start_actor(
            lambda: Supervisor([worker], intensity=intensity, period=period),
            parent=self.ref,
            link=True,
        )
        await self._find_worker(_FindWorker())

    def _adopt(self, worker: ActorRef[Work]) -> None:
        self._worker = worker
        self._monitor = self.monitor(worker)
        if self._last_exit is not None:
            self.restarts += 1
            self._audit.append(
                AuditEvent("provider.restarted", provider=self._spec.name, reason=self._last_exit)
            )
            self._last_exit = None

    @handler
    async def _find_worker(self, msg: _FindWorker) -> None:
        """Look up the supervisor's current worker incarnation; retry while it restarts."""
        self._finding = False
        if self._worker is not None or self._gave_up or self._supervisor is None:
            return
        try:
            children = await which_children(self._supervisor, timeout=5.0)
        except LightflowError:
            return  # the supervisor is gone; its Exit tells us why
        ref = next((c.ref for c in children if c.id == _WORKER and c.status == "running"), None)
        if ref is None or not ref.alive:
            self._finding = True
            self.send_after(_RETRY_S, self.ref, _FindWorker())
            return
        self._adopt(ref)  # type: ignore[arg-type]
        self._pump()

    @handler
    def serve(self, msg: Serve) -> None:
        if self._gave_up:
            msg.reply_to.tell(Served(msg.token, self._spec.name, self._down_failure()))
            return
        self._queue.append(msg)
        self._pump()

    def _pump(self) -> None:
        if self._current is None and self._queue and self._worker is not None:
            self._current = self._queue.popleft()
            self._worker.tell(Work(self._current.token, self._current.request, self.ref))

    @handler
    def work_done(self, msg: WorkDone) -> None:
        current = self._current
        if current is None or current.token != msg.token:
            return  # a late answer from a worker incarnation that already exited
        self._current = None
        current.reply_to.tell(Served(msg.token, self._spec.name, msg.outcome))
        self._pump()

    @handler
    def worker_down(self, msg: Down) -> None:
        if msg.monitor != self._monitor:
            return
        self._worker, self._monitor = None, None
        in_flight, self._current = self._current, None
        reason = format_reason(msg.reason)
        if is_crash(msg.reason):
            self._audit.append(
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
            self._queue.appendleft(in_flight)
        self._last_exit = reason
        if not self._gave_up and not self._finding:
            self._finding = True
            self.ref.tell(_FindWorker())

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
            self._audit.append(
                AuditEvent(
                    "provider.gave_up",
                    provider=self._spec.name,
                    reason=f"{format_reason(msg.reason)}: more than {self._max_restarts} "
                    f"restarts in {self._period_s}s",
                )
            )
            while self._queue:
                waiting = self._queue.popleft()
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
