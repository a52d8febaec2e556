"""`examples_test`: the example views on a running system with the actors they share
(the chat room, the table's ticker, stepped by hand), driven by the test DSL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from lightflow_actors import ActorSystem
from lightflow_actors.live_examples import example_views, start_example_actors
from lightflow_actors.testing.live import LiveTest, live_test


@asynccontextmanager
async def examples_test(
    system: ActorSystem | None = None, *, seed: int = 0
) -> AsyncIterator[LiveTest]:
    """Serve the examples on `system` (left running), or on a fresh system."""
    async with AsyncExitStack() as stack:
        running = system
        if running is None:
            running = await stack.enter_async_context(ActorSystem("examples-test", seed=seed))
        await start_example_actors(running, interval=3600.0)
        yield await stack.enter_async_context(live_test(example_views(running), system=running))
