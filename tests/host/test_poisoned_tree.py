"""A poisoned `/ctx` tree does not stop the server: `serve` starts, answers each poison
request with an error file, sets it aside, lists it at `GET /ctx/dead-letters`, and serves.

Before the fix, a `.claimed` request nested 5000 deep crashed the substrate at every start
and `serve` failed with `ChildStartFailed ... RecursionError` until the file was deleted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from lightflow_actors.cortex import commit_request, decode_error

from ..runs._support import RunsEnv, ServerProcess

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000


def _wait(path: Path, limit_s: float = 60.0) -> None:
    """Wait for `path`; the limit only bounds a hang, it asserts nothing about speed."""
    end = time.monotonic() + limit_s
    while not path.exists():
        assert time.monotonic() < end, f"gave up waiting for {path}"
        time.sleep(0.02)


def test_serve_starts_on_a_poisoned_tree(
    runs_env: RunsEnv, server_factory: Callable[..., ServerProcess]
) -> None:
    layout = runs_env.config.settings(runs_env.environ).layout
    inbox, outbox = layout.api_inbox("openai.chat"), layout.api_outbox("openai.chat")
    inbox.mkdir(parents=True)
    (inbox / "crashed-on.claimed").write_bytes(DEEP)  # left by an incarnation it crashed
    (inbox / "never-read.tmp").write_bytes(b'{"text": "\xff"}')
    os.rename(inbox / "never-read.tmp", inbox / "never-read.req.json")
    server = server_factory()
    _wait(outbox / "crashed-on.error")
    _wait(outbox / "never-read.error")
    assert decode_error((outbox / "crashed-on.error").read_bytes()).kind == "too_deep"
    assert decode_error((outbox / "never-read.error").read_bytes()).kind == "invalid_utf8"
    with server.client() as http:
        listed = http.get("/ctx/dead-letters")
        assert listed.status_code == 200
        letters = {e["letter"]["id"]: e for e in listed.json()["letters"]}
        assert set(letters) == {"crashed-on", "never-read"}
        assert letters["crashed-on"]["letter"]["found_as"] == "claimed"
        assert letters["crashed-on"]["folder"].endswith("/api/openai.chat/dead")
        assert http.get("/ctx/dead-letters", params={"x": "1"}).status_code == 400
    # Still serving: a good request gets its answer.
    commit_request(inbox, "good", b'{"model": "m", "messages": []}')
    _wait(outbox / "good.resp.json")
