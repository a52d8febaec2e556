"""What only the FUSE mount enforces: commit by rename, no symlinks, size limits; ls/cat/cp."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ctx_substrate._fuse_probe import fuse_available
from lightflow_actors.cortex import commit_request

pytestmark = [pytest.mark.anyio, pytest.mark.fuse]


@pytest.fixture
async def fuse_ctx(start_ctx: Callable[..., Any]) -> Any:
    reason = fuse_available()
    if reason is not None:
        pytest.skip(f"FUSE backend: {reason}")
    return await start_ctx(backend="fuse", max_request_bytes=4096)


async def test_ls_cat_cp_through_the_mount(fuse_ctx: Any, tmp_path: Path) -> None:
    ctx = fuse_ctx
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    assert await asyncio.to_thread(os.path.ismount, ctx.mount)
    commit_request(inbox, "r1", b'{"model": "m"}')
    response = outbox / "r1.resp.json"
    await ctx.until(response.exists, "the answer to appear in the mount")
    listing = await asyncio.to_thread(
        subprocess.run, ["ls", str(outbox)], capture_output=True, text=True, check=True
    )
    assert listing.stdout.split() == ["r1.fingerprint", "r1.resp.json", "r1.route.json"]
    cat = await asyncio.to_thread(
        subprocess.run, ["cat", str(response)], capture_output=True, check=True
    )
    assert msgspec.json.decode(cat.stdout)["body"] == {"model": "m"}
    await asyncio.to_thread(
        subprocess.run, ["cp", str(response), str(tmp_path / "copy.json")], check=True
    )
    assert (tmp_path / "copy.json").read_bytes() == cat.stdout
    # The same file is in the backing folder: one tree, two views.
    backing_outbox = ctx.backing / outbox.relative_to(ctx.mount)
    assert (backing_outbox / "r1.resp.json").read_bytes() == cat.stdout


async def test_shell_commit_with_mv(fuse_ctx: Any) -> None:
    ctx = fuse_ctx
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    await asyncio.to_thread(
        subprocess.run,
        ["sh", "-c", f"printf '{{}}' > {inbox}/s.tmp && mv {inbox}/s.tmp {inbox}/s.req.json"],
        check=True,
    )
    await ctx.until((outbox / "s.resp.json").exists, "the mv-committed request's answer")


async def test_mount_refuses_what_the_abi_forbids(fuse_ctx: Any) -> None:
    ctx = fuse_ctx
    inbox = ctx.layout.api_inbox("openai.chat")
    with pytest.raises(PermissionError):  # commit by rename only
        (inbox / "direct.req.json").write_bytes(b"{}")
    with pytest.raises(PermissionError):
        os.symlink("/etc/hostname", inbox / "link.req.json")
    (inbox / "a.tmp").write_bytes(b"{}")
    with pytest.raises(PermissionError):
        os.link(inbox / "a.tmp", inbox / "hard.tmp")
    with pytest.raises(OSError) as info:  # larger than max_request_bytes
        (inbox / "big.tmp").write_bytes(b"x" * 5000)
    assert info.value.errno == 27  # EFBIG
    with pytest.raises(PermissionError):
        os.mkfifo(inbox / "fifo.tmp")
    backing_inbox = ctx.backing / inbox.relative_to(ctx.mount)
    assert sorted(os.listdir(backing_inbox)) == ["a.tmp", "big.tmp"]


async def test_unmounted_on_shutdown(fuse_ctx: Any) -> None:
    ctx = fuse_ctx
    assert await asyncio.to_thread(os.path.ismount, ctx.mount)
    await ctx.system.shutdown()
    assert not await asyncio.to_thread(os.path.ismount, ctx.mount)
    assert shutil.which("fusermount3") is not None
