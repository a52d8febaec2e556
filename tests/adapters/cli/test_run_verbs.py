"""`lightflow assets|run|ctx|stream`: the verbs of DESIGN §7 on the embedded defaults (a
directory-backed /ctx tree under the state folder), with a Python-callable provider named
by a runs config file; strict argument handling; bad input exits 2 and writes nothing."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.cli import main
from lightflow_actors.flow.streams import decode_runtime_frame

from ...runs._support import hostile_assets

RUNS_TESTS = Path(__file__).resolve().parents[2] / "runs"


class Cli:
    """`lightflow` in this process, on a config in a temp folder."""

    def __init__(self, root: Path, provider: str = "chat") -> None:
        self.root = root
        self.state = root / "state"
        self.config = root / "runs.json"
        self.config.write_text(
            json.dumps(
                {
                    "state_dir": str(self.state),
                    "assets": str(RUNS_TESTS / "assets"),
                    "providers": [
                        {
                            "kind": "python",
                            "name": "mock",
                            "target": f"{RUNS_TESTS / '_providers.py'}:{provider}",
                        }
                    ],
                }
            )
        )

    def __call__(self, *argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        err = io.StringIO()
        old_stdin = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(argv))
        finally:
            sys.stdin = old_stdin
        out.flush()
        return code, out.buffer.getvalue().decode(), err.getvalue()  # type: ignore[attr-defined]

    def raw(self, *argv: str) -> bytes:
        """Stdout's bytes of a verb that exits 0 (a binary frame, say)."""
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        assert code == 0, err.getvalue()
        out.flush()
        return out.buffer.getvalue()  # type: ignore[attr-defined, no-any-return]

    def json(self, *argv: str, stdin: bytes = b"") -> object:
        code, out, err = self(*argv, stdin=stdin)
        assert code == 0, err
        return json.loads(out)

    def runs(self) -> set[str]:
        folder = self.state / "runs"
        return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(tmp_path / "runs.json"))
    return Cli(tmp_path)


