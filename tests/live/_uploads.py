"""What the upload tests share (test_upload_hostile, test_component_uploads,
test_external_uploads): a live test whose temp files go to a folder of the test's, the
temp files there, and a frame the session must refuse with one error frame."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lightflow_actors.isa import ErrorFrame, JSONValue
from lightflow_actors.live import LiveConfig
from lightflow_actors.testing.live import LiveTest, LiveViewHandle, live_test


@asynccontextmanager
async def uploading(
    views: Mapping[str, Any], folder: Path, mount: str
) -> AsyncIterator[tuple[LiveTest, LiveViewHandle]]:
    """`live_test(views)` with its uploads' temp files under `folder`, and view `mount`
    mounted."""
    async with live_test(views, config=LiveConfig(upload_dir=str(folder))) as live:
        yield live, await live.mount(mount)


def part_files(folder: Path) -> list[Path]:
    """The uploads' temp files under `folder`."""
    return sorted(folder.rglob("*.part"))


def last_error(view: LiveViewHandle) -> ErrorFrame:
    error = view.errors[-1]
    assert isinstance(error, ErrorFrame), error
    return error


async def refused(
    view: LiveViewHandle, event: str, payload: JSONValue, *, target: str | None = None
) -> ErrorFrame:
    """Push `event` as-is: the session answers it with exactly one error frame (returned)."""
    before = len(view.errors)
    await view.push(event, payload, target=target)
    assert len(view.errors) == before + 1, (event, payload)
    return last_error(view)
