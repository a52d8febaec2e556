"""`EventReply`: a handler answers the browser event it handles (Phoenix's
``{:reply, map, socket}``); the reply rides on the patch that answers the event
(the envelope's ``rp``, keyed by the event's ref) and reaches the hook's pushEvent."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.isa import Mount, Patched, PureInterpreter, Render, Submit
from lightflow_actors.live import (
    EventReply,
    JSCommandError,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Update,
    ViewDefinitionError,
    ViewSpec,
    decode_envelope,
)
from lightflow_actors.live._program import MAX_OWED_EVENTS, ViewProgram
from lightflow_actors.testing.live import live_test

from .test_js_commands import json_value

pytestmark = pytest.mark.anyio


class Lookup(msgspec.Struct, frozen=True, tag="lookup"):
    q: str


class Quiet(msgspec.Struct, frozen=True, tag="quiet"):
    pass


class Tick(msgspec.Struct, frozen=True):
    pass


PAGE = Template("<p>{n}</p>")


class Search(LiveView[int, Lookup | Quiet]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Lookup | Quiet, state: int) -> int | Update[int]:
        if isinstance(event, Quiet):
            return state  # no reply: the hook's promise still resolves (to {})
        if event.q == "same":
            return Update(state, (EventReply({"hits": []}),))  # a reply, no change
        return Update(state + 1, (EventReply({"q": event.q, "hits": [event.q.upper()]}),))

    def handle_info(self, message: object, state: int) -> int | Update[int]:
        return Update(state, (EventReply({"from": "info"}),))

    def render(self, state: int) -> Rendered:
        return PAGE(n=state)


async def test_a_hook_event_gets_the_handlers_reply_with_its_patch() -> None:
    async with live_test({"search": Search()}) as live:
        view = await live.mount("search")
        html = await view.render_hook("lookup", {"q": "ab"})
        assert "<p>1</p>" in html
        assert view.last_reply == {"q": "ab", "hits": ["AB"]}
        last = view.client.envelopes[-1]
        assert last.d is not None and last.rp is not None  # one frame: patch and reply
        await view.render_hook("lookup", {"q": "same"})
        assert view.last_reply == {"hits": []}
        assert view.client.envelopes[-1].d is None  # the reply alone, no diff
        ref = await view.push("quiet", {})
        assert view.reply(ref) is None and view.client.envelopes[-1].rp is None


def _program() -> tuple[ViewProgram, PureInterpreter]:
    program = ViewProgram(ViewSpec("search", Search()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.step(Mount(id="s", target="search"))
    interp.step(Render())
    return program, interp


def test_replies_held_back_go_out_with_the_release_each_under_its_ref() -> None:
    program, interp = _program()
    program.hold()
    for i in range(MAX_OWED_EVENTS + 3):
        assert interp.step(Submit(event="lookup", payload={"q": f"q{i}"}, ref=str(i))) == []
    [released] = program.release()
    assert isinstance(released, Patched)
    envelope = decode_envelope(released.diff)
    assert envelope.ref == str(MAX_OWED_EVENTS + 2)
    assert envelope.rp is not None and len(envelope.rp) == MAX_OWED_EVENTS  # bounded
    assert "0" not in envelope.rp  # the oldest dropped first
    assert envelope.rp[str(MAX_OWED_EVENTS + 2)] == {
        "q": f"q{MAX_OWED_EVENTS + 2}",
        "hits": [f"Q{MAX_OWED_EVENTS + 2}"],
    }
    assert program.release() == []


def test_a_reply_owed_before_a_render_rides_on_the_render() -> None:
    program, interp = _program()
    program.hold()
    interp.step(Submit(event="lookup", payload={"q": "x"}, ref="7"))
    interp.step(Render())  # the browser asks for a render while held back
    [rendered] = program.release()
    view = decode_envelope(rendered.view)  # type: ignore[attr-defined]
    assert view.ref == "7" and view.rp == {"7": {"q": "x", "hits": ["X"]}}


def test_a_reply_outside_handle_event_is_a_definition_error() -> None:
    program, _ = _program()
    with pytest.raises(ViewDefinitionError, match="EventReply outside handle_event"):
        program.info(Tick())


def test_a_reply_whose_payload_is_not_json_is_refused_by_name() -> None:
    with pytest.raises(JSCommandError, match="payload"):
        EventReply({"bad": math.inf})
    with pytest.raises(JSCommandError, match="payload"):
        EventReply({"b": b"bytes"})  # type: ignore[dict-item]
    with pytest.raises(JSCommandError, match="UTF-8"):
        EventReply({"s": "\ud800"})
    deep: dict[str, object] = {}
    node = deep
    for _ in range(10_000):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(JSCommandError, match="payload"):
        EventReply(deep)  # type: ignore[arg-type]


@given(st.dictionaries(st.text(max_size=8), json_value, max_size=4))
def test_any_reply_either_encodes_or_is_refused_by_name(payload: dict[str, object]) -> None:
    try:
        reply = EventReply(payload)  # type: ignore[arg-type]
    except JSCommandError as error:
        assert error.argument == "payload"
        return
    assert msgspec.json.decode(msgspec.json.encode(reply.payload)) == payload
