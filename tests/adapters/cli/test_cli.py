"""The `lightflow` command line: strict parsing, the verb-group table, and `lightflow tree`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from lightflow_actors.adapters.cli import (
    GROUPS,
    StrictParser,
    UsageError,
    VerbGroup,
    build_parser,
    main,
)
from lightflow_actors.adapters.cli._tree import render
from lightflow_actors.adapters.http import TreeNode

from ...serve_process import lightflow_serve


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        ([], "required: VERB"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "extra"], "unrecognized arguments: extra"),
        (["serve", "--port"], "--port: expected one argument"),
        (["serve", "--port", "1", "--port", "2"], "--port is given more than once"),
        (["serve", "--port=1", "--port", "1"], "--port is given more than once"),
        (["serve", "--demo", "--demo"], "--demo is given more than once"),
        (["serve", "--po", "1"], "unrecognized arguments: --po 1"),
        (["serve", "--port", "x"], "invalid port 'x'"),
        (["serve", "--port", "65536"], "invalid port 65536"),
        (["serve", "--host", ""], "must not be empty"),
        (["serve", "--token", " "], "must not be empty"),
        (["serve", "--host", "0.0.0.0"], "without a token"),
        (["serve", "--max-connections", "0"], "invalid count 0: expected at least 1"),
        (["serve", "--max-websockets", "x"], "invalid count 'x'"),
        (["serve", "--max-ws-message-bytes", "-1"], "invalid count -1"),
        (["tree", "--root", "x"], "invalid int value"),
        (["tree", "--json", "--json"], "--json is given more than once"),
        (["tree", "--url"], "--url: expected one argument"),
    ],
)
def test_usage_errors_exit_2_with_one_line_on_stderr(
    argv: list[str],
    phrase: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIGHTFLOW_TOKEN", raising=False)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("lightflow")
    assert phrase in err


words = st.sampled_from(
    [
        "serve",
        "tree",
        "--host",
        "--port",
        "--token",
        "--demo",
        "--url",
        "--root",
        "--json",
        "127.0.0.1",
        "0",
        "5174",
        "-1",
        "x",
        "--",
        "-",
        "--port=",
        "--demo=1",
        "",
        "serve tree",
    ]
)


@given(st.lists(words, max_size=8))
def test_any_argv_parses_or_is_a_usage_error(argv: list[str]) -> None:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("lightflow")
        return
    assert args.verb in {"serve", "tree"}
    assert callable(args.handler)
    flags = [w.split("=")[0] for w in argv if w.startswith("--") and w != "--"]
    assert len(flags) == len(set(flags))  # nothing given twice got through


def test_adding_a_verb_group_is_one_table_entry(capsys: pytest.CaptureFixture[str]) -> None:
    def configure(parser: StrictParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        shout = sub.add_parser("shout")
        shout.add_argument("word")
        shout.add_argument("--times", type=int, default=1)
        shout.set_defaults(handler=lambda a: print(json.dumps([a.word.upper()] * a.times)) or 0)

    parser = build_parser([*GROUPS, VerbGroup("echo", "say it back", configure)])
    args = parser.parse_args(["echo", "shout", "hi", "--times", "2"])
    assert args.handler(args) == 0
    assert json.loads(capsys.readouterr().out) == ["HI", "HI"]
    for bad in (
        ["echo", "shout"],
        ["echo", "shout", "a", "b"],
        ["echo", "shout", "a", "--times", "1", "--times", "2"],
    ):
        with pytest.raises(UsageError, match="lightflow echo shout"):
            parser.parse_args(bad)
    assert {"serve", "tree"} <= {g.name for g in GROUPS}


def test_help_exits_0() -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["serve", "--help"])
    assert info.value.code == 0


def test_a_verb_imports_only_its_own_module() -> None:
    """`lightflow --help`, `lightflow new` and `lightflow tree` never import the host, MCP,
    the HTTP app or the runs: a group's module is imported when its verb is parsed, and
    `tree` reads the operator API's records from `adapters.operator_api` (checked in a
    fresh interpreter, by what is in `sys.modules`, never by time)."""
    code = (
        "import sys\n"
        "from lightflow_actors.adapters.cli import main\n"
        "for argv in (['--help'], ['new', '--help'], ['new', 'project', '--help'],\n"
        "             ['tree', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, argv\n"
        "heavy = ['lightflow_actors.host', 'lightflow_actors.adapters.http', 'mcp',\n"
        "         'lightflow_actors.runs', 'lightflow_actors.adapters.cli._serve',\n"
        "         'lightflow_actors.adapters.cli._run']\n"
        "print([name for name in heavy if name in sys.modules])\n"
        "assert 'lightflow_actors.adapters.cli._new' in sys.modules\n"
        "assert 'lightflow_actors.adapters.cli._tree' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def node(actor_id: int, parent: int | None, label: str, **extra: object) -> TreeNode:
    fields: dict[str, object] = dict(
        id=actor_id,
        name=None,
        kind="worker",
        actor_class="Worker",
        parent=parent,
        depth=0,
        children=[],
        status="idle",
        mailbox=0,
        processed=3,
        restarts=0,
        last_crash=None,
        child_id=label,
        restart="permanent",
        strategy=None,
    )
    fields.update(extra)
    return TreeNode(**fields)  # type: ignore[arg-type]


def test_render_nests_children_under_parents() -> None:
    nodes = [
        node(1, None, "top", kind="supervisor", strategy="one_for_one", children=[2, 3]),
        node(2, 1, "a", restarts=2, last_crash="RuntimeError: [boom]"),
        node(3, 1, "b", status="busy"),
    ]
    console = Console(record=True, width=200, color_system=None)
    console.print(render(nodes, "test · 3 actors"))
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0] == "test · 3 actors"
    assert lines[1].startswith("└── top Worker #1 one_for_one idle")
    assert "├── a Worker #2 idle" in lines[2] and "restarts 2 RuntimeError: [boom]" in lines[2]
    assert "└── b Worker #3 busy" in lines[3]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIGHTFLOW_TOKEN"}
    with lightflow_serve("--demo", "--port", "0", env=env) as url:
        yield url


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "lightflow"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lightflow_actors.cli"]
    return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=60)


def test_tree_prints_the_live_tree(server_url: str) -> None:
    done = run_cli("tree", "--url", server_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{server_url} · ")
    for label in (
        "demo",
        "pool",
        "worker-1",
        "worker-2",
        "worker-3",
        "ticker",
        "sessions",
        "gateway",
    ):
        assert label in done.stdout

    as_json = run_cli("tree", "--url", server_url, "--json")
    nodes = json.loads(as_json.stdout)
    pool = next(n for n in nodes if n["child_id"] == "pool")
    sub = json.loads(
        run_cli("tree", "--url", server_url, "--json", "--root", str(pool["id"])).stdout
    )
    assert [n["child_id"] for n in sub] == ["pool", "worker-1", "worker-2", "worker-3"]


def test_tree_errors_exit_1_with_one_line(server_url: str) -> None:
    missing = run_cli("tree", "--url", server_url, "--root", "999999")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "HTTP 404" in missing.stderr
    unreachable = run_cli("tree", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_strict_parser_keeps_positionals_and_abbreviations_off() -> None:
    parser = StrictParser(prog="x")
    parser.add_argument("--name")
    parser.add_argument("thing")
    assert parser.parse_args(["a", "--name", "n"]) == argparse.Namespace(
        name="n", thing="a", _lightflow_seen_flags={"name"}
    )
    with pytest.raises(UsageError, match="unrecognized arguments: --na n"):
        parser.parse_args(["a", "--na", "n"])


TOKEN = "pässwört-🔑-ключ"


def _serve_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_the_token_comes_from_a_file_the_flag_or_the_environment(tmp_path: Path) -> None:
    from lightflow_actors.adapters.cli._serve import choose_token

    secret = tmp_path / "token"
    secret.write_text(f"  {TOKEN}  \nignored second line\n")
    secret.chmod(0o600)
    env = {"LIGHTFLOW_TOKEN": "from-env"}
    assert choose_token(_serve_args("--token-file", str(secret)), env) == TOKEN
    assert choose_token(_serve_args("--token", "flag"), env) == "flag"
    assert choose_token(_serve_args(), env) == "from-env"
    assert choose_token(_serve_args(), {"LIGHTFLOW_TOKEN": "  "}) is None
    assert choose_token(_serve_args(), {}) is None


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (None, "cannot read --token-file"),
        (b"", "is empty"),
        (b"\n\nlater", "is empty"),
        (b"\xff\xfe token", "is not UTF-8"),
        (b"x" * 5000, "larger than 4096 bytes"),
    ],
)
def test_a_bad_token_file_is_a_usage_error(
    tmp_path: Path, content: bytes | None, phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    assert main(["serve", "--token-file", str(path), "--port", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and phrase in err and err.count("\n") == 1


def test_token_and_token_file_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--token", "a", "--token-file", str(tmp_path / "t")]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_help_says_where_the_token_should_come_from(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--token-file PATH" in text and "$LIGHTFLOW_TOKEN" in text
    assert "/proc/<pid>/cmdline" in text


@pytest.mark.parametrize("source", ["file", "environment"])
def test_a_non_ascii_token_from_a_file_or_the_environment_guards_the_server(
    tmp_path: Path, source: str
) -> None:
    import httpx

    env = {k: v for k, v in os.environ.items() if k != "LIGHTFLOW_TOKEN"}
    argv = [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"]
    if source == "file":
        secret = tmp_path / "token"
        secret.write_text(TOKEN + "\n")
        secret.chmod(0o600)
        argv += ["--token-file", str(secret)]
    else:
        env["LIGHTFLOW_TOKEN"] = TOKEN
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "server did not start"
        url = json.loads(line)["url"].rstrip("/")
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert TOKEN.encode() not in cmdline
        body = {"workflow": "no-such-workflow"}

        def post(authorization: bytes | None) -> int:
            # One connection per request: a refused request may close its connection.
            headers = [] if authorization is None else [(b"authorization", authorization)]
            with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
                return http.post("/runs", json=body, headers=headers).status_code

        assert post(None) == 401
        assert post(b"Bearer nope") == 403
        assert post(b"Bearer " + TOKEN.encode("utf-8")[:-2] + b"\xff") == 403
        assert post(b"Bearer " + TOKEN.encode()) == 404  # past the guard: no such workflow
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
