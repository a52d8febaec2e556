"""`live_view` and ``@view.on``: a live view as functions. The handler's parameters after
the state are its event's fields (a struct built from their annotations and defaults):
payloads are validated once at the boundary as for a declared struct, mount may take the
session, an `Update` carries commands, and a bad definition is refused with
`ViewDefinitionError` naming the handler."""

from __future__ import annotations

import msgspec
import pytest

from lightflow_actors.live import (
    FunctionView,
    PageTitle,
    SessionInfo,
    Template,
    Update,
    ViewDefinitionError,
    live_view,
)
from lightflow_actors.testing.live import LiveTestError, live_test

pytestmark = pytest.mark.anyio

PAGE = Template(
    '<p>Count: <b id="count">{count}</b></p>'
    '<button id="inc" lf-click="inc" lf-value-by="2">+2</button>'
    '<button id="reset" lf-click="reset">reset</button>'
)


def make_counter() -> FunctionView[int]:
    counter = live_view(
        lambda n: PAGE(count=n), mount=lambda params: int(params.get("n", "0")), title="Counter"
    )

    @counter.on("inc")
    def inc(n: int, by: int = 1) -> int:
        return n + by

    @counter.on("reset")
    def reset(n: int) -> Update[int]:
        return Update(0, (PageTitle("reset"),))

    return counter


async def test_a_function_view_mounts_handles_typed_events_and_commands() -> None:
    async with live_test({"counter": make_counter()}) as live:
        view = await live.mount("counter", {"n": "40"})
        assert view.page_title() == "Counter"
        html = await view.element("#inc").render_click()  # lf-value-by="2": "2" -> 2
        assert view.element("#count").text() == "42" and "42" in html
        await view.render_click("inc")  # the default: by=1
        assert view.element("#count").text() == "43"
        await view.element("#reset").render_click()
        assert view.element("#count").text() == "0" and view.page_title() == "reset"
        # A payload the handler's annotation refuses: an error naming the field, no change.
        with pytest.raises(LiveTestError, match=r"inc.*by"):
            await view.render_click("inc", {"by": "lots"})
        with pytest.raises(LiveTestError, match="declares no such event"):
            await view.render_click("dec")
        assert view.element("#count").text() == "0"


def mount_greet(params: dict[str, str], session: SessionInfo) -> str:
    assert session.connected in (True, False)  # the session is passed
    return params.get("who", "nobody")


async def test_mount_may_take_the_session_and_views_keep_their_own_events() -> None:
    greet = live_view(
        lambda who: Template('<p id="who">{who}</p>')(who=who),
        mount=mount_greet,
    )

    @greet.on("rename")
    def rename(who: str, to: str) -> str:
        return to

    async with live_test({"greet": greet, "counter": make_counter()}) as live:
        view = await live.mount("greet", {"who": "ada"})
        assert view.element("#who").text() == "ada"
        await view.render_click("rename", {"to": "grace"})
        assert view.element("#who").text() == "grace"
        with pytest.raises(LiveTestError, match="declares no such event"):
            await view.render_click("inc")  # the counter's event, not this view's
    assert type(greet) is not type(make_counter())


def test_bad_definitions_are_refused_naming_the_handler() -> None:
    view = live_view(lambda s: Template("<p>{s}</p>")(s=s), mount=lambda params: "")

    @view.on("ok")
    def ok(state: str) -> str:
        return state

    with pytest.raises(ViewDefinitionError, match="already has a handler"):
        view.on("ok")(ok)
    with pytest.raises(ViewDefinitionError, match="needs an annotation"):

        @view.on("bare")
        def bare(state: str, x) -> str:  # type: ignore[no-untyped-def]
            return state

    with pytest.raises(ViewDefinitionError, match="plain or keyword"):

        @view.on("star")
        def star(state: str, *rest: int) -> str:
            return state

    with pytest.raises(ViewDefinitionError, match="not starting with 'lf:'"):
        view.on("lf:upload")
    with pytest.raises(ViewDefinitionError, match=r"\(params\) or \(params, session\)"):
        live_view(lambda s: Template("")(), mount=lambda a, b, c: 0)  # type: ignore[arg-type,misc]
    with pytest.raises(ViewDefinitionError, match="live_view"):
        FunctionView(lambda s: Template("")(), lambda p: 0, with_session=False)


def test_the_event_struct_is_tagged_frozen_and_keeps_defaults() -> None:
    view = make_counter()
    struct = type(view)._lightflow_events["inc"]
    assert struct.__struct_config__.tag == "inc" and struct.__struct_config__.frozen
    assert msgspec.convert({"by": "3"}, struct, strict=False) == struct(by=3)  # type: ignore[call-arg]
    assert struct().by == 1  # type: ignore[attr-defined]


def test_a_function_view_takes_handle_params_and_handle_info() -> None:
    from lightflow_actors.isa import Mount, Patch, PureInterpreter, Render
    from lightflow_actors.live import ViewSpec
    from lightflow_actors.live._program import ViewProgram

    seen = live_view(
        lambda n: PAGE(count=n),
        mount=lambda params: 0,
        handle_params=lambda params, n: int(params.get("n", "0")),
        handle_info=lambda message, n: n + message if isinstance(message, int) else n,
    )
    program = ViewProgram(ViewSpec("seen", seen), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="seen"))
    interp.apply(Render())
    interp.apply(Patch(diff={"params": {"n": "7"}}))
    assert program.state == 7
    program.info(5)
    program.info("not a number")
    assert program.state == 12
    # Without them, a live patch and a message keep the state.
    plain = live_view(lambda n: PAGE(count=n), mount=lambda params: 3)
    assert plain.handle_params({"n": "9"}, 3) == 3 and plain.handle_info("x", 3) == 3


class Count(msgspec.Struct, frozen=True):
    n: int = 0


def mount_count(params: object) -> Count:
    return Count()


def test_a_function_view_s_snapshots_decode_into_its_state_type() -> None:
    from lightflow_actors.live._snapshot import StateCodec

    named = live_view(lambda c: PAGE(count=c.n), mount=lambda params: Count(), state=Count)
    annotated = live_view(lambda c: PAGE(count=c.n), mount=mount_count)
    unknown = live_view(lambda c: PAGE(count=c.n), mount=lambda params: Count())
    for view in (named, annotated):
        codec = StateCodec.of(view)
        assert codec.usable and codec.decode(codec.encode(Count(4))) == Count(4)
    # No type to decode into: a rejoin mounts the view again (no dict in place of a struct).
    assert not StateCodec.of(unknown).usable
