"""The view contract and `ViewProgram` under the pure ISA interpreter (no actor, no loop)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.isa import (
    Mount,
    Patch,
    Patched,
    PureInterpreter,
    Rejected,
    Render,
    Rendered,
    Replied,
    Shutdown,
    Submit,
    Subscribe,
    Subscribed,
    Unsubscribed,
)
from lightflow_actors.live import (
    Broadcast,
    ClientState,
    EventError,
    LiveView,
    PageTitle,
    Params,
    PushNavigate,
    SessionInfo,
    SubscribeTo,
    Template,
    Update,
    ViewDefinitionError,
    ViewSpec,
    apply_patch,
    client_html,
    decode_envelope,
    event_name,
    live_patch_of,
)
from lightflow_actors.live import Rendered as Tree
from lightflow_actors.live._program import ViewProgram

P = Template("<p>{n}</p>")


class Add(msgspec.Struct, frozen=True, tag="add"):
    by: int = 1


class ResetAll(msgspec.Struct, frozen=True):
    pass


class Adder(LiveView[int, Add | ResetAll]):
    def mount(self, params: Params, session: SessionInfo) -> Update[int]:
        return Update(int(params.get("n", "0")), (SubscribeTo(topic="t"), PageTitle(title="T")))

    def handle_event(self, event: Add | ResetAll, state: int) -> int | Update[int]:
        if isinstance(event, ResetAll):
            return Update(0, (Broadcast(topic="t", message="reset"), PushNavigate(view="x")))
        return state + event.by

    def handle_info(self, message: object, state: int) -> int:
        return state * 10 if message == "times ten" else state

    def handle_params(self, params: Params, state: int) -> int:
        return int(params["n"])

    def render(self, state: int) -> Tree:
        return P(n=state)


def interpreter() -> tuple[PureInterpreter, ViewProgram]:
    program = ViewProgram(ViewSpec("adder", Adder()), SessionInfo("s1", True))
    return PureInterpreter(program), program


def test_event_names_come_from_tags_or_snake_case() -> None:
    assert event_name(Add) == "add"
    assert event_name(ResetAll) == "reset_all"
    assert sorted(ViewSpec("adder", Adder()).events) == ["add", "reset_all"]


def test_a_non_struct_event_type_is_refused() -> None:
    class Bad(LiveView[int, int]):
        pass

    with pytest.raises(ViewDefinitionError, match=r"not a msgspec\.Struct"):
        ViewSpec("bad", Bad())


def test_two_events_with_one_name_are_refused() -> None:
    class A(msgspec.Struct, tag="same"):
        pass

    class B(msgspec.Struct, tag="same"):
        pass

    class Twice(LiveView[int, A | B]):
        pass

    with pytest.raises(ViewDefinitionError, match="share the name 'same'"):
        ViewSpec("twice", Twice())


def test_a_view_must_be_an_instance() -> None:
    with pytest.raises(ViewDefinitionError, match="not a LiveView instance"):
        ViewSpec("x", Adder)


def test_decode_event_converts_form_strings_and_names_the_bad_field() -> None:
    spec = ViewSpec("adder", Adder())
    assert spec.decode_event("add", {"by": "3", "_target": "by"}) == Add(3)
    assert spec.decode_event("add", None) == Add(1)
    with pytest.raises(EventError) as info:
        spec.decode_event("add", {"by": "three"})
    assert info.value.path == "$.by"
    with pytest.raises(EventError, match="accepts: add, reset_all"):
        spec.decode_event("sub", {})
    with pytest.raises(EventError, match="must be an object"):
        spec.decode_event("add", [1, 2])


def test_mount_render_submit_through_the_pure_interpreter() -> None:
    interp, _program = interpreter()
    assert interp.apply(Mount(id="s1", target="adder", params={"n": "2"})) == [
        Subscribed(topic="t")
    ]
    [rendered] = interp.apply(Render())
    assert isinstance(rendered, Rendered)
    envelope = decode_envelope(rendered.view)
    assert envelope.session == "s1" and envelope.title == "T"
    state = apply_patch(ClientState(), live_patch_of(envelope))
    assert client_html(state) == "<p>2</p>"
    [patched] = interp.apply(Submit(event="add", payload={"by": 5}, ref="9"))
    assert isinstance(patched, Patched)
    assert patched.diff == {"d": {"r": {"0": "7"}}, "ref": "9"}


def test_a_bad_event_is_a_reply_with_an_error_and_the_state_is_kept() -> None:
    interp, program = interpreter()
    interp.apply(Mount(id="s1", target="adder"))
    interp.apply(Render())
    [reply] = interp.apply(Submit(event="add", payload={"by": []}, ref="4"))
    assert isinstance(reply, Replied)
    assert reply.ref == "4"
    assert reply.payload["error"]["path"] == "$.instruction.payload.by"
    [reply] = interp.apply(Submit(event="nope", ref="5"))
    assert reply.payload["error"]["path"] == "$.instruction.event"
    assert program.state == 0


def test_commands_without_an_isa_effect_wait_for_the_host() -> None:
    interp, program = interpreter()
    interp.apply(Mount(id="s1", target="adder", params={"n": "4"}))
    interp.apply(Render())
    [patched] = interp.apply(Submit(event="reset_all", ref="1"))
    assert program.take_commands() == [Broadcast(topic="t", message="reset")]
    assert program.take_commands() == []
    assert patched.diff["nav"] == {"kind": "navigate", "to": "x"}


def test_info_and_params_patch_the_view() -> None:
    interp, program = interpreter()
    interp.apply(Mount(id="s1", target="adder", params={"n": "3"}))
    interp.apply(Render())
    [patched] = program.info("times ten")
    assert patched.diff == {"d": {"r": {"0": "30"}}}
    assert program.info("ignored") == []  # same state object: nothing rendered, nothing sent
    [patched] = interp.apply(Patch(diff={"params": {"n": "8"}}))
    assert patched.diff == {"d": {"r": {"0": "8"}}}
    [reply] = interp.apply(Patch(diff={"params": {"n": 8}}))
    assert isinstance(reply, Replied)
    assert reply.payload["error"]["path"].startswith("$.instruction.diff")


def test_out_of_order_instructions_are_rejected_and_shutdown_unsubscribes() -> None:
    interp, _ = interpreter()
    [rejected] = interp.step(Submit(event="add"))
    assert isinstance(rejected, Rejected) and rejected.phase == "disconnected"
    interp.apply(Mount(id="s1", target="adder"))
    [rejected] = interp.step(Submit(event="add"))
    assert isinstance(rejected, Rejected) and "Render first" in rejected.message
    assert interp.apply(Subscribe(topic="t")) == []  # already subscribed by mount
    effects = interp.apply(Shutdown())
    assert effects[0] == Unsubscribed(topic="t")
    assert interp.phase == "closed"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1000, 1000), max_size=12))
def test_patches_rebuild_the_last_render(steps: list[int]) -> None:
    interp, _ = interpreter()
    interp.apply(Mount(id="s1", target="adder"))
    [rendered] = interp.apply(Render())
    state = apply_patch(ClientState(), live_patch_of(decode_envelope(rendered.view)))
    total = 0
    for ref, by in enumerate(steps):
        total += by
        for effect in interp.apply(Submit(event="add", payload={"by": by}, ref=str(ref))):
            patch = live_patch_of(decode_envelope(effect.diff))
            if patch is not None:
                state = apply_patch(state, patch)
    assert client_html(state) == f"<p>{total}</p>"


class Note(msgspec.Struct, frozen=True, tag="note"):
    text: str = ""


class Notes(LiveView[dict[str, list[str]], Note]):
    """Keeps its state in a dict and changes it in place, returning the same object."""

    def mount(self, params: Params, session: SessionInfo) -> dict[str, list[str]]:
        return {"notes": []}

    def handle_event(self, event: Note, state: dict[str, list[str]]) -> dict[str, list[str]]:
        state["notes"].append(event.text)
        return state

    def handle_info(self, message: object, state: dict[str, list[str]]) -> dict[str, list[str]]:
        if message == "clear":
            state["notes"].clear()
        return state

    def render(self, state: dict[str, list[str]]) -> Tree:
        return P(n=" / ".join(state["notes"]))


def test_a_state_changed_in_place_is_rendered() -> None:
    program = ViewProgram(ViewSpec("notes", Notes()), SessionInfo("s1", True))
    interp = PureInterpreter(program)
    interp.step(Mount(id="s1", target="notes"))
    [rendered] = interp.step(Render())
    assert isinstance(rendered, Rendered)
    client = apply_patch(ClientState(), live_patch_of(decode_envelope(rendered.view)))
    for text in ("milk", "eggs"):
        [patched] = interp.step(Submit(event="note", payload={"text": text}, ref="7"))
        assert isinstance(patched, Patched)
        envelope = decode_envelope(patched.diff)
        assert envelope.ref == "7"
        patch = live_patch_of(envelope)
        assert patch is not None, "the in-place change must reach the browser"
        client = apply_patch(client, patch)
    assert client_html(client) == "<p>milk / eggs</p>"
    effects = program.info("clear")
    [patched] = effects
    assert isinstance(patched, Patched)
    client = apply_patch(client, live_patch_of(decode_envelope(patched.diff)))
    assert client_html(client) == "<p></p>"
    assert program.info("nothing to do") == []  # an unchanged view sends nothing


class Frozen(msgspec.Struct, frozen=True):
    n: int
    names: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    child: Frozen | None = None


class HoldsADict(msgspec.Struct, frozen=True):
    people: dict[str, int]


class Loose(msgspec.Struct):
    n: int


def test_only_types_immutable_all_the_way_down_skip_the_render() -> None:
    from lightflow_actors.live._immutable import immutable_type, immutable_value

    assert immutable_value(3) and immutable_value("s") and immutable_value(None)
    assert immutable_value(Frozen(1, ("a",), child=Frozen(2)))
    assert immutable_type(tuple[Frozen, ...]) and immutable_type(int | None)
    assert not immutable_value(HoldsADict({}))  # frozen, but its dict can change
    assert not immutable_value(Loose(1))
    assert not immutable_value({"a": 1}) and not immutable_value([1])
    assert not immutable_value((1, 2))  # a bare tuple's elements are not declared
    assert not immutable_type(list[int]) and not immutable_type(tuple[list[int], ...])
