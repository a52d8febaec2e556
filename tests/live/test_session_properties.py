"""Property: through the session actor and the wire, the patches rebuild the last render.

Each example mounts `ShapeView` on a fresh hub, sends a sequence of states as events
(JSON frames through the transport actor, the session actor, the diff, the codec),
merges every Render and Patch with the Python reference client, and compares with
`to_html` of each state rendered directly. A dropped, reordered or wrong patch fails.
"""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.isa import Render
from lightflow_actors.live import to_html
from lightflow_actors.testing.live import live_test

from .live_shapes import Shape, ShapeView, render_shape, shapes


async def run(states: list[Shape]) -> None:
    async with live_test({"shape": ShapeView()}) as live:
        view = await live.mount("shape")
        assert view.html() == to_html(render_shape(Shape()))
        for state in states:
            await view.push("set", {"shape": msgspec.to_builtins(state)})
            assert view.html() == to_html(render_shape(state))
        assert not view.errors
        # A resync (what the client does after a merge error) gives the same page.
        renders = view.client.renders
        await view.send(Render())
        await view.wait_for(lambda: view.client.renders > renders, "the full render")
        expected = to_html(render_shape(states[-1] if states else Shape()))
        assert view.html() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(shapes(), max_size=6))
def test_session_patches_rebuild_every_state(states: list[Shape]) -> None:
    asyncio.run(run(states))
