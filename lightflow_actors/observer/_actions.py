"""The observer's action desk: stop, restart and kill asked from a page, done by the gateway.

A live view's callbacks cannot await, so the observer view asks for an action with a
``Broadcast`` of an ``ActionRequest`` on ``ACTIONS_TOPIC`` of its own hub (the view has
checked the operator token first). ``ActionDesk`` is the one subscriber: it starts an
``ActionRunner`` per request, which runs it with ``GatewayLink.perform`` (exactly what
``POST /actors/{id}/{action}`` runs) and publishes the ``ActionOutcome`` on the requesting
session's own topic. The observer's hub has no broker adapter, so a request never leaves
this node (an actor id means nothing on another one).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import msgspec

from lightflow_actors.adapters.http import Action, ActionResult, GatewayLink, HttpError
from lightflow_actors.kernel import Actor, ActorRef, Refused, handler
from lightflow_actors.live import Delivery, Publish, SubscribeTopic

ACTIONS_TOPIC = "observer:actions"
"""The topic the desk listens on."""


def session_topic(session_id: str) -> str:
    """The topic an observer session receives its action outcomes on."""
    return f"observer:session:{session_id}"


class ActionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Do ``action`` on actor ``actor``; answer ``ref`` on ``reply_topic``."""

    ref: str
    reply_topic: str
    actor: int
    action: Action


class ActionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How request ``ref`` ended: ``ok`` and a sentence for the page."""

    ref: str
    ok: bool
    text: str


def describe(result: ActionResult) -> str:
    """``kill #12: killed``, ``restart #13: shutdown → new actor #40``."""
    text = f"{result.action} #{result.id}: {result.exit_reason or 'done'}"
    if result.new_id is not None:
        text += f" → new actor #{result.new_id}"
    return text


class Run(msgspec.Struct, frozen=True):
    """Start now (sent once by the desk right after the spawn)."""


class ActionRunner(Actor[Run]):
    """Runs one request to its end, publishes the outcome, and stops."""

    def __init__(
        self,
        request: ActionRequest,
        link: GatewayLink,
        pubsub: Callable[[], ActorRef[Publish | SubscribeTopic]],
    ) -> None:
        self.request = request
        self.gateway = link
        self.pubsub = pubsub

    @handler
    async def run(self, msg: Run) -> None:
        request = self.request
        try:
            result = await self.gateway.perform(request.actor, request.action)
            outcome = ActionOutcome(ref=request.ref, ok=True, text=describe(result))
        except (HttpError, Refused) as error:
            outcome = ActionOutcome(
                ref=request.ref,
                ok=False,
                text=f"{request.action} #{request.actor} refused: {error.message}",
            )
        # No pubsub (the hub restarts): the page rejoins, and its tree shows what happened.
        with contextlib.suppress(LookupError):
            self.pubsub().tell(Publish(request.reply_topic, outcome))
        self.stop()


class ActionDesk(Actor[Delivery]):
    """Subscribes to ``ACTIONS_TOPIC``; one ``ActionRunner`` child per request, so a slow
    stop never holds up the next request (and each one shows in the tree while it runs)."""

    def __init__(
        self, pubsub: Callable[[], ActorRef[Publish | SubscribeTopic]], link: GatewayLink
    ) -> None:
        self.pubsub = pubsub
        self.gateway = link

    def on_start(self) -> None:
        self.pubsub().tell(SubscribeTopic(ACTIONS_TOPIC, self.ref))

    @handler
    def delivery(self, msg: Delivery) -> None:
        request = msg.message
        if not isinstance(request, ActionRequest):
            return  # only our own view publishes here; anything else is not ours to run
        runner = self.spawn(functools.partial(ActionRunner, request, self.gateway, self.pubsub))
        runner.tell(Run())
