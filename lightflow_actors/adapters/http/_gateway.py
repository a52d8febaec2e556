"""The gateway actor: the one place HTTP requests enter the actor system (DESIGN §9).

Routes decode their input, ``ask`` the gateway a typed message, and encode the reply. The
gateway reads the system (snapshots, events), and hands slow work to children of its own:
an ``OperationRunner`` per action, an ``EventStream`` per SSE connection. So every effect
of HTTP on the system shows in the supervision tree, under the gateway.
"""

from __future__ import annotations

import asyncio
import functools

import msgspec

from ...kernel import Actor, ActorRef, handler
from ...supervision import subsystems
from ..operator_api import ROOT_DOWN, ActorDetail, Readiness, SystemSummary, TreePage
from ._errors import OperatorRefused
from ._events import DEFAULT_MAX_PENDING, CloseStream, EventStream, StreamItem
from ._messages import (
    CloseStreams,
    GatewayMessage,
    GetActor,
    GetReadiness,
    GetSummary,
    GetTree,
    OpenStream,
    Operate,
    Operation,
    StreamHandle,
)
from ._metrics import RateWindow, summarize
from ._operations import OperationRunner
from ._supervision import supervised_by, tree_nodes
from ._tree import select

GATEWAY_NAME = "lightflow.http.gateway"


class Gateway(Actor[GatewayMessage]):
    """Answers the operator API; see ``lightflow_actors.adapters.http`` for the routes.

    ``name``: the name it registers under when it starts (routes look it up by name, so a
    restarted gateway is found again). ``rate_window``: seconds of system time the
    ``messages_per_s`` figure covers. ``max_stream_pending``: events an SSE client may fall
    behind before it is cut off.
    """

    def __init__(
        self,
        name: str = GATEWAY_NAME,
        *,
        rate_window: float = 10.0,
        max_stream_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.name = name
        self.rates = RateWindow(rate_window)
        self.max_stream_pending = max_stream_pending
        self.streams: set[ActorRef[CloseStream]] = set()

    def on_start(self) -> None:
        self.system.register(self.name, self.ref)

    @handler
    def ready(self, msg: GetReadiness) -> Readiness:
        system = self.system
        states = subsystems(system)
        down = [s.id for s in states if s.status != "running"]
        root = system.root
        if root is not None and not root.alive:
            # The root supervisor exited (it gave up, or was stopped from code): no
            # subsystem can come back, so the node is not ready whatever is left of it.
            down.insert(0, ROOT_DOWN)
        return Readiness(
            status="not_ready" if down else "ready",
            system=system.name,
            subsystems=states,
            down=down,
        )

    @handler
    def summary(self, msg: GetSummary) -> SystemSummary:
        return summarize(self.system, tree_nodes(self.system), self.rates)

    @handler
    def tree(self, msg: GetTree) -> TreePage:
        return select(tree_nodes(self.system), msg.query)

    @handler
    def actor(self, msg: GetActor) -> ActorDetail:
        system = self.system
        ref = system.get(msg.id)
        if ref is None:
            raise self._unknown(msg.id)
        info = system.info(ref)
        place = supervised_by(system, ref)
        events = system.events(actor=msg.id, limit=msg.events) if msg.events else []
        return ActorDetail(
            **msgspec.structs.asdict(info),
            supervisor=place.supervisor if place is not None else None,
            child_id=place.child_id if place is not None else None,
            events=events,
        )

    @handler
    def operate(self, msg: Operate) -> Operation:
        """Check the action applies and start its runner; the route asks the runner next."""
        system = self.system
        target = system.get(msg.id)
        if target is None:
            raise self._unknown(msg.id)
        root = system.root
        if root is not None and target.id == root.id:
            # As in OTP, the root's end is the node's end: that is the server's own
            # shutdown (SIGTERM), not an operator action that leaves an empty process
            # answering HTTP.
            raise OperatorRefused(
                f"actor {msg.id} is the root supervisor: a {msg.action} would end every "
                f"subsystem of this node; stop the server itself (SIGTERM) instead",
                "conflict",
            )
        place = supervised_by(system, target)
        if msg.action == "restart" and place is None:
            info = system.info(target)
            # Top-level actors and actors adopted by a supervisor have no child spec.
            raise OperatorRefused(
                f"actor {msg.id} ({info.kind}) was not started from a supervisor's child "
                f"spec, so nothing can restart it; stop or kill it instead",
                "conflict",
            )
        # Not linked: restarting the gateway itself through the API must not kill the runner.
        runner = self.spawn(
            functools.partial(OperationRunner, msg.action, target, place, msg.timeout)
        )
        return Operation(id=msg.id, action=msg.action, runner=runner)

    @handler
    def open_stream(self, msg: OpenStream) -> StreamHandle:
        outbox: asyncio.Queue[StreamItem] = asyncio.Queue()
        # Linked: a crashed gateway takes its streams down; their clients reconnect.
        stream = self.spawn(
            functools.partial(
                EventStream, outbox, msg.last_event_id, max_pending=self.max_stream_pending
            ),
            link=True,
        )
        self.streams = {s for s in self.streams if s.alive}
        self.streams.add(stream)
        return StreamHandle(stream=stream, outbox=outbox)

    @handler
    async def close_streams(self, msg: CloseStreams) -> int:
        open_streams = [s for s in self.streams if s.alive]
        self.streams.clear()
        for stream in open_streams:
            stream.tell(CloseStream())
        for stream in open_streams:
            await self.system.wait_exit(stream)
        return len(open_streams)

    def _unknown(self, actor_id: int) -> OperatorRefused:
        gone = [e for e in self.system.events(actor=actor_id, limit=0) if e.kind == "exited"]
        if gone:
            return OperatorRefused(
                f"actor {actor_id} has exited ({gone[-1].reason}); it is no longer live",
                "not_found",
            )
        return OperatorRefused(f"no live actor with id {actor_id}", "not_found")
