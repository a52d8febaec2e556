"""What live children (ADR 0115) cost. First, what every render of a page pays for
them, children or not: the counter's render bare (baseline) beside the same render while
`live_render` calls are collected. Then an event's round trip through the test DSL (an
in-process transport, the wire codec both ways, the session actors): a click on the
counter as the page's view (baseline) beside the same click on the counter as a live
child of a page (one more hop each way, through the parent's session).
"""

from __future__ import annotations

import asyncio

from lightflow_actors.live import Template, live_render, live_view
from lightflow_actors.live._children import begin_collecting, end_collecting
from lightflow_actors.live_examples.counter import counter
from lightflow_actors.testing.live import find_live_child, live_test

from ._report import async_rate, interleaved, row, sync_rate

SECONDS = 0.5


def renders() -> None:
    def bare() -> object:
        return counter.layout(counter.render(5), {})

    def collected() -> object:
        _, token = begin_collecting()
        try:
            return counter.layout(counter.render(5), {})
        finally:
            end_collecting(token)

    base, with_collect = interleaved(
        5, lambda: sync_rate(bare, SECONDS), lambda: sync_rate(collected, SECONDS)
    )
    row("render, children collected (renders/s)", with_collect, "/s", base, "bare render")


async def round_trips() -> None:
    page = live_view(
        lambda s: Template("<h1>page</h1>{kid}")(kid=live_render(counter, id="kid")),
        mount=lambda params: 0,
    )
    async with live_test({"counter": counter, "page": page}) as live:
        root = await live.mount("counter")
        child = find_live_child(await live.mount("page"), "kid")

        async def on_root() -> object:
            return await root.render_click("inc")

        async def on_child() -> object:
            return await child.render_click("inc")

        best_root = best_child = 0.0
        for _ in range(5):
            best_root = max(best_root, await async_rate(on_root, SECONDS))
            best_child = max(best_child, await async_rate(on_child, SECONDS))
        row("click on a live child (round trips/s)", best_child, "/s", best_root, "page's view")


def main() -> None:
    renders()
    asyncio.run(round_trips())


if __name__ == "__main__":
    main()
