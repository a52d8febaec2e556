"""How the routes reach the gateway actor: by its registered name, started on first use.

The gateway runs under its own supervisor, so a crashed gateway is restarted with a new
ref; looking it up by name on each request picks the new one. When the app is mounted in a
host service whose lifespan never reaches ours, the first request starts the gateway.
A request the gateway refuses raises its ``OperatorRefused``; a gateway that does not
answer is ``Unavailable`` (503). ``perform`` runs one operator action to its end: the
action routes and the observer's buttons both go through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ...kernel import (
    ActorExited,
    ActorNotAlive,
    ActorRef,
    ActorSystem,
    Ask,
    AskTimeout,
    LightflowError,
    Refused,
)
from ..operator_api import Action, ActionResult
from ._errors import Unavailable
from ._gateway import Gateway
from ._messages import GatewayMessage, Operate
from ._operations import Perform

R = TypeVar("R")

OPERATION_WAIT = 60.0
"""Seconds an action is waited for (a stop may take its whole shutdown timeout)."""


GatewayStarter = Callable[[ActorSystem], Awaitable[None]]


class GatewayLink:
    """Finds (or starts) the gateway of ``system`` registered as ``name`` and asks it."""

    def __init__(
        self, system: ActorSystem, name: str, start: GatewayStarter, ask_timeout: float
    ) -> None:
        self.system = system
        self.name = name
        self._start = start
        self.ask_timeout = ask_timeout
        self._starting: asyncio.Lock | None = None

    async def ref(self) -> ActorRef[GatewayMessage]:
        """The live gateway; started now if its supervisor is gone, waited for while its
        supervisor restarts it (up to ``ask_timeout`` seconds of system time)."""
        system = self.system
        if not system.running:
            raise Unavailable("the actor system is not running; the server is starting or stopping")
        if system.whereis(self.name) is None:
            if self._starting is None:
                self._starting = asyncio.Lock()
            async with self._starting:
                deadline = system.clock.now() + self.ask_timeout
                pause = 0.001
                while system.whereis(self.name) is None:
                    await self._start(system)  # a no-op while the supervisor runs
                    if system.whereis(self.name) is not None:
                        break
                    if system.clock.now() >= deadline:
                        raise Unavailable(
                            f"the gateway actor {self.name!r} is not running and did not come "
                            f"back within {self.ask_timeout} s; see the server log"
                        )
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.05)
        return system.lookup(self.name, Gateway)

    async def ask(self, message: Ask[R], timeout: float | None = None) -> R:
        """Ask the gateway; its refusal is raised as it is, a timeout or a gateway crash
        becomes 503 ``Unavailable``."""
        ref = await self.ref()
        try:
            return await ref.ask(message, timeout=timeout or self.ask_timeout)
        except Refused:
            raise
        except AskTimeout as exc:
            raise Unavailable(f"the gateway did not answer in time: {exc}") from None
        except (ActorExited, ActorNotAlive) as exc:
            raise Unavailable(f"the gateway stopped while answering: {exc}; retry") from None
        except LightflowError as exc:
            raise Unavailable(str(exc)) from None

    async def perform(
        self, actor_id: int, action: Action, timeout: float | None = None
    ) -> ActionResult:
        """Stop, restart or kill actor ``actor_id`` through the gateway and wait for the end.

        Raises the ``OperatorRefused`` of a refusal (``not_found``: no such actor,
        ``conflict``: it does not apply), or ``Unavailable`` when the action is still under
        way after ``OPERATION_WAIT`` seconds or its runner was stopped.
        """
        operation = await self.ask(Operate(actor_id, action, timeout))
        try:
            return await operation.runner.ask(Perform(), timeout=OPERATION_WAIT)
        except AskTimeout:
            raise Unavailable(
                f"the {action} of actor {actor_id} is still under way after "
                f"{OPERATION_WAIT:.0f} s; follow it with GET /actors/{actor_id}"
            ) from None
        except (ActorExited, ActorNotAlive):
            raise Unavailable(f"the {action} of actor {actor_id} was interrupted") from None
