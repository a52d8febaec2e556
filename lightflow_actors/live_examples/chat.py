"""Chat room with presence: messages through PubSub, who is here through Presence.

Each session subscribes to the room's topic and tracks itself under its name. A
message is broadcast to the topic, so every session (the sender included) appends
it when it arrives. Presence diffs arrive on the same topic; a session that
crashes or closes leaves the list by itself (its monitor fires). The composer's
draft is kept in the state through ``lf-change``, so after a reconnect the form
recovery restores it. There is no history: a newcomer sees messages from its join on.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.live import (
    Broadcast,
    LiveView,
    Params,
    PresenceDiff,
    PresenceEntry,
    PresenceState,
    Rendered,
    SessionInfo,
    SubscribeTo,
    Template,
    Track,
    Update,
    apply_diff,
    keyed,
)

ROOM = "chat:lobby"
KEEP = 100


class Send(msgspec.Struct, frozen=True, tag="send"):
    text: str = ""


class Draft(msgspec.Struct, frozen=True, tag="draft"):
    text: str = ""


class ChatMessage(msgspec.Struct, frozen=True):
    id: str
    author: str
    text: str


class ChatState(msgspec.Struct, frozen=True):
    session: str
    name: str
    draft: str = ""
    sent: int = 0
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


class ChatRoom(LiveView[ChatState, Send | Draft]):
    title = "Chat"

    def mount(self, params: Params, session: SessionInfo) -> ChatState | Update[ChatState]:
        name = params.get("name", "").strip()[:40] or f"guest-{session.id[:4]}"
        state = ChatState(session=session.id, name=name)
        if not session.connected:
            return state
        return Update(state, (SubscribeTo(topic=ROOM), Track(topic=ROOM, key=name)))

    def handle_event(self, event: Send | Draft, state: ChatState) -> ChatState | Update[ChatState]:
        if isinstance(event, Draft):
            return msgspec.structs.replace(state, draft=event.text[:500])
        text = event.text.strip()[:500]
        if not text:
            return state
        message = ChatMessage(id=f"{state.session}-{state.sent}", author=state.name, text=text)
        state = msgspec.structs.replace(state, draft="", sent=state.sent + 1)
        return Update(state, (Broadcast(topic=ROOM, message=message),))

    def handle_info(self, message: object, state: ChatState) -> ChatState:
        if isinstance(message, ChatMessage):
            return msgspec.structs.replace(state, messages=(*state.messages, message)[-KEEP:])
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
        messages = [(m.id, MESSAGE(id=m.id, author=m.author, text=m.text)) for m in state.messages]
        return CHAT(
            name=state.name,
            count=len(state.people),
            people=keyed(PERSON, people),
            messages=keyed(MESSAGE, messages),
            draft=state.draft,
        )
