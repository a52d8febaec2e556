"""The runs page's action desk: cancel, retry and create asked from a page, done by the
runs host.

Like the observer's desk: a live view's callbacks cannot await, so the view (having
checked the operator token) broadcasts a ``RunAction`` on ``ACTIONS_TOPIC``; ``RunsDesk``
starts one ``RunActionRunner`` per request, which asks the runs host exactly what
``POST /runs/{id}/cancel``, ``/retry`` and ``POST /runs`` ask, and publishes the
``RunActionOutcome`` on the requesting session's own topic.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Final, Literal

import msgspec

from lightflow_actors.flow import RunView
from lightflow_actors.kernel import (
    Actor,
    ActorExited,
    ActorNotAlive,
    ActorRef,
    AskTimeout,
    LightflowError,
    Refused,
    handler,
)
from lightflow_actors.live import Delivery, Publish, SubscribeTopic
from lightflow_actors.runs import CancelRun, CreateRun, RetryRun, RunsPort

ACTIONS_TOPIC: Final = "runs:actions"

ActionKind = Literal["cancel", "retry", "create"]


def session_topic(session_id: str) -> str:
    """The topic a runs page session receives its action outcomes on."""
    return f"runs:session:{session_id}"


class RunAction(msgspec.Struct, frozen=True, kw_only=True):
    """Do ``kind`` (on ``run_id``; a create runs ``workflow`` with ``inputs`` and
    ``preset``); answer ``ref`` on ``reply_topic``."""

    ref: str
    reply_topic: str
    kind: ActionKind
    run_id: str = ""
    workflow: str = ""
    inputs: bytes = b"{}"
    preset: str | None = None


class RunActionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How request ``ref`` ended; ``run_id`` is the run it made or changed."""

    ref: str
    ok: bool
    text: str
    run_id: str | None = None


class Start(msgspec.Struct, frozen=True):
    """Start now (sent once by the desk right after the spawn)."""


class RunActionRunner(Actor[Start]):
    """Runs one request to its end, publishes the outcome, and stops."""

    def __init__(
        self,
        request: RunAction,
        port: RunsPort,
        pubsub: Callable[[], ActorRef[Publish | SubscribeTopic]],
    ) -> None:
        self.request = request
        self.port = port
        self.pubsub = pubsub

    @handler
    async def start(self, msg: Start) -> None:
        request = self.request
        what = request.kind if request.kind != "create" else f"run of {request.workflow}"
        try:
            view = await self._perform(request)
            outcome = RunActionOutcome(
                ref=request.ref, ok=True, text=_describe(request, view), run_id=view.run_id
            )
        except Refused as refusal:
            outcome = RunActionOutcome(
                ref=request.ref, ok=False, text=f"{what} refused: {refusal.message}"
            )
        except (AskTimeout, ActorExited, ActorNotAlive) as exc:
            text = f"{what}: the runs host did not answer ({exc}); try again"
            outcome = RunActionOutcome(ref=request.ref, ok=False, text=text)
        except (LightflowError, OSError) as exc:
            outcome = RunActionOutcome(ref=request.ref, ok=False, text=f"{what} failed: {exc}")
        with contextlib.suppress(LookupError):
            self.pubsub().tell(Publish(request.reply_topic, outcome))
        self.stop()

    async def _perform(self, request: RunAction) -> RunView:
        if request.kind == "cancel":
            return await self.port.call(CancelRun(request.run_id, "cancelled from the runs page"))
        if request.kind == "retry":
            return await self.port.call(RetryRun(request.run_id))
        return await self.port.call(
            CreateRun(request.workflow, request.inputs, None, request.preset)
        )


def _describe(request: RunAction, view: RunView) -> str:
    if request.kind == "create":
        return f"created run {view.run_id} ({view.status})"
    if request.kind == "retry":
        return f"retrying {view.run_id} from its failure ({view.status})"
    return f"cancelled {view.run_id} ({view.status})"


class RunsDesk(Actor[Delivery]):
    """Subscribes to ``ACTIONS_TOPIC``; one ``RunActionRunner`` child per request."""

    def __init__(
        self, pubsub: Callable[[], ActorRef[Publish | SubscribeTopic]], port: RunsPort
    ) -> None:
        self.pubsub = pubsub
        self.port = port

    def on_start(self) -> None:
        self.pubsub().tell(SubscribeTopic(ACTIONS_TOPIC, self.ref))

    @handler
    def delivery(self, msg: Delivery) -> None:
        request = msg.message
        if not isinstance(request, RunAction):
            return
        runner = self.spawn(functools.partial(RunActionRunner, request, self.port, self.pubsub))
        runner.tell(Start())
