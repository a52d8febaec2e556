"""`lightflow run watch`, `run create|retry --follow`, `run retry` and `run submit` with a
body: a live table in a pseudo-terminal, JSON lines in a pipe, exit codes 0/1/130, and
bad input that exits 2 and changes nothing."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_run_verbs import Cli

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEPS = [f"s{n}" for n in range(1, 11)]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate: Path) -> Cli:
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(tmp_path / "runs.json"))
    return Cli(tmp_path, provider="gated_chat")


def lines_of(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def in_a_terminal(*argv: str, timeout: float = 120) -> tuple[int, str]:
    """`lightflow *argv` with stdout and stderr on a pseudo-terminal: its exit code and
    what the terminal received, escape sequences removed."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightflow_actors.cli", *argv],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_watch_in_a_pipe_prints_json_lines_and_exits_by_status(cli: Cli, gate: Path) -> None:
    code, out, err = cli("run", "create", "chain", "--id", "c1", "--follow")
    assert code == 1, err
    lines = lines_of(out)
    assert [line["type"] for line in lines[:-1]] == ["step"] * (len(lines) - 1)
    assert lines[-1] == {
        "type": "run",
        "run_id": "c1",
        "seq": 15,
        "status": "failed",
        "exit_code": 1,
    }
    last = {str(line["step"]): line for line in lines[:-1]}  # each step's last change
    assert [last[s]["status"] for s in STEPS] == ["succeeded"] * 4 + ["failed"] + ["planned"] * 5
    assert last["s5"]["attempt"] == 3 and "gate is closed" in str(last["s5"]["error"])
    assert all(isinstance(last[s]["duration_ms"], int) for s in STEPS[:5])
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)  # type: ignore[type-var]

    # Watching the settled run shows the same and ends at once, whoever drove it.
    code, again, _ = cli("run", "watch", "c1")
    assert code == 1 and lines_of(again) == lines

    gate.unlink()
    code, out, err = cli("run", "retry", "c1", "--follow", "--json")
    assert code == 0, err
    lines = lines_of(out)
    assert lines[-1]["status"] == "succeeded" and lines[-1]["exit_code"] == 0
    retried = [line for line in lines if line["seq"] == 16]  # run.retried
    assert [(r["step"], r["status"], r["attempt"]) for r in retried] == [("s5", "planned", 3)]
    final = {str(line["step"]): line for line in lines[:-1]}
    assert {s: final[s]["attempt"] for s in STEPS} == {**dict.fromkeys(STEPS, 1), "s5": 4}

    code, out, err = cli("run", "retry", "c1")
    assert (code, out) == (1, "") and "succeeded; there is nothing to retry" in err


def test_a_cancelled_run_exits_130_and_an_unknown_one_1(cli: Cli) -> None:
    cli.json("run", "create", "chain", "--id", "c2", "--no-wait")
    cli.json("run", "cancel", "c2", "--reason", "enough")
    code, out, _ = cli("run", "watch", "c2", "--json")
    assert code == 130
    lines = lines_of(out)
    assert lines[-1]["status"] == "cancelled" and lines[-1]["exit_code"] == 130
    assert {line["status"] for line in lines[-11:-1]} == {"cancelled"}
    code, out, err = cli("run", "watch", "nope")
    assert (code, out) == (1, "") and "no run 'nope'" in err


def test_watch_in_a_terminal_shows_a_live_table_and_the_final_status(cli: Cli, gate: Path) -> None:
    code, screen = in_a_terminal("run", "create", "chain", "--id", "t1", "--follow")
    assert code == 1, screen
    assert "run t1 failed (exit 1)" in screen
    assert "gate is closed" in screen
    for column in ("step", "status", "attempt", "duration", "cache"):
        assert column in screen
    assert "{" not in screen  # a table, not JSON lines

    gate.unlink()
    code, screen = in_a_terminal("run", "retry", "t1", "--follow")
    assert code == 0, screen
    assert "run t1 succeeded (exit 0)" in screen
    table = screen[screen.rindex("t1 · chain · succeeded") :]
    rows = {
        cells[0]: cells[1:]
        for line in table.splitlines()
        if (cells := [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]) and cells[0] in STEPS
    }
    assert set(rows) == set(STEPS)
    assert all(row[0] == "succeeded" for row in rows.values())
    assert rows["s5"][1] == "4" and rows["s1"][1] == "1"

    code, screen = in_a_terminal("run", "watch", "t1")
    assert code == 0 and "run t1 succeeded (exit 0)" in screen and "s10" in screen


