"""The Anthropic Messages HTTP provider, end to end through the tree, and the HTTP channel
request against hostile upstream answers (not JSON, invalid UTF-8, deeply nested, huge)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctx_substrate import Channel, Routes, anthropic_channel, send_channel_request, write_channel
from ctx_substrate.providers import ANTHROPIC, OPENAI, Answer, Failure
from lightflow_actors.cortex import commit_request, decode_error, decode_route

from .test_providers import answer

pytestmark = pytest.mark.anyio


class _Messages:
    """A fake Anthropic Messages server on 127.0.0.1; `payload` overrides its answer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.payload: bytes | None = None
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                headers = {k.lower(): v for k, v in self.headers.items()}
                upstream.seen.append((self.path, headers, body))
                payload = upstream.payload
                if payload is None:
                    reply = {
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model", ""),
                        "content": [{"type": "text", "text": "pong"}],
                        "stop_reason": "end_turn",
                    }
                    payload = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def messages() -> Iterator[_Messages]:
    server = _Messages()
    yield server
    server.close()


async def test_anthropic_channel_speaks_the_messages_api(
    start_ctx: Callable[..., Any], messages: _Messages, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    chan = root / "chan" / "claude"
    write_channel(
        chan,
        Channel(
            id="claude",
            url=messages.url,
            keyref="env:LF_ANTHROPIC_TEST_KEY",
            fmt="anthropic.messages",
            mod="claude-test",
        ),
    )
    environ = {"LF_ANTHROPIC_TEST_KEY": "ak-test-9"}
    ctx = await start_ctx(
        providers=[anthropic_channel("claude", chan, timeout_s=10, environ=environ)],
        routes=Routes(api={"*": "claude"}),
        root=root,
    )
    inbox = ctx.layout.api_inbox("anthropic.messages")
    outbox = ctx.layout.api_outbox("anthropic.messages")
    commit_request(inbox, "m1", b'{"messages": [{"role": "user", "content": "ping"}]}')
    which, data = await answer(ctx, outbox, "m1")
    assert which == "resp", data
    assert msgspec.json.decode(data)["content"][0]["text"] == "pong"
    path, headers, body = messages.seen[0]
    assert path == "/v1/messages"
    assert headers["x-api-key"] == "ak-test-9" and headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    # The model comes from the channel, max_tokens (required by the API) is defaulted.
    assert body == {
        "messages": [{"role": "user", "content": "ping"}],
        "model": "claude-test",
        "max_tokens": 1024,
        "stream": False,
    }
    route = decode_route((outbox / "m1.route.json").read_bytes())
    assert (route.provider, route.model) == ("claude", "claude-test")
    # A request's own model and max_tokens win.
    commit_request(inbox, "m2", b'{"model": "other", "max_tokens": 5, "messages": []}')
    which, data = await answer(ctx, outbox, "m2")
    assert which == "resp"
    assert messages.seen[1][2]["model"] == "other" and messages.seen[1][2]["max_tokens"] == 5
    # An openai format routed to it is refused by name, never sent.
    commit_request(ctx.layout.api_inbox("openai.chat"), "o1", b"{}")
    which, data = await answer(ctx, ctx.layout.api_outbox("openai.chat"), "o1")
    assert which == "error" and "anthropic.messages" in decode_error(data).message
    assert len(messages.seen) == 2
    for file in root.rglob("*"):
        if file.is_file():
            assert b"ak-test-9" not in file.read_bytes(), file


HOSTILE = st.one_of(
    st.binary(max_size=200),
    st.just(b"\xff\xfe not utf-8"),
    st.just(b"[" * 100_000 + b"]" * 100_000),
    st.just(b'{"a": "' + b"x" * (1 << 20) + b'"'),
    st.text(max_size=100).map(str.encode),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=HOSTILE)
def test_hostile_upstream_bodies_are_failures_or_json_answers(
    messages: _Messages, tmp_path: Path, payload: bytes
) -> None:

    chan = tmp_path / "chan" / "h"
    write_channel(chan, Channel(id="h", url=messages.url))
    messages.payload = payload

    async def send(dialect: Any, target: str) -> Answer | Failure:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            return await send_channel_request(
                client, dialect, chan, "api", target, {"messages": []}, timeout_s=10
            )

    for dialect, target in ((ANTHROPIC, "anthropic.messages"), (OPENAI, "openai.chat")):
        outcome = asyncio.run(send(dialect, target))
        if isinstance(outcome, Answer):
            msgspec.json.decode(outcome.body)  # only valid JSON is ever an answer
        else:
            assert "not JSON" in outcome.message


def test_bad_channel_files_are_named_failures(tmp_path: Path) -> None:

    chan = tmp_path / "chan" / "bad"
    chan.mkdir(parents=True)

    async def send() -> Answer | Failure:
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
            return await send_channel_request(
                client, ANTHROPIC, chan, "api", "anthropic.messages", {}, timeout_s=5
            )

    outcome = asyncio.run(send())
    assert isinstance(outcome, Failure) and "missing file 'url'" in outcome.message
    (chan / "url").write_bytes(b"http://127.0.0.1:9/v1\xff")
    outcome = asyncio.run(send())
    assert isinstance(outcome, Failure) and "not UTF-8" in outcome.message
    (chan / "url").write_text("http://127.0.0.1:9/v1")
    (chan / "keyref").write_text("sk-the-key-itself")
    outcome = asyncio.run(send())
    assert isinstance(outcome, Failure) and "env:NAME" in outcome.message


def test_pin_model_replaces_the_model_a_request_names(messages: _Messages, tmp_path: Path) -> None:
    chan = tmp_path / "chan" / "p"
    write_channel(chan, Channel(id="p", url=messages.url, mod="pinned-model"))

    async def send(pin: bool, body: dict[str, object]) -> Answer | Failure:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            return await send_channel_request(
                client,
                ANTHROPIC,
                chan,
                "api",
                "anthropic.messages",
                body,
                timeout_s=10,
                pin_model=pin,
            )

    unpinned = asyncio.run(send(False, {"model": "asked"}))
    pinned = asyncio.run(send(True, {"model": "asked"}))
    assert isinstance(unpinned, Answer) and unpinned.model == "asked"
    assert isinstance(pinned, Answer) and pinned.model == "pinned-model"
    assert [b["model"] for _, _, b in messages.seen] == ["asked", "pinned-model"]