def test_run_create_in_a_fresh_process_executes_the_dag(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"topic": "tea"}')
    env = {**os.environ, "LIGHTFLOW_RUNS_CONFIG": str(cli.config)}
    lightflow = [sys.executable, "-m", "lightflow_actors.cli"]
    done = subprocess.run(
        [*lightflow, "run", "create", "fanout", "--id", "p1", "--inputs", f"@{inputs}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["status"] == "succeeded" and len(view["steps"]) == 5
    events = subprocess.run(
        [*lightflow, "run", "events", "p1"], env=env, capture_output=True, text=True, timeout=60
    )
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert lines[0]["event"] == "run.created" and lines[-1]["event"] == "step.succeeded"
    assert len(lines) == 11
    assert (cli.state / "ctx" / "audit" / "events.jsonl").is_file()  # the embedded substrate


def test_every_verb_of_a_run(cli: Cli) -> None:
    workflows = cli.json("assets", "workflows")["assets"]  # type: ignore[index]
    assert {w["id"] for w in workflows} == {"chain", "fanout", "greet", "fails", "mistyped"}
    assert {m["id"] for m in cli.json("assets", "models")["assets"]} == {"mock"}  # type: ignore[index]
    preview = cli.json("run", "preview", "greet", "--inputs", '{"name": "Ada", "times": 2}')
    assert preview["steps"][0]["request"]["messages"][0]["content"] == "Greet Ada 2 times"  # type: ignore[index]
    assert cli.runs() == set()

    view = cli.json(
        "run", "create", "greet", "--id", "g1", "--inputs", "-", stdin=b'{"name": "Bo"}'
    )
    assert view["status"] == "succeeded"  # type: ignore[index]
    assert cli.json("run", "status", "g1") == {
        "run_id": "g1",
        "status": "succeeded",
        "steps": {"hello": "succeeded"},
    }
    assert cli.json("run", "get", "g1")["steps"][0]["attempts"] == 1  # type: ignore[index]
    assert cli.json("run", "request", "g1")["inputs"] == {"name": "Bo", "times": 1}  # type: ignore[index]
    assert cli.json("run", "workflow", "g1")["workflow"] == "greet"  # type: ignore[index]
    code, out, _ = cli("run", "trace", "g1")
    assert code == 0 and [json.loads(x)["record"] for x in out.splitlines()] == [
        "cortex.request.committed",
        "cortex.response.observed",
    ]
    assert [r["run_id"] for r in cli.json("run", "list")] == ["g1"]  # type: ignore[index]

    planned = cli.json(
        "run", "create", "greet", "--id", "g2", "--inputs", '{"name": "C"}', "--no-wait"
    )
    assert planned["status"] == "planned"  # type: ignore[index]
    assert cli.json("run", "submit", "g2", "hello")["status"] == "succeeded"  # type: ignore[index]
    cli.json("run", "create", "chain", "--id", "c1", "--no-wait")
    assert cli.json("run", "refresh", "c1")["status"] == "succeeded"  # type: ignore[index]
    cli.json("run", "create", "chain", "--id", "c2", "--no-wait")
    assert cli.json("run", "cancel", "c2", "--reason", "enough")["status"] == "cancelled"  # type: ignore[index]
    code, _, err = cli("run", "cancel", "c2")
    assert code == 1 and "already cancelled" in err
    code, out, err = cli("run", "create", "fails", "--id", "f1")
    assert code == 1 and json.loads(out)["status"] == "failed"
    assert "refuses FAIL" in err


def test_ctx_and_stream_verbs(cli: Cli, tmp_path: Path) -> None:
    abi = cli.json("ctx", "abi")
    assert abi["mount"] == str(cli.state / "ctx")  # type: ignore[index]
    api = cli.json("ctx", "api", "openai.chat", "req-1")
    assert api["files"]["request"].endswith("/api/openai.chat/inbox/req-1.req.json")  # type: ignore[index]
    assert cli.json("ctx", "tool", "wc")["inbox"].endswith("/tool/wc/invoke/inbox")  # type: ignore[index]
    thread = cli.json("ctx", "thread", "news", "m1")
    assert thread["files"]["route"] is None  # type: ignore[index]
    assert cli.json("ctx", "chan", "openai")["keyref"].endswith("/chan/openai/keyref")  # type: ignore[index]
    assert cli.json("ctx", "job", "nightly")["out"].endswith("/job/nightly/out.json")  # type: ignore[index]
    assert cli.json("ctx", "hook", "tick")["log"].endswith("/hook/tick/log.jsonl")  # type: ignore[index]
    for argv in (
        ("ctx", "job", "../x"),
        ("ctx", "tool", ".."),
        ("ctx", "api", "openai.chat", "a/b"),
    ):
        code, out, err = cli(*argv)
        assert (code, out) == (2, "") and "invalid" in err

    cli.json("run", "create", "greet", "--id", "s1", "--inputs", '{"name": "S"}')
    info = cli.json("stream", "info")
    assert info["file_identifier"] == "LFRS" and info["runs"][0]["run_id"] == "s1"  # type: ignore[index]
    assert cli.json("stream", "info", "s1")["snapshot"] == "runtime/streams/s1/snapshot.fb"  # type: ignore[index]
    assert "table RuntimeFrame" in cli.json("stream", "schema")["schema"]  # type: ignore[index]
    code, out, _ = cli("stream", "schema", "--raw")
    assert code == 0 and out.startswith("// LightFlow runtime frames")
    snap = cli.json("stream", "snapshot", "s1", "--json")
    frame = decode_runtime_frame(base64.b64decode(snap["frame_base64"]))  # type: ignore[index]
    assert (frame.kind.name, frame.status, frame.sequence) == ("RunSnapshot", "succeeded", 3)
    raw = cli.raw("stream", "snapshot", "s1")  # `lightflow stream snapshot s1 > s1.fb`
    assert raw == base64.b64decode(snap["frame_base64"])  # type: ignore[index]
    target = tmp_path / "s1.fb"
    written = cli.json("stream", "snapshot", "s1", "--out", str(target))
    assert written["path"] == str(target)  # type: ignore[index]
    assert decode_runtime_frame(target.read_bytes()).run_id == "s1"


@pytest.mark.parametrize(
    "argv,words",
    [
        (["run"], "required: VERB"),
        (["run", "launch", "greet"], "invalid choice"),
        (["run", "create"], "required: workflow"),
        (["run", "create", "greet", "--id"], "expected one argument"),
        (["run", "create", "greet", "--id", "a", "--id", "b"], "more than once"),
        (["run", "create", "greet", "--inp", "{}"], "unrecognized"),
        (["run", "create", "greet", "--colour", "red"], "unrecognized"),
        (["run", "get", "a", "b"], "unrecognized arguments: b"),
        (["run", "status"], "required: run"),
        (["assets"], "required: kind"),
        (["assets", "gadgets"], "invalid choice"),
        (["ctx", "api", "openai.chatty"], "invalid choice"),
        (["stream", "snapshot"], "required: run"),
        (["stream", "schema", "--raw", "--raw"], "more than once"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli: Cli, argv: list[str], words: str) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert words in err and err.count("\n") == 1
    assert cli.runs() == set()


@pytest.mark.parametrize(
    "argv,words",
    [
        (["run", "create", "greet", "--id", "..", "--inputs", '{"name": "x"}'], "reserved"),
        (["run", "create", "greet", "--id", "a/b", "--inputs", '{"name": "x"}'], "'/'"),
        (["run", "create", "greet", "--id", "a\x00b", "--inputs", '{"name": "x"}'], "NUL"),
        (["run", "create", "greet", "--id", "x" * 10_000, "--inputs", '{"name": "x"}'], "limit"),
        (["run", "create", "greet", "--inputs", '{"name": '], "not valid JSON"),
        (["run", "create", "greet", "--inputs", "[1]"], "JSON object"),
        (["run", "create", "greet", "--inputs", '{"name": 7}'], "$.name"),
        (["run", "create", "greet", "--inputs", '{"name": "x", "times": "2"}'], "$.times"),
        (["run", "create", "greet", "--inputs", "@/nonexistent/in.json"], "cannot read"),
        (["run", "create", "greet", "--inputs", "x" * (1 << 20 | 1)], "larger than"),
        (["run", "preview", "greet", "--inputs", "{}"], "name"),
        (["run", "create", "mistyped"], "{inputs.tags} is list[str]"),
        (["run", "preview", "mistyped"], "only str, int, float or bool"),
        (["run", "get", ".."], "reserved"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli: Cli, argv: list[str], words: str) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (2, ""), err
    assert words in err
    assert cli.runs() == set()


def test_unknown_things_exit_1(cli: Cli) -> None:
    for argv, words in (
        (["run", "get", "nope"], "no run 'nope'"),
        (["run", "create", "nope"], "no workflow asset 'nope'"),
        (["run", "submit", "nope", "s"], "no run"),
        (["stream", "snapshot", "nope"], "no run"),
    ):
        code, out, err = cli(*argv)
        assert (code, out) == (1, "") and words in err


def test_a_broken_asset_is_named_and_hides_nothing(cli: Cli, tmp_path: Path) -> None:
    assets = hostile_assets(tmp_path)
    document = json.loads(cli.config.read_text())
    settings = {"assets": str(assets), "evaluation": {"timeout_s": 2}}
    cli.config.write_text(json.dumps({**document, **settings}))
    code, out, err = cli("assets", "workflows")
    assert code == 0
    listing = json.loads(out)
    assert {"greet", "loop", "exits"} <= {a["id"] for a in listing["assets"]}
    broken = assets / "workflows" / "syntax.py"
    assert [(p["path"], p["line"], p["failure"]) for p in listing["problems"]] == [
        (str(broken), 2, "syntax")
    ]
    assert f"{broken}:2: syntax error" in err
    # os._exit(0) at top level: a clear error and exit 2, not a silent exit 0
    code, out, err = cli("run", "preview", "exits")
    assert (code, out) == (2, "")
    assert f"{assets / 'workflows' / 'exits.py'}:4: the asset called os._exit(0)" in err
    code, out, err = cli("run", "preview", "loop")
    assert (code, out) == (2, "") and "(failure: timeout)" in err and "loop.py:" in err
    created = cli.json("run", "create", "greet", "--id", "ok-1", "--inputs", '{"name": "x"}')
    assert created["status"] == "succeeded"  # type: ignore[index]
    assert cli.runs() == {"ok-1"}


words = st.sampled_from(
    [
        "run",
        "assets",
        "ctx",
        "stream",
        "create",
        "get",
        "list",
        "status",
        "events",
        "cancel",
        "preview",
        "submit",
        "refresh",
        "info",
        "schema",
        "snapshot",
        "abi",
        "api",
        "job",
        "workflows",
        "models",
        "greet",
        "nope",
        "--id",
        "--inputs",
        "--reason",
        "--no-wait",
        "--raw",
        "--out",
        "-",
        "{}",
        '{"name": "x"}',
        "..",
        "openai.chat",
    ]
)
argvs = st.lists(words | st.text(max_size=12), max_size=6)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=argvs)
def test_any_argv_exits_0_1_or_2_with_json_or_one_error(cli: Cli, argv: list[str]) -> None:
    code, out, err = cli(*argv)
    assert code in (0, 1, 2)
    if code == 2:
        assert out == "" and err
    if code == 0 and out and "--raw" not in argv and "snapshot" not in argv:
        for line in out.splitlines():
            msgspec.json.decode(line)


@pytest.fixture(autouse=True)
def _in_the_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Relative paths a generated argv names (`--out x`) land in the temp folder."""
    monkeypatch.chdir(tmp_path)
    yield


def test_lightflow_assets_adds_folders_that_shadow_by_id(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`$LIGHTFLOW_ASSETS` (os.pathsep-separated) adds folders to the configured assets:
    an overlay asset shadows the base asset of its id, listings name each asset's root,
    and an id in two overlays is a problem naming both."""
    base = RUNS_TESTS / "assets"
    one, two = tmp_path / "one", tmp_path / "two"
    greet = (base / "workflows" / "greet.py").read_text()
    mine = one / "workflows" / "greet.py"
    mine.parent.mkdir(parents=True)
    mine.write_text(greet.replace("Greet {inputs.name}", "Hi from mine {inputs.name}"))
    (one / "workflows" / "hello.py").write_text(greet.replace('"id": "greet"', '"id": "hello"'))
    monkeypatch.setenv("LIGHTFLOW_ASSETS", f"{one}{os.pathsep}{os.pathsep}{one}")
    listing = cli.json("assets", "workflows")
    found = {a["id"]: a for a in listing["assets"]}  # type: ignore[index]
    assert {"chain", "fanout", "greet", "hello"} <= set(found)
    assert (found["greet"]["root"], found["greet"]["path"]) == (str(one), str(mine))
    assert found["greet"]["shadows"] == str(base / "workflows" / "greet.py")
    assert (found["chain"]["root"], found["chain"]["shadows"]) == (str(base), None)
    created = cli.json("run", "create", "greet", "--id", "g-1", "--inputs", '{"name": "x"}')
    assert created["status"] == "succeeded"  # type: ignore[index]
    request = cli.json("run", "workflow", "g-1")
    assert "Hi from mine x" in json.dumps(request)
    # Two overlays declaring `greet`: a clear problem, and neither (nor the base) is taken.
    clash = two / "workflows" / "greet.py"
    clash.parent.mkdir(parents=True)
    clash.write_text(greet)
    monkeypatch.setenv("LIGHTFLOW_ASSETS", f"{one}{os.pathsep}{two}")
    code, out, err = cli("assets", "workflows")
    listing = json.loads(out)
    assert code == 0 and "greet" not in {a["id"] for a in listing["assets"]}
    assert sorted(p["path"] for p in listing["problems"]) == sorted([str(mine), str(clash)])
    assert {p["failure"] for p in listing["problems"]} == {"duplicate"}
    assert f"{base / 'workflows' / 'greet.py'} stays hidden" in err
    # A folder that does not exist is a config error naming the variable, not silence.
    monkeypatch.setenv("LIGHTFLOW_ASSETS", str(tmp_path / "nope"))
    code, out, err = cli("assets", "workflows")
    assert (code, out) == (1, "") and "LIGHTFLOW_ASSETS" in err and "is not a folder" in err
