"""Tool providers (subprocess json/argv modes, typed Python tools) and OpenAI-compatible
channels, end to end through the tree."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ctx_substrate import (
    Channel,
    ProviderFailure,
    Routes,
    openai_channel,
    read_channel,
    subprocess_tool,
    tool_function,
    tools_provider,
    write_channel,
)
from lightflow_actors.cortex import commit_request, decode_error, decode_route

pytestmark = pytest.mark.anyio


async def answer(ctx: Any, outbox: Path, rid: str) -> tuple[str, bytes]:
    paths = {"resp": outbox / f"{rid}.resp.json", "error": outbox / f"{rid}.error"}
    await ctx.until(lambda: any(p.exists() for p in paths.values()), f"an answer to {rid}")
    which = "resp" if paths["resp"].exists() else "error"
    return which, paths[which].read_bytes()


# A json-mode tool: reads its input object on stdin, prints its output object on stdout.
WORDCOUNT = (
    "import json, sys; t = json.load(sys.stdin)['text']; "
    "print(json.dumps({'words': len(t.split()), 'lines': len(t.splitlines())}))"
)


async def test_json_tool_gets_its_input_on_stdin_and_answers_json(
    start_ctx: Callable[..., Any],
) -> None:
    tool = subprocess_tool("py", [sys.executable, "-c", WORDCOUNT], timeout_s=30)
    ctx = await start_ctx(providers=[tool], routes=Routes(tool={"echo": "py"}))
    inbox, outbox = ctx.layout.tool_inbox("echo"), ctx.layout.tool_outbox("echo")
    commit_request(inbox, "w1", json.dumps({"text": "one two\nthree $(id) ;ls"}).encode())
    which, data = await answer(ctx, outbox, "w1")
    assert which == "resp", data
    assert msgspec.json.decode(data) == {"words": 5, "lines": 2}
    route = decode_route((outbox / "w1.route.json").read_bytes())
    assert route.provider == "py" and route.model == sys.executable


HOSTILE = {
    # tool name: (script, error kind, words in the message)
    "prose": ("print('not json')", "provider_error", "not one JSON document"),
    "two": ("print('{\"a\": 1}{')", "provider_error", "not one JSON document"),
    "bytes": ("import sys; sys.stdout.buffer.write(b'\\xff\\xfe')", "provider_error", "JSON"),
    "exits": ("import sys; sys.stderr.write('boom'); sys.exit(4)", "provider_error", "status 4"),
    "floods": ("print('[' * 100 + 'x' * 5000)", "output_limit", "more than 1000 bytes"),
    "moans": ("import sys; sys.stderr.write('e' * 5000)", "output_limit", "more than 1000 bytes"),
}


async def test_hostile_json_tool_output_is_a_clear_error(start_ctx: Callable[..., Any]) -> None:
    tools = [
        subprocess_tool(name, [sys.executable, "-c", script], output_limit=1000)
        for name, (script, _, _) in HOSTILE.items()
    ]
    ctx = await start_ctx(
        providers=tools, routes=Routes(tool={n: n for n in HOSTILE}), tools=list(HOSTILE)
    )
    for name in HOSTILE:
        commit_request(ctx.layout.tool_inbox(name), "h", b'{"text": "x"}')
    for name, (_, kind, words) in HOSTILE.items():
        which, data = await answer(ctx, ctx.layout.tool_outbox(name), "h")
        assert which == "error", name
        error = decode_error(data)
        assert error.kind == kind and words in error.message, error
    error = decode_error((ctx.layout.tool_outbox("exits") / "h.error").read_bytes())
    assert "tool 'exits'" in error.message and error.message.endswith("stderr: boom")


async def test_json_tool_reads_a_large_input_while_answering(
    start_ctx: Callable[..., Any],
) -> None:
    # The tool answers before reading its input: feeding stdin must not block the answer.
    script = "print('{}'); import sys; sys.stdout.flush(); sys.stdin.read()"
    tool = subprocess_tool("py", [sys.executable, "-c", script], timeout_s=30)
    ctx = await start_ctx(providers=[tool], routes=Routes(tool={"*": "py"}))
    body = json.dumps({"text": "w " * 400_000}).encode()
    commit_request(ctx.layout.tool_inbox("echo"), "big", body)
    which, data = await answer(ctx, ctx.layout.tool_outbox("echo"), "big")
    assert (which, msgspec.json.decode(data)) == ("resp", {})


async def test_argv_tool_args_stdin_exit_code(start_ctx: Callable[..., Any]) -> None:
    script = "import sys; print(sys.argv[1:]); print(sys.stdin.read().upper()); sys.exit(3)"
    tool = subprocess_tool("py", [sys.executable, "-c", script], mode="argv", timeout_s=30)
    ctx = await start_ctx(providers=[tool], routes=Routes(tool={"echo": "py"}))
    inbox, outbox = ctx.layout.tool_inbox("echo"), ctx.layout.tool_outbox("echo")
    # Shell metacharacters stay plain argv entries: there is no shell.
    commit_request(
        inbox, "t1", json.dumps({"args": ["a b", "$(id)", ";ls"], "stdin": "hi"}).encode()
    )
    which, data = await answer(ctx, outbox, "t1")
    assert which == "resp"
    result = msgspec.json.decode(data)
    assert result["exit_code"] == 3
    assert result["stdout"] == "['a b', '$(id)', ';ls']\nHI\n"


async def test_subprocess_timeout_and_output_limit(start_ctx: Callable[..., Any]) -> None:
    sleeper = subprocess_tool(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.2
    )
    chatty = subprocess_tool(
        "chatty", [sys.executable, "-c", "print('x' * 100000)"], mode="argv", output_limit=1000
    )
    ctx = await start_ctx(
        providers=[sleeper, chatty],
        routes=Routes(tool={"echo": "sleeper", "*": "chatty"}),
        tools=["echo", "loud"],
    )
    commit_request(ctx.layout.tool_inbox("echo"), "slow", b"{}")
    commit_request(ctx.layout.tool_inbox("loud"), "big", b"{}")
    which, data = await answer(ctx, ctx.layout.tool_outbox("echo"), "slow")
    assert which == "error" and decode_error(data).kind == "timeout"
    which, data = await answer(ctx, ctx.layout.tool_outbox("loud"), "big")
    assert which == "error" and decode_error(data).kind == "output_limit"


async def test_argv_tool_input_must_be_an_invocation(start_ctx: Callable[..., Any]) -> None:
    tool = subprocess_tool("echo", ["/bin/echo"], mode="argv")
    ctx = await start_ctx(providers=[tool])
    bodies = [b'{"cmd": "rm -rf /"}', b'{"args": "-l"}', b'{"args": ["a\\u0000b"]}']
    for i, body in enumerate(bodies):
        commit_request(ctx.layout.tool_inbox("echo"), f"bad{i}", body)
        which, data = await answer(ctx, ctx.layout.tool_outbox("echo"), f"bad{i}")
        assert which == "error" and decode_error(data).kind == "malformed", body


async def test_any_tool_body_must_be_a_json_object(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    for rid, body in [("list", b"[1]"), ("text", b'"hi"'), ("junk", b"{")]:
        commit_request(ctx.layout.tool_inbox("echo"), rid, body)
        which, data = await answer(ctx, ctx.layout.tool_outbox("echo"), rid)
        assert which == "error" and decode_error(data).kind == "malformed"


class _Text(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str


class _Shout(msgspec.Struct, frozen=True):
    text: str


def _shout(value: _Text) -> _Shout:
    if value.text == "fail":
        raise ProviderFailure("provider_error", "shout refuses 'fail'")
    return _Shout(value.text.upper())


async def test_typed_python_tools(start_ctx: Callable[..., Any]) -> None:
    provider = tools_provider("local", {"shout": tool_function(_Text, _shout)})
    ctx = await start_ctx(
        providers=[provider], routes=Routes(tool={"*": "local"}), tools=["shout", "other"]
    )
    inbox, outbox = ctx.layout.tool_inbox("shout"), ctx.layout.tool_outbox("shout")
    commit_request(inbox, "ok", b'{"text": "hi"}')
    assert await answer(ctx, outbox, "ok") == ("resp", b'{"text":"HI"}')
    route = decode_route((outbox / "ok.route.json").read_bytes())
    assert (route.provider, route.model) == ("local", "local")
    for rid, body, kind, words in [
        ("typed", b'{"text": 3}', "malformed", "$.text"),
        ("extra", b'{"text": "a", "x": 1}', "malformed", "x"),
        ("refused", b'{"text": "fail"}', "provider_error", "refuses"),
    ]:
        commit_request(inbox, rid, body)
        which, data = await answer(ctx, outbox, rid)
        error = decode_error(data)
        assert (which, error.kind) == ("error", kind) and words in error.message, error
    commit_request(ctx.layout.tool_inbox("other"), "o", b"{}")
    which, data = await answer(ctx, ctx.layout.tool_outbox("other"), "o")
    assert which == "error" and "serves the tools ['shout']" in decode_error(data).message


class _Upstream:
    """A tiny OpenAI-compatible server on 127.0.0.1 recording what it received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, dict[str, Any]]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                upstream.seen.append((self.path, self.headers.get("authorization"), body))
                if body.get("model") == "fail":
                    self.send_response(503)
                    payload = b'{"error": "overloaded"}'
                else:
                    self.send_response(200)
                    reply = {
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [{"message": {"role": "assistant", "content": "pong"}}],
                    }
                    payload = json.dumps(reply).encode()
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        # serve_forever checks for shutdown every poll_interval (0.5 s by default).
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    yield server
    server.close()


