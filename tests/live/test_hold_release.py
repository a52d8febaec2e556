"""Property: patches held back under backpressure coalesce and lose nothing.

A `ViewProgram` runs under the pure interpreter; between random events the transport's
flow control holds and releases it, and the browser sometimes asks for a Render while
held. The reference client merges only what goes out; after the final release its
page equals a full render of the final state, every event is answered (the last ref
that went out covers it), and nothing goes out while held.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.isa import Mount, Patched, PureInterpreter, Render, Rendered, Submit
from lightflow_actors.live import (
    ClientState,
    SessionInfo,
    ViewSpec,
    apply_patch,
    client_html,
    decode_envelope,
    live_patch_of,
    to_html,
)
from lightflow_actors.live._program import ViewProgram

from .live_shapes import Shape, ShapeView, render_shape, shapes

Step = tuple[str, Shape | None]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("event"), shapes()),
        st.tuples(st.sampled_from(["hold", "release", "render"]), st.none()),
    ),
    max_size=12,
)


@settings(max_examples=80, deadline=None)
@given(steps)
def test_held_patches_coalesce_into_the_latest_state(plan: list[Step]) -> None:
    program = ViewProgram(ViewSpec("shape", ShapeView()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.step(Mount(id="s", target="shape"))
    client = ClientState()
    answered = 0
    sent = 0

    def take(effects: list[object]) -> None:
        nonlocal client, answered
        for effect in effects:
            if isinstance(effect, Rendered):
                envelope = decode_envelope(effect.view)
                patch = live_patch_of(envelope)
                assert patch is not None
                client = apply_patch(ClientState(), patch)
            elif isinstance(effect, Patched):
                envelope = decode_envelope(effect.diff)
                patch = live_patch_of(envelope)
                if patch is not None:
                    client = apply_patch(client, patch)
            else:
                continue
            assert not program.held, "a frame went out while held"
            if envelope.ref is not None:
                answered = max(answered, int(envelope.ref))

    take(list(interp.step(Render())))
    state = Shape()
    for kind, shape in plan:
        if kind == "hold":
            program.hold()
        elif kind == "release":
            take(program.release())
        elif kind == "render":
            take(list(interp.step(Render())))
        else:
            assert shape is not None
            sent += 1
            state = shape
            payload = {"shape": msgspec.to_builtins(shape)}
            take(list(interp.step(Submit(event="set", payload=payload, ref=str(sent)))))
    take(program.release())
    assert client_html(client) == to_html(render_shape(state))
    assert answered == sent
