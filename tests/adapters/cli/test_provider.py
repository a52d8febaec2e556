"""`lightflow provider add|list|test` against a fake OpenAI-compatible server on
127.0.0.1, the README's "Use a real model" commands as written, and hostile input."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._fake_model import FakeModelServer
from .test_run_verbs import Cli

README = Path(__file__).resolve().parents[3] / "README.md"
KEY = "test-secret-key-123"


class Env:
    def __init__(self, root: Path, cli: Cli) -> None:
        self.root = root
        self.cli = cli
        self.config = root / "runs.json"
        self.ctx = root / "ctx"

    def json(self, *argv: str) -> Any:
        code, out, err = self.cli(*argv)
        assert code == 0, err
        value = json.loads(out)
        assert isinstance(value, dict)
        return value  # a JSON object, read by the asserts


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    config = tmp_path / "runs.json"
    config.write_text(
        json.dumps({"state_dir": str(tmp_path / "state"), "ctx": {"root": str(tmp_path / "ctx")}})
    )
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(config))
    monkeypatch.delenv("LIGHTFLOW_CTX_MOUNT", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cli = Cli.__new__(Cli)  # the in-process runner, on the config above
    cli.root, cli.state, cli.config = tmp_path, tmp_path / "state", config
    return Env(tmp_path, cli)


@pytest.fixture
def fake() -> Iterator[FakeModelServer]:
    with FakeModelServer(key=KEY) as server:
        yield server


def _readme_commands() -> list[str]:
    section = README.read_text().split("## Use a real model", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_section_runs_against_a_fake_openai_server(
    env: Env, fake: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs: list[Any] = []
    for line in _readme_commands():
        if line.startswith("export "):
            name, _, _ = line.removeprefix("export ").partition("=")
            monkeypatch.setenv(name, KEY)
            continue
        prefix = "uv run --frozen lightflow "
        assert line.startswith(prefix), line
        argv = shlex.split(
            line.removeprefix(prefix).replace("https://api.openai.com/v1", fake.base_url)
        )
        outputs.append(env.json(*argv))
    added, listing, tested, run = outputs
    assert added["channel_dir"] == str(env.ctx / "chan" / "openai")
    assert tested["text"] == "ok from fake" and tested["model"] == "gpt-4o-mini"
    assert run["status"] == "succeeded"
    providers = {p["name"]: p for p in listing["providers"]}
    assert providers["openai"]["key_set"] is True
    assert providers["openai"]["routes"] == ["api/openai.chat", "api/openai.responses"]
    assert providers["local-echo"]["routes"] == ["api/*", "thread/*"]
    # Both the test request and the run's step went to the server, with the key.
    chats = [r for r in fake.requests if r[0] == "/v1/chat/completions"]
    assert len(chats) == 2
    assert all(h["authorization"] == f"Bearer {KEY}" for _, h, _ in chats)
    assert chats[1][2]["model"] == "gpt-4o-mini" and chats[1][2]["stream"] is False
    assert "tea" in json.dumps(chats[1][2]["messages"])
    # The key is in no file; the channel names the variable.
    for path in env.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert (env.ctx / "chan" / "openai" / "keyref").read_text().strip() == "env:OPENAI_API_KEY"


def test_anthropic_add_and_test_speak_the_messages_api(
    env: Env, fake: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    env.json(
        "provider", "add", "anthropic", "--base-url", fake.base_url,
        "--key-env", "ANTHROPIC_API_KEY", "--model", "claude-x",
    )  # fmt: skip
    tested = env.json("provider", "test", "anthropic")
    assert tested["text"] == "ok from fake"
    path, headers, body = fake.requests[-1]
    assert path == "/v1/messages"
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert body["model"] == "claude-x" and body["max_tokens"] == 16
    config = json.loads(env.config.read_text())
    assert config["routes"]["api"]["anthropic.messages"] == "anthropic"
    assert {
        "kind": "anthropic",
        "name": "anthropic",
        "channel": "anthropic",
        "pin_model": True,
    } in config["providers"]


def test_openai_compatible_needs_no_key_and_routes_chat_only(env: Env) -> None:
    with FakeModelServer(key=None) as server:
        added = env.json(
            "provider", "add", "openai-compatible", "--base-url", server.base_url,
            "--name", "llama", "--model", "qwen",
        )  # fmt: skip
        assert added["provider"]["routes"] == ["api/openai.chat"]
        assert env.json("provider", "test", "llama")["text"] == "ok from fake"
        assert "authorization" not in server.requests[-1][1]
        # --model is what the server gets, not the model asset the shipped workflow names.
        code, out, err = env.cli("run", "create", "text-plan", "--inputs", '{"topic": "tea"}')
        assert code == 0 and json.loads(out)["status"] == "succeeded"
        assert server.requests[-1][2]["model"] == "qwen"
        # The CLI says who answered: its own providers, the chat route to the server.
        assert err.count("\n") == 1 and "lightflow run create: providers:" in err
        assert "this process serves" in err and "api/openai.chat -> llama" in err
        assert "api/* -> local-echo" in err


def test_without_model_the_step_names_the_model(env: Env) -> None:
    with FakeModelServer(key=None) as server:
        added = env.json("provider", "add", "openai-compatible", "--base-url", server.base_url)
        assert added["provider"]["pin_model"] is False
        run = env.json("run", "create", "text-plan", "--inputs", '{"topic": "tea"}')
        assert run["status"] == "succeeded"
        assert server.requests[-1][2]["model"] == "gpt-4o-mini"


def test_test_names_an_unset_key_variable(env: Env, fake: FakeModelServer) -> None:
    code, _, err = env.cli(
        "provider", "add", "openai", "--base-url", fake.base_url, "--key-env", "OPENAI_API_KEY"
    )
    assert code == 0 and "$OPENAI_API_KEY is unset" in err
    listing = env.json("provider", "list")
    openai = next(p for p in listing["providers"] if p["name"] == "openai")
    assert openai["key_set"] is False and "OPENAI_API_KEY" in openai["problem"]
    code, out, err = env.cli("provider", "test", "openai")
    assert (code, out) == (1, "")
    assert "OPENAI_API_KEY" in err and "unset" in err and "Traceback" not in err
    assert fake.requests == []


def test_test_names_a_wrong_key_and_an_unreachable_server(
    env: Env, fake: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    env.json(
        "provider", "add", "openai", "--base-url", fake.base_url, "--key-env", "OPENAI_API_KEY"
    )
    code, _, err = env.cli("provider", "test", "openai")
    assert code == 1 and "HTTP 401" in err and "bad key" in err
    env.json(
        "provider", "add", "openai-compatible", "--name", "gone",
        "--base-url", "http://127.0.0.1:9/v1",
    )  # fmt: skip
    code, _, err = env.cli("provider", "test", "gone")
    assert code == 1 and "127.0.0.1:9" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--base-url", "ftp://x/v1", "--key-env", "K"], "http:// or https://"),
        (["--base-url", "http:///v1", "--key-env", "K"], "with a host"),
        (["--base-url", "http://u:p@h/v1", "--key-env", "K"], "credentials"),
        (["--base-url", "http://h/v1\nx", "--key-env", "K"], "spaces/controls"),
        (["--base-url", "http://h:99999/v1", "--key-env", "K"], "not a URL"),
        (["--base-url", "http://h/" + "a" * 3000, "--key-env", "K"], "longer than"),
        (["--base-url", "http://h/v1", "--key-env", "sk-abc123"], "never the key"),
        (["--base-url", "http://h/v1"], "--key-env"),
        (["--base-url", "http://h/v1", "--key-env", "K", "--model", "a\nb"], "--model"),
        (["--base-url", "http://h/v1", "--key-env", "K", "--name", "../x"], "--name"),
    ],
)
def test_add_refuses_bad_input_and_writes_nothing(env: Env, argv: list[str], needle: str) -> None:
    before = env.config.read_bytes()
    code, out, err = env.cli("provider", "add", "openai", *argv)
    assert (code, out) == (2, "")
    assert needle in err and "Traceback" not in err
    assert env.config.read_bytes() == before
    assert not (env.ctx / "chan").exists()


def test_add_refuses_a_duplicate_name_unless_replace(env: Env, fake: FakeModelServer) -> None:
    args = ["provider", "add", "openai-compatible", "--base-url", fake.base_url]
    env.json(*args)
    code, _, err = env.cli(*args)
    assert code == 2 and "--replace" in err
    env.json(*args, "--replace", "--model", "m2")
    config = json.loads(env.config.read_text())
    assert [p["name"] for p in config["providers"]] == [
        "local-echo",
        "local-tools",
        "openai-compatible",
    ]
    assert (env.ctx / "chan" / "openai-compatible" / "mod").read_text().strip() == "m2"


def test_add_reports_an_unwritable_config(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file where the config's folder should be: no permission trick (tests may run as root).
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(blocker / "lightflow" / "runs.json"))
    code, out, err = env.cli(
        "provider", "add", "openai-compatible", "--base-url", "http://127.0.0.1:9/v1"
    )
    assert (code, out) == (1, "")
    assert "cannot write" in err and str(blocker) in err and "Traceback" not in err
    assert blocker.read_text() == "a file"


def test_add_never_overwrites_a_broken_config(env: Env) -> None:
    env.config.write_bytes(b'{"providers": [{"kind": "nope"}]}')
    code, _, err = env.cli("provider", "add", "openai-compatible", "--base-url", "http://h/v1")
    assert code == 1 and "runs config" in err
    assert env.config.read_bytes() == b'{"providers": [{"kind": "nope"}]}'


def test_test_refuses_an_unknown_or_non_http_provider(env: Env) -> None:
    code, _, err = env.cli("provider", "test", "nope")
    assert code == 2 and "no provider 'nope'" in err
    code, _, err = env.cli("provider", "test", "local-echo")
    assert code == 2 and "not an HTTP provider" in err


HOLD_LEASE = (
    "import sys; from pathlib import Path; from lightflow_actors.runs import Lease; "
    "lease = Lease.try_acquire(Path(sys.argv[1])); print(lease is not None, flush=True); "
    "sys.stdin.read()"
)


def test_a_run_against_a_tree_served_elsewhere_names_the_server(env: Env) -> None:
    from lightflow_actors.runs import tree_lease_path

    # Another process holds the tree lease, as a server does: the CLI does not serve the
    # tree, and says who does.
    path = tree_lease_path(env.root / "state", str(env.ctx))
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LEASE, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        code, out, err = env.cli(
            "run", "create", "text-plan", "--inputs", '{"topic": "t"}', "--no-wait"
        )
    finally:
        holder.communicate("", timeout=30)
    assert code == 0 and json.loads(out)["status"] == "planned"
    assert f"{env.ctx} is served by pid {holder.pid} (a lightflow server)" in err
    assert "this process serves" not in err


def test_a_runs_model_override_reaches_the_server_and_is_recorded(env: Env) -> None:
    with FakeModelServer(key=None) as server:
        env.json(
            "provider", "add", "openai-compatible", "--base-url", server.base_url,
            "--name", "llama",
        )  # fmt: skip
        run = env.json(
            "run", "create", "text-plan", "--id", "m1", "--model", "llama3.1:8b",
            "--inputs", '{"topic": "tea"}',
        )  # fmt: skip
        assert run["status"] == "succeeded" and run["model"] == "llama3.1:8b"
        assert server.requests[-1][2]["model"] == "llama3.1:8b"
        manifest = json.loads((env.cli.state / "runs" / "m1" / "manifest.json").read_text())
        request = json.loads((env.cli.state / "runs" / "m1" / "request.json").read_text())
        assert manifest["model"] == request["model"] == "llama3.1:8b"
        trace = [json.loads(line) for line in env.cli("run", "trace", "m1")[1].splitlines()]
        committed = [t for t in trace if t["record"] == "cortex.request.committed"]
        assert committed and {t["model"] for t in committed} == {"llama3.1:8b"}
        observed = [t for t in trace if t["record"] == "cortex.response.observed"]
        assert observed[0]["route"]["model"] == "llama3.1:8b"  # what the provider sent
        # A run without the override keeps the model its asset names.
        plain = env.json("run", "create", "text-plan", "--id", "m2", "--inputs", '{"topic": "x"}')
        assert plain.get("model") is None
        assert server.requests[-1][2]["model"] == "gpt-4o-mini"
    # A bad name is a usage error before anything is written.
    code, out, err = env.cli("run", "create", "text-plan", "--model", "a b", "--id", "bad")
    assert (code, out) == (2, "") and "--model 'a b' is not a model name" in err
    assert not (env.cli.state / "runs" / "bad").exists()


def test_remove_takes_a_provider_out_and_routes_go_back(env: Env) -> None:
    with FakeModelServer(key=None) as server:
        env.json(
            "provider", "add", "openai-compatible", "--base-url", server.base_url,
            "--name", "llama",
        )  # fmt: skip
        channel = env.ctx / "chan" / "llama"
        assert channel.is_dir()
        removed = env.json("provider", "remove", "llama")
        assert removed["name"] == "llama" and removed["channel_removed"] == str(channel)
        assert removed["routes"] == {"api/openai.chat": "local-echo"}
        assert not channel.exists()
        config = json.loads(env.config.read_text())
        assert all(p["name"] != "llama" for p in config.get("providers", []))
        assert "llama" not in json.dumps(config["routes"])
        names = [p["name"] for p in env.json("provider", "list")["providers"]]
        assert "llama" not in names
        run = env.json("run", "create", "text-plan", "--inputs", '{"topic": "tea"}')
        assert run["status"] == "succeeded" and len(server.requests) == 0  # echo answered
    # An unknown name is a usage error naming what is configured; nothing is written.
    before = env.config.read_bytes()
    code, out, err = env.cli("provider", "remove", "nope")
    assert (code, out) == (2, "") and "no provider 'nope'" in err
    assert env.config.read_bytes() == before


def test_remove_keeps_a_channel_on_request(env: Env) -> None:
    with FakeModelServer(key=None) as server:
        env.json("provider", "add", "openai-compatible", "--base-url", server.base_url)
    removed = env.json("provider", "remove", "openai-compatible", "--keep-channel")
    assert removed["channel_removed"] is None
    assert (env.ctx / "chan" / "openai-compatible" / "url").is_file()
