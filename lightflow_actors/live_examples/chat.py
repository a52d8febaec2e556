"""Chat room with presence: the history lives in the room (an actor), not in the sessions.

`Room` owns the last `KEEP` messages and numbers them. A session sends what its user
types to the room (`SendTo` a `Post`); the room appends it and publishes the numbered
`ChatMessage` on the room's topic, so every session (the sender included) shows it when
it arrives. A session mounts with the room's history, so a page whose session crashed
or was killed (or a newcomer) shows every message, the user's own included.

No message falls between the history and the subscription: after subscribing, the
session asks the room for what came after the last message it holds (`Resync`), and
the room answers with a `Backlog` published on the session's own topic, which the
session's subscription already receives (one mailbox each, in order). Messages are
merged by number, so one that arrives twice shows once.

Presence diffs arrive on the same topic; a session that crashes or closes leaves the
list by itself (its monitor fires). The composer's draft is kept in the state through
``lf-change``, so after a reconnect the form recovery restores it.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from lightflow_actors.kernel import Actor, ActorRef, Ask, handler
from lightflow_actors.live import (
    Delivery,
    LiveView,
    Params,
    PresenceDiff,
    PresenceEntry,
    PresenceState,
    Publish,
    PubSubMessage,
    Rendered,
    SendTo,
    SessionInfo,
    SubscribeTo,
    SubscribeTopic,
    Template,
    Track,
    Update,
    apply_diff,
    keyed,
)

ROOM = "chat:lobby"
KEEP = 100


class ChatMessage(msgspec.Struct, frozen=True):
    """A message as a room numbered it. `id` is a Lamport clock: one more than the highest
    id the room had seen; `origin` names the room (one per node in a cluster), so
    `(id, origin)` is unique and orders every message the same way on every node."""

    id: int
    author: str
    text: str
    origin: str = ""

    @property
    def key(self) -> tuple[int, str]:
        return (self.id, self.origin)


class Post(msgspec.Struct, frozen=True):
    """A user's message for the room to number, keep and publish."""

    author: str
    text: str


class Resync(msgspec.Struct, frozen=True):
    """Publish on `topic` a `Backlog` of the messages numbered `after` or above."""

    topic: str
    after: int


class Backlog(msgspec.Struct, frozen=True):
    messages: tuple[ChatMessage, ...]


class History(Ask[tuple[ChatMessage, ...]], frozen=True):
    """The messages the room keeps, oldest first."""


RoomMessage = Post | Resync | History


class Room(Actor[RoomMessage | Delivery]):
    """The chat room: numbers, keeps and publishes the messages. In a cluster each node
    has its room; each room also subscribes to the room's topic, so it keeps the messages
    posted on other nodes too (and its clock moves past theirs).

    ::

        room = await system.start_actor(lambda: Room(pubsub), name="examples.chat-room")
        room.tell(Post("ada", "hello"))        # every session on ROOM receives it
        await room.ask(History())              # (ChatMessage(1, "ada", "hello"),)
    """

    def __init__(
        self, pubsub: Callable[[], ActorRef[PubSubMessage] | None], *, keep: int = KEEP
    ) -> None:
        self.pubsub = pubsub
        self.keep = keep
        self.messages: tuple[ChatMessage, ...] = ()
        self.last = 0
        self.origin = ""

    def on_start(self) -> None:
        self.origin = self.system.random.randbytes(4).hex()
        pubsub = self.pubsub()
        if pubsub is not None:
            pubsub.tell(SubscribeTopic(ROOM, self.ref))

    @handler
    def post(self, msg: Post) -> None:
        self.last += 1
        message = ChatMessage(self.last, msg.author, msg.text, self.origin)
        self.messages = merge(self.messages, (message,), self.keep)
        self._publish(ROOM, message)

    @handler
    def delivery(self, msg: Delivery) -> None:
        message = as_chat_message(msg.message)
        if message is not None and message.origin != self.origin:  # posted on another node
            self.last = max(self.last, message.id)
            self.messages = merge(self.messages, (message,), self.keep)

    @handler
    def resync(self, msg: Resync) -> None:
        self._publish(msg.topic, Backlog(tuple(m for m in self.messages if m.id >= msg.after)))

    @handler
    def history(self, msg: History) -> tuple[ChatMessage, ...]:
        return self.messages

    def _publish(self, topic: str, message: object) -> None:
        pubsub = self.pubsub()
        if pubsub is not None:
            pubsub.tell(Publish(topic, message))


class Send(msgspec.Struct, frozen=True, tag="send"):
    text: str = ""


class Draft(msgspec.Struct, frozen=True, tag="draft"):
    text: str = ""