async def test_openai_channel_forwards_with_key_from_env(
    start_ctx: Callable[..., Any], upstream: _Upstream, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    chan = root / "chan" / "local"
    write_channel(
        chan,
        Channel(
            id="local",
            url="https://api.example.invalid/v1",
            localurl=upstream.url,
            keyref="env:LF_CTX_TEST_KEY",
            mod="tiny",
        ),
    )
    environ = {"LF_CTX_TEST_KEY": "sk-test-123"}
    provider = openai_channel("local", chan, timeout_s=10, environ=environ)
    ctx = await start_ctx(
        providers=[provider], routes=Routes(api={"openai.chat": "local"}), root=root
    )
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_request(inbox, "c1", b'{"messages": [{"role": "user", "content": "ping"}]}')
    which, data = await answer(ctx, outbox, "c1")
    assert which == "resp", data
    assert msgspec.json.decode(data)["choices"][0]["message"]["content"] == "pong"
    path, auth, body = upstream.seen[0]
    assert (path, auth) == ("/v1/chat/completions", "Bearer sk-test-123")
    assert body["model"] == "tiny" and body["stream"] is False
    route = decode_route((outbox / "c1.route.json").read_bytes())
    assert (route.provider, route.model) == ("local", "tiny")
    assert (chan / "status").read_text().strip() == "ok"
    commit_request(inbox, "c2", b'{"model": "fail"}')
    which, data = await answer(ctx, outbox, "c2")
    assert which == "error" and "HTTP 503" in decode_error(data).message
    assert (chan / "status").read_text().strip() == "error: provider_error"
    # The key never reaches the tree.
    for file in root.rglob("*"):
        if file.is_file():
            assert b"sk-test-123" not in file.read_bytes(), file
    assert read_channel(chan).keyref == "env:LF_CTX_TEST_KEY"


async def test_openai_channel_unset_key_and_disabled(
    start_ctx: Callable[..., Any], upstream: _Upstream, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    chan = root / "chan" / "c"
    write_channel(chan, Channel(id="c", url=upstream.url, keyref="env:LF_CTX_UNSET_KEY"))
    environ: dict[str, str] = {}
    ctx = await start_ctx(
        providers=[openai_channel("c", chan, environ=environ)],
        routes=Routes(api={"*": "c"}),
        root=root,
    )
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_request(inbox, "k", b'{"model": "m"}')
    which, data = await answer(ctx, outbox, "k")
    assert which == "error" and "LF_CTX_UNSET_KEY" in decode_error(data).message
    environ["LF_CTX_UNSET_KEY"] = "v"
    (chan / "enabled").write_text("false\n")
    commit_request(inbox, "off", b'{"model": "m"}')
    which, data = await answer(ctx, outbox, "off")
    assert which == "error" and "disabled" in decode_error(data).message
    commit_request(ctx.layout.api_inbox("anthropic.messages"), "x", b"{}")
    which, data = await answer(ctx, ctx.layout.api_outbox("anthropic.messages"), "x")
    assert which == "error" and "openai.chat" in decode_error(data).message
    assert upstream.seen == []
    assert not os.environ.get("LF_CTX_UNSET_KEY")
