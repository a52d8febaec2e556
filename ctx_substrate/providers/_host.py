"""`ProviderHost`: runs one provider's worker, serves requests one at a time, restarts crashes.

The host keeps the queue of requests itself and hands the worker one at a time, so when the
worker crashes it knows exactly which request was in flight: that one is answered with a
`provider_crashed` error, the worker is restarted, and the queued requests go to the new
worker. Nothing is lost and nothing is answered twice. Restarts are bounded (OTP restart
intensity): more than `max_restarts` within `period_s` and the host gives up, answering
everything with `provider_crashed` until the substrate is restarted.

This is a small stand-in for `lightflow_actors.supervision`: once `Supervisor` lands, the
worker should become a permanent child under it, and the host keeps only the queue.
"""

from __future__ import annotations

from collections import deque

import msgspec

from lightflow_actors import Actor, ActorRef, Exit, format_reason, handler, is_crash

from .._audit import AuditEvent, AuditLog
from ._protocol import Failure, Outcome, ProviderRequest, ProviderSpec, Work, WorkDone

__all__ = ["ProviderHost", "Serve", "Served"]


class Served(msgspec.Struct, frozen=True):
    token: int
    provider: str
    outcome: Outcome


class Serve(msgspec.Struct, frozen=True):
    token: int
    request: ProviderRequest
    reply_to: ActorRef[Served]


class ProviderHost(Actor[Serve | WorkDone | Exit]):
    trap_exit = True

    def __init__(
        self, spec: ProviderSpec, audit: AuditLog, *, max_restarts: int, period_s: float
    ) -> None:
        self._spec = spec
        self._audit = audit
        self._max_restarts = max_restarts
        self._period_s = period_s
        self._queue: deque[Serve] = deque()
        self._current: Serve | None = None
        self._worker: ActorRef[Work] | None = None
        self._restarts: deque[float] = deque()
        self._gave_up = False
        self.restarts = 0

    def on_start(self) -> None:
        self._start_worker()

    def _start_worker(self) -> None:
        self._worker = self.spawn(self._spec.factory, link=True)

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
            return  # a late answer from a worker incarnation that already crashed
        self._current = None
        current.reply_to.tell(Served(msg.token, self._spec.name, msg.outcome))
        self._pump()

    @handler
    def exited(self, msg: Exit) -> None:
        if self._worker is None or msg.sender != self._worker:
            # Our parent (the substrate) is going down: go with it, taking the worker along.
            self.stop(msg.reason)
            return
        self._worker = None
        crashed, self._current = self._current, None
        reason = format_reason(msg.reason)
        if is_crash(msg.reason):
            self._audit.append(
                AuditEvent(
                    "provider.crashed",
                    provider=self._spec.name,
                    id=crashed.request.id if crashed else None,
                    reason=reason,
                )
            )
            if crashed is not None:
                failure = Failure(
                    "provider_crashed", f"provider {self._spec.name!r} crashed: {reason}; restarted"
                )
                crashed.reply_to.tell(Served(crashed.token, self._spec.name, failure))
        elif crashed is not None:
            # Stopped or killed from outside (an operator, or the system shutting down with
            # the worker first): the provider did not fail the request, so it goes back to
            # the head of the queue for the next worker. On disk it stays claimed, so if
            # the whole substrate is going down it is served again after the restart.
            self._queue.appendleft(crashed)
        now = self.system.clock.now()
        self._restarts.append(now)
        while self._restarts and self._restarts[0] < now - self._period_s:
            self._restarts.popleft()
        if len(self._restarts) > self._max_restarts:
            self._gave_up = True
            self._audit.append(
                AuditEvent(
                    "provider.gave_up",
                    provider=self._spec.name,
                    reason=f"more than {self._max_restarts} restarts in {self._period_s}s",
                )
            )
            while self._queue:
                waiting = self._queue.popleft()
                waiting.reply_to.tell(Served(waiting.token, self._spec.name, self._down_failure()))
            return
        self.restarts += 1
        self._start_worker()
        self._audit.append(
            AuditEvent("provider.restarted", provider=self._spec.name, reason=reason)
        )
        self._pump()

    def _down_failure(self) -> Failure:
        return Failure(
            "provider_crashed",
            f"provider {self._spec.name!r} crashed more than {self._max_restarts} times in "
            f"{self._period_s}s and is down; fix it and restart the substrate",
        )
