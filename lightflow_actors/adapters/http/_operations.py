"""Operator actions (stop, restart, kill) run by a short-lived ``OperationRunner`` actor.

Stopping an actor can take its whole shutdown timeout, and restarting goes through its
supervisor, which may itself be busy. The gateway must keep answering meanwhile, so it
starts one runner per action (a child of the gateway, visible in the tree while it works)
and replies at once with a future the route awaits.
"""

from __future__ import annotations

import asyncio
from typing import Never

import msgspec

from ...kernel import (
    SHUTDOWN,
    Actor,
    ActorRef,
    AskTimeout,
    ExitReason,
    LightflowError,
    format_reason,
    handler,
)
from ._records import Action, ActionResult, Refusal
from ._supervision import Supervised, restart_supervised, stop_supervised


class Perform(msgspec.Struct, frozen=True):
    """Do the action now (sent once by the gateway right after the spawn)."""


class OperationRunner(Actor[Perform]):
    """Performs one action on ``target`` and resolves ``done`` with the outcome."""

    def __init__(
        self,
        action: Action,
        target: ActorRef[Never],
        supervised: Supervised | None,
        timeout: float | None,
        done: asyncio.Future[ActionResult | Refusal],
    ) -> None:
        self.action = action
        self.target = target
        self.supervised = supervised
        self.timeout = timeout
        self.done = done

    @handler
    async def perform(self, msg: Perform) -> None:
        try:
            outcome = await self._run()
        except AskTimeout as exc:
            outcome = Refusal(503, f"{self.action} of actor {self.target.id} timed out: {exc}")
        except LightflowError as exc:
            outcome = Refusal(409, f"cannot {self.action} actor {self.target.id}: {exc}")
        if not self.done.done():
            self.done.set_result(outcome)
        self.stop()

    def on_stop(self, reason: ExitReason) -> None:
        if not self.done.done():
            self.done.set_result(
                Refusal(503, f"the {self.action} of actor {self.target.id} was interrupted")
            )

    async def _run(self) -> ActionResult | Refusal:
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
