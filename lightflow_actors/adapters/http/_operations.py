"""Operator actions (stop, restart, kill) run by a short-lived ``OperationRunner`` actor.

Stopping an actor can take its whole shutdown timeout, and restarting goes through its
supervisor, which may itself be busy. The gateway must keep answering meanwhile, so it
starts one runner per action (a child of the gateway, visible in the tree while it works)
and answers at once with the runner's ref; the route then asks the runner to ``Perform``
the action, and the runner's handler returns what happened. The asker waits on the runner,
not the gateway: an action that kills or restarts the gateway itself (or stops the whole
tree, runner included, once the action is done) still reaches its client.
"""

from __future__ import annotations

from typing import Never

import msgspec

from ...kernel import (
    SHUTDOWN,
    Actor,
    ActorRef,
    Ask,
    AskTimeout,
    LightflowError,
    format_reason,
    handler,
)
from ..operator_api import Action, ActionResult
from ._errors import OperatorRefused
from ._supervision import Supervised, restart_supervised, stop_supervised

UNCLAIMED_S = 60.0
"""Seconds a runner waits to be asked to ``Perform`` before it stops (its client went
away between the gateway's answer and the ask)."""


class Perform(Ask[ActionResult], frozen=True):
    """Do the action now and answer what happened; refused (``OperatorRefused``) when it
    could not be done. The runner stops after it."""


class _Unclaimed(msgspec.Struct, frozen=True):
    """Nobody asked for the action in time: stop without doing it."""


class OperationRunner(Actor[Perform | _Unclaimed]):
    """Performs one action on ``target`` when asked, answers with the result, and stops."""

    def __init__(
        self,
        action: Action,
        target: ActorRef[Never],
        supervised: Supervised | None,
        timeout: float | None,
    ) -> None:
        self.action = action
        self.target = target
        self.supervised = supervised
        self.timeout = timeout

    def on_start(self) -> None:
        self.send_after(UNCLAIMED_S, self.ref, _Unclaimed())

    @handler
    async def perform(self, msg: Perform) -> ActionResult:
        self.stop()  # once this handler returns: one action per runner
        try:
            return await self._run()
        except AskTimeout as exc:
            raise OperatorRefused(
                f"{self.action} of actor {self.target.id} timed out: {exc}", "unavailable"
            ) from None
        except LightflowError as exc:
            raise OperatorRefused(
                f"cannot {self.action} actor {self.target.id}: {exc}", "conflict"
            ) from None

    @handler
    def unclaimed(self, msg: _Unclaimed) -> None:
        self.stop()

    async def _run(self) -> ActionResult:
        system = self.system
        target = self.target
        if self.action == "kill":
            system.kill(target)
            reason = await system.wait_exit(target)
            return self._result(format_reason(reason), None)
        if self.action == "stop":
            if self.supervised is not None:
                await stop_supervised(system, self.supervised, target)
            else:
                timeout = self.timeout if self.timeout is not None else system.default_stop_timeout
                await system.terminate(target, SHUTDOWN, timeout)
            ended = target.exit_reason
            return self._result(format_reason(ended) if ended is not None else None, None)
        # restart: only through the supervisor, which keeps the child's spec.
        assert self.supervised is not None
        new = await restart_supervised(system, self.supervised, target)
        ended = target.exit_reason
        return self._result(format_reason(ended) if ended is not None else None, new.id)

    def _result(self, exit_reason: str | None, new_id: int | None) -> ActionResult:
        return ActionResult(
            id=self.target.id, action=self.action, exit_reason=exit_reason, new_id=new_id
        )