def test_follow_flags_are_checked(cli: Cli) -> None:
    for argv, words in (
        (["run", "create", "chain", "--follow", "--no-wait"], "exclude each other"),
        (["run", "create", "chain", "--json"], "--json goes with --follow"),
        (["run", "retry", "x", "--json"], "--json goes with --follow"),
        (["run", "watch"], "required: run"),
        (["run", "watch", "a", "b"], "unrecognized arguments: b"),
        (["run", "watch", "a", "--json", "--json"], "more than once"),
        (["run", "watch", ".."], "reserved"),
        (["run", "retry", "a/b"], "'/'"),
    ):
        code, out, err = cli(*argv)
        assert (code, out) == (2, ""), (argv, err)
        assert words in err and err.count("\n") == 1
    assert cli.runs() == set()


# -- run submit with a body -------------------------------------------------------------------


def test_submit_sends_an_explicit_body(cli: Cli, tmp_path: Path) -> None:
    body = {"messages": [{"role": "user", "content": "inline"}], "model": "mock"}
    cli.json("run", "create", "greet", "--id", "g1", "--inputs", '{"name": "A"}', "--no-wait")
    view = cli.json("run", "submit", "g1", "hello", json.dumps(body))
    assert view["status"] == "succeeded" and view["steps"][0]["body"] == body  # type: ignore[index]
    output = json.loads((cli.state / "runs" / "g1" / "outputs" / "hello.json").read_text())
    assert output == {"text": "done: inline"}

    cli.json("run", "create", "greet", "--id", "g2", "--inputs", '{"name": "B"}', "--no-wait")
    request = tmp_path / "body.json"
    request.write_text(json.dumps({**body, "messages": [{"role": "user", "content": "file"}]}))
    assert cli.json("run", "submit", "g2", "hello", f"@{request}")["status"] == "succeeded"  # type: ignore[index]

    cli.json("run", "create", "greet", "--id", "g3", "--inputs", '{"name": "C"}', "--no-wait")
    stdin = json.dumps({**body, "messages": [{"role": "user", "content": "stdin"}]}).encode()
    assert cli.json("run", "submit", "g3", "hello", "-", stdin=stdin)["status"] == "succeeded"  # type: ignore[index]
    outputs = [
        json.loads((cli.state / "runs" / r / "outputs" / "hello.json").read_text())["text"]
        for r in ("g2", "g3")
    ]
    assert outputs == ["done: file", "done: stdin"]