class ChatState(msgspec.Struct, frozen=True):
    session: str
    name: str
    draft: str = ""
    messages: tuple[ChatMessage, ...] = ()
    people: dict[str, tuple[PresenceEntry, ...]] = msgspec.field(default_factory=dict)


CHAT = Template(
    '<section class="chat"><h1>Chat</h1><p>You are <b id="me">{name}</b>.</p>'
    '<h2>Here now (<span id="count">{count}</span>)</h2><ul id="people">{people}</ul>'
    '<ol id="messages">{messages}</ol>'
    '<form id="composer" lf-submit="send" lf-change="draft" lf-debounce="150">'
    '<input id="text" name="text" autocomplete="off" maxlength="500" value="{draft}" '
    'placeholder="Say something"> <button id="send" type="submit">Send</button></form>'
    '<p><a id="to-counter" lf-navigate href="counter">counter</a></p></section>'
)
PERSON = Template('<li id="person-{name}">{name}{tabs}</li>')
MESSAGE = Template('<li id="msg-{id}"><b>{author}</b>: {text}</li>')


def merge(
    held: tuple[ChatMessage, ...], new: tuple[ChatMessage, ...], keep: int = KEEP
) -> tuple[ChatMessage, ...]:
    """`held` and `new` in `(id, origin)` order, each message once, the last `keep`."""
    known = {m.key for m in held}
    fresh = [m for m in new if m.key not in known]
    if not fresh:
        return held
    return tuple(sorted((*held, *fresh), key=lambda m: m.key))[-keep:]


class ChatRoom(LiveView[ChatState, Send | Draft]):
    """`room` finds the `Room` actor when a session needs it (it may have restarted)."""

    title = "Chat"
    # Its state is the room's history and the presence list, both read again by mount
    # (which also tracks the user's presence): a rejoin mounts again.
    rejoin = "remount"

    def __init__(self, room: Callable[[], ActorRef[RoomMessage]]) -> None:
        self.room = room

    async def mount(self, params: Params, session: SessionInfo) -> ChatState | Update[ChatState]:
        name = params.get("name", "").strip()[:40] or f"guest-{session.id[:4]}"
        history = await self.room().ask(History())
        state = ChatState(session=session.id, name=name, messages=history)
        if not session.connected:
            return state
        own = f"{ROOM}:{session.id}"
        after = history[-1].id if history else 0  # ties on another node: Resync is >=
        return Update(
            state,
            (
                SubscribeTo(topic=ROOM),
                SubscribeTo(topic=own),
                Track(topic=ROOM, key=name),
                SendTo(to=self.room(), message=Resync(own, after)),
            ),
        )

    def handle_event(self, event: Send | Draft, state: ChatState) -> ChatState | Update[ChatState]:
        if isinstance(event, Draft):
            return msgspec.structs.replace(state, draft=event.text[:500])
        text = event.text.strip()[:500]
        if not text:
            return state
        state = msgspec.structs.replace(state, draft="")
        return Update(state, (SendTo(to=self.room(), message=Post(state.name, text)),))

    def handle_info(self, message: object, state: ChatState) -> ChatState:
        posted = as_chat_message(message)
        if posted is not None:
            return msgspec.structs.replace(state, messages=merge(state.messages, (posted,)))
        if isinstance(message, Backlog):
            return msgspec.structs.replace(state, messages=merge(state.messages, message.messages))
        if isinstance(message, PresenceState):
            return msgspec.structs.replace(state, people=dict(message.presences))
        if isinstance(message, PresenceDiff):
            return msgspec.structs.replace(state, people=apply_diff(state.people, message))
        return state

    def render(self, state: ChatState) -> Rendered:
        people = [
            (name, PERSON(name=name, tabs=f" ({len(tabs)} tabs)" if len(tabs) > 1 else ""))
            for name, tabs in sorted(state.people.items())
        ]
        messages = [
            (key, MESSAGE(id=key, author=m.author, text=m.text))
            for m in state.messages
            for key in (f"{m.id}-{m.origin}" if m.origin else str(m.id),)
        ]
        return CHAT(
            name=state.name,
            count=len(state.people),
            people=keyed(PERSON, people),
            messages=keyed(MESSAGE, messages),
            draft=state.draft,
        )


def as_chat_message(message: object) -> ChatMessage | None:
    """`message` as a `ChatMessage`: itself on this node; from another node of a cluster
    it arrives decoded to builtins and is converted. Anything else: None (presence diffs
    never cross nodes: each node's tracker publishes its own, locally)."""
    if isinstance(message, ChatMessage):
        return message
    if isinstance(message, dict):
        try:
            return msgspec.convert(message, ChatMessage)
        except msgspec.ValidationError:
            return None
    return None
