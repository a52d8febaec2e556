"""`RunsPort`: the handle every runs surface (HTTP routes, MCP tools, CLI verbs) holds.

It finds the runs host by its registered name (a restarted host has a new ref) and sends
it typed asks, one `await ref.ask(msg)` each. Starting the host is the composition root's
job (`host.RunsHosting`, a `RunsPort` that also starts the subtree); a surface only needs
this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lightflow_actors.kernel import ActorRef, ActorSystem, Ask
from lightflow_actors.tenants import TenantLedger

from ._errors import HostNotRunning
from ._host import HostNames
from ._messages import AwaitSettled, HostMessage, Read
from ._operations import RunsOperations

__all__ = ["RunsPort"]

T = TypeVar("T")


class RunsPort:
    """Typed asks to the runs host of one subtree (`names`), once its system runs."""

    def __init__(self, names: HostNames, *, ask_timeout: float = 60.0) -> None:
        self.names = names
        self.ask_timeout = ask_timeout
        self._system: ActorSystem | None = None
        # The node's ledger, once started (`RunsHosting`): the surfaces refuse a create
        # past its budget from it before reading the request's body (ADR 0119).
        self.tenants: TenantLedger | None = None

    @property
    def system(self) -> ActorSystem:
        if self._system is None or not self._system.running:
            raise HostNotRunning("the runs host is not running; start the server first")
        return self._system

    def host(self) -> ActorRef[HostMessage]:
        ref = self.system.whereis(self.names.host)
        if ref is None:
            raise HostNotRunning(
                "the runs host is not running (it may be restarting); try again in a moment"
            )
        return ref  # type: ignore[return-value]

    async def call(self, message: Ask[T]) -> T:
        """Ask the host and wait for its answer; raises its refusal or failure.

        `AwaitSettled` waits as long as the run takes; any other ask at most `ask_timeout`
        seconds (then `AskTimeout`).
        """
        timeout = None if isinstance(message, AwaitSettled) else self.ask_timeout
        return await self.host().ask(message, timeout=timeout)

    async def read(self, label: str, op: Callable[[RunsOperations], T]) -> T:
        """Run a read-only operation on the host's worker threads."""
        return await self.call(Read(label, op))