@pytest.mark.parametrize(
    "body,stdin,words",
    [
        ('{"messages": ', b"", "not valid JSON"),
        ("[1, 2]", b"", "must be a JSON object, not an array"),
        ("7", b"", "must be a JSON object, not int"),
        ('"text"', b"", "must be a JSON object, not str"),
        ("@/nonexistent/body.json", b"", "cannot read the file"),
        ("-", b'{"a": "\xff"}', "not valid UTF-8"),
        ("-", b"\xfe\xff", "not valid UTF-8"),
        ("-", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("-", b'{"a": "' + b"x" * (1 << 20) + b'"}', "larger than"),
        ("x" * ((1 << 20) + 1), b"", "larger than"),
    ],
)
def test_a_bad_body_exits_2_and_changes_nothing(
    cli: Cli, body: str, stdin: bytes, words: str
) -> None:
    cli.json("run", "create", "greet", "--id", "g1", "--inputs", '{"name": "A"}', "--no-wait")
    events = (cli.state / "runs" / "g1" / "events.jsonl").read_bytes()
    code, out, err = cli("run", "submit", "g1", "hello", body, stdin=stdin)
    assert (code, out) == (2, ""), err
    assert words in err and err.count("\n") == 1
    assert (cli.state / "runs" / "g1" / "events.jsonl").read_bytes() == events


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_any_body_on_stdin_is_taken_or_refused_with_one_line(cli: Cli, data: bytes) -> None:
    # A run that does not exist: a body that decodes reaches the host (exit 1, no run);
    # one that does not is a usage error before anything is asked.
    code, out, err = cli("run", "submit", "none", "hello", "-", stdin=data)
    assert out == "" and err.count("\n") == 1
    assert code in (1, 2)
    if code == 1:
        assert "no run 'none'" in err
    assert cli.runs() == set()


def test_a_step_that_is_not_ready_is_refused_with_or_without_a_body(cli: Cli) -> None:
    cli.json("run", "create", "chain", "--id", "c1", "--no-wait")
    for extra in ([], ['{"x": 1}']):
        code, out, err = cli("run", "submit", "c1", "s2", *extra)
        assert (code, out) == (1, "") and "waits for s1" in err
    assert cli.json("run", "status", "c1")["status"] == "planned"  # type: ignore[index]


# -- the README's "Follow and retry a run" commands, as written ---------------------------------

README = Path(__file__).resolve().parents[3] / "README.md"


def _readme_commands() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("## Follow and retry a run") :]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    prefix = ["uv", "run", "--frozen", "lightflow"]
    commands = [shlex.split(line) for line in block.group(1).splitlines() if line.strip()]
    assert all(c[:4] == prefix for c in commands), commands
    return [c[4:] for c in commands]


def test_the_readme_follow_and_retry_commands_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded defaults (repository assets, local providers), state in a temp folder.
    cli = Cli(tmp_path)
    cli.config.write_text(json.dumps({"state_dir": str(cli.state)}))
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(cli.config))
    results = [cli(*argv) for argv in _readme_commands()]
    assert [code for code, _, _ in results] == [0, 0, 0, 0, 1], results
    followed = lines_of(results[0][1])
    assert followed[-1] == {
        "type": "run",
        "run_id": "wc-1",
        "seq": 3,
        "status": "succeeded",
        "exit_code": 0,
    }
    assert lines_of(results[1][1]) == followed
    submitted = json.loads(results[3][1])
    assert submitted["steps"][0]["body"] == {"text": "three short words"}
    output = cli.state / "runs" / "wc-2" / "outputs" / "count.json"
    assert json.loads(output.read_text()) == {"words": 3, "lines": 1}
    assert "nothing to retry" in results[4][2]

    raw = cli.raw("stream", "snapshot", "wc-1")  # `> wc-1.fb`
    assert raw[4:8] == b"LFRS"


def test_watch_follows_a_run_another_process_drives(cli: Cli, gate: Path) -> None:
    gate.unlink()
    cli.json("run", "create", "chain", "--id", "w1", "--no-wait")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "lightflow_actors.cli", "run", "watch", "w1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert watcher.stderr is not None
        hint = watcher.stderr.readline()  # written once the journal was read: still planned
        assert "is planned and has not started" in hint and "run refresh w1" in hint
        assert cli.json("run", "refresh", "w1")["status"] == "succeeded"  # type: ignore[index]
        out, _ = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0
    lines = lines_of(out)  # stdout is a pipe: JSON lines without --json
    assert lines[-1]["status"] == "succeeded" and lines[-1]["exit_code"] == 0
    succeeded = [line["step"] for line in lines[:-1] if line["status"] == "succeeded"]
    assert succeeded == STEPS


def test_ctrl_c_stops_a_watch_with_130_and_gives_the_terminal_back(cli: Cli) -> None:
    cli.json("run", "create", "chain", "--id", "i1", "--no-wait")  # nothing drives it
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightflow_actors.cli", "run", "watch", "i1"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    try:
        while b"has not started" not in seen:  # the table is up, then the hint
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, seen
            seen += os.read(master, 65536)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        while True:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert code == 130
    screen = ANSI.sub("", seen.decode("utf-8", "replace"))
    assert "i1 · chain · planned" in screen and "Traceback" not in screen
    assert seen.rindex(b"\x1b[?25l") < seen.rindex(b"\x1b[?25h")  # the cursor is back
