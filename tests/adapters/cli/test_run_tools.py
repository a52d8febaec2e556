"""Tool steps through `lightflow run create`: the shipped `word-count` and `article`
workflows on the embedded defaults (the built-in `local-tools` provider, no network), and a
subprocess tool that reads its JSON input on stdin and answers JSON; hostile tool output
fails the step with a clear error."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import textwrap
from pathlib import Path

import pytest

from lightflow_actors.adapters.cli import main

Json = dict[str, object]


class Lightflow:
    """`lightflow` in this process, with the environment a test set up."""

    def __init__(self, state: Path) -> None:
        self.state = state  # the runs state folder (`<state>/runs/<id>/`)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        raw = io.BytesIO()  # the CLI writes NDJSON to sys.stdout.buffer
        out = io.TextIOWrapper(raw, encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        out.flush()
        return code, raw.getvalue().decode(), err.getvalue()

    def lines(self, *argv: str) -> list[Json]:
        code, out, err = self(*argv)
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]

    def output(self, run_id: str, step: str) -> Json:
        value: Json = json.loads(
            (self.state / "runs" / run_id / "outputs" / f"{step}.json").read_text()
        )
        return value


@pytest.fixture
def defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lightflow:
    """No config file, no mount, the package's assets: what a fresh machine runs."""
    for name in (
        "LIGHTFLOW_RUNS_CONFIG",
        "LIGHTFLOW_ASSETS",
        "LIGHTFLOW_CTX_MOUNT",
        "LIGHTFLOW_CTX_UID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return Lightflow(tmp_path / "state" / "lightflow")


def test_word_count_runs_on_the_default_config(defaults: Lightflow) -> None:
    text = "one two three\nfour"
    code, out, err = defaults(
        "run", "create", "word-count", "--id", "wc1", "--inputs", json.dumps({"text": text})
    )
    assert code == 0, err
    view = json.loads(out)
    assert view["status"] == "succeeded" and view["steps"][0]["attempts"] == 1
    assert defaults.output("wc1", "count") == {"words": 4, "lines": 2}
    events = defaults.lines("run", "events", "wc1")
    assert [(e["event"], e.get("step")) for e in events] == [
        ("run.created", None),
        ("step.submitted", "count"),
        ("step.succeeded", "count"),
    ]
    committed, observed = defaults.lines("run", "trace", "wc1")
    request_id = events[1]["request_id"]
    assert committed["record"] == "cortex.request.committed"
    assert str(committed["path"]).endswith(f"/tool/wordcount/invoke/inbox/{request_id}.req.json")
    assert observed["record"] == "cortex.response.observed"
    assert str(observed["path"]).endswith(f"/tool/wordcount/invoke/outbox/{request_id}.resp.json")
    route = dict(observed["route"])  # type: ignore[call-overload]
    assert str(route.pop("idempotency_key")).startswith("lf-")  # specs/cortexfs-abi.md
    assert route == {
        "provider": "local-tools",
        "model": "builtin",
        "reason": "route tool/wordcount -> local-tools",
    }
    # The request the tool got is the step's typed input, as committed.
    served = Path(str(committed["path"])).with_name(f"{request_id}.done")
    assert json.loads(served.read_text()) == {"text": text}


def test_article_runs_on_the_default_config(defaults: Lightflow) -> None:
    code, out, err = defaults(
        "run", "create", "article", "--id", "a1", "--inputs", '{"topic": "tea", "words": 50}'
    )
    assert code == 0, err
    view = json.loads(out)
    steps = ["plan", "write-draft", "write-review", "plan-size", "summary", "notify"]
    assert view["status"] == "succeeded"
    assert [(s["id"], s["status"], s["attempts"]) for s in view["steps"]] == [
        (s, "succeeded", 1) for s in steps
    ]
    plan = str(defaults.output("a1", "plan")["text"])
    words = len(plan.split())
    assert defaults.output("a1", "plan-size") == {"words": words, "lines": len(plan.splitlines())}
    assert f"The plan had {words} words" in str(defaults.output("a1", "summary")["text"])
    assert str(defaults.output("a1", "notify")["text"]).startswith("echo: New article on tea: ")

    events = defaults.lines("run", "events", "a1")
    assert [e["seq"] for e in events] == list(range(1, 14))
    order = [(e["event"], e.get("step")) for e in events]
    assert order[0] == ("run.created", None)
    for step in steps:  # each step once, submitted before it succeeded
        assert order.count(("step.submitted", step)) == order.count(("step.succeeded", step)) == 1
        assert order.index(("step.submitted", step)) < order.index(("step.succeeded", step))
    for before, after in [
        ("plan-size", "summary"),
        ("write-review", "summary"),
        ("plan", "plan-size"),
    ]:
        assert order.index(("step.succeeded", before)) < order.index(("step.submitted", after))

    trace = defaults.lines("run", "trace", "a1")
    routes = {r["step"]: r["route"] for r in trace if r["record"] == "cortex.response.observed"}
    providers = {step: route and route["provider"] for step, route in routes.items()}  # type: ignore[index]
    assert providers == {
        "plan": "local-echo",
        "write-draft": "local-echo",
        "write-review": "local-echo",
        "plan-size": "local-tools",
        "summary": "local-echo",
        "notify": None,  # threads have no route file
    }
    assert sum(r["record"] == "cortex.request.committed" for r in trace) == 6
    assert not any(r["record"] == "cortex.error.observed" for r in trace)


# A json-mode tool program: its input on stdin, its output on stdout; some inputs make it
# misbehave the ways a real tool can.
TOOL = """
import json, sys
text = json.load(sys.stdin)["text"]
if text == "prose":
    print("I counted them all!")
elif text == "flood":
    print("[" * 5000)
elif text == "crash":
    sys.exit("wordcount: out of ink")
elif text == "mistyped":
    print(json.dumps({"words": "many", "lines": 1}))
else:
    print(json.dumps({"words": len(text.split()), "lines": len(text.splitlines())}))
"""

COUNT_WORKFLOW = """
import msgspec
from lightflow_actors.flow import ToolStep, Workflow

METADATA = {"id": "count", "title": "Count", "kind": "workflow",
            "description": "One wordcount tool step, one attempt.", "stability": "stable"}


class Inputs(msgspec.Struct, frozen=True):
    text: str


class Counted(msgspec.Struct, frozen=True):
    words: int
    lines: int


DEFINITION = Workflow(
    inputs=Inputs,
    policy="once",
    steps=[ToolStep(id="count", tool="wordcount", input=Inputs, output=Counted,
                    request={"text": "{inputs.text}"})],
)
"""

ONCE_POLICY = """
from lightflow_actors.flow import Policy, RetryPolicy

METADATA = {"id": "once", "title": "Once", "kind": "policy",
            "description": "One attempt, no cache.", "stability": "stable"}
DEFINITION = Policy(retry=RetryPolicy(max_attempts=1), cache=False)
"""


@pytest.fixture
def subprocess_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lightflow:
    """A runs config routing the tool `wordcount` to a json-mode subprocess tool."""
    assets = tmp_path / "assets"
    for folder, name, source in [
        ("workflows", "count.py", COUNT_WORKFLOW),
        ("policies", "once.py", ONCE_POLICY),
    ]:
        (assets / folder).mkdir(parents=True, exist_ok=True)
        (assets / folder / name).write_text(textwrap.dedent(source))
    program = tmp_path / "wordcount.py"
    program.write_text(TOOL)
    config = {
        "state_dir": str(tmp_path / "state"),
        "assets": str(assets),
        "providers": [
            {"kind": "echo"},
            {
                "kind": "subprocess",
                "name": "wc",
                "argv": [sys.executable, str(program)],
                "output_limit": 1000,
            },
        ],
        "routes": {"api": {"*": "local-echo"}, "tool": {"wordcount": "wc"}},
    }
    (tmp_path / "runs.json").write_text(json.dumps(config))
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(tmp_path / "runs.json"))
    monkeypatch.chdir(tmp_path)
    return Lightflow(tmp_path / "state")


def test_a_subprocess_tool_reads_json_on_stdin_and_answers_json(
    subprocess_tool: Lightflow,
) -> None:
    code, out, err = subprocess_tool(
        "run", "create", "count", "--id", "ok", "--inputs", '{"text": "a b\\nc"}'
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert subprocess_tool.output("ok", "count") == {"words": 3, "lines": 2}
    observed = subprocess_tool.lines("run", "trace", "ok")[-1]
    route = dict(observed["route"])  # type: ignore[call-overload]
    assert str(route.pop("idempotency_key")).startswith("lf-")
    assert route == {
        "provider": "wc",
        "model": sys.executable,
        "reason": "route tool/wordcount -> wc",
    }


@pytest.mark.parametrize(
    "text,error",
    [
        (
            "prose",
            f"provider_error: tool 'wordcount' ({sys.executable!r}) wrote stdout that is not "
            "one JSON document",
        ),
        ("flood", f"output_limit: {sys.executable!r} wrote more than 1000 bytes"),
        ("crash", "exited with status 1; stderr: wordcount: out of ink"),
        ("mistyped", "step 'count' output does not match its schema: $.words: expected integer"),
    ],
)
def test_hostile_tool_output_fails_the_step_clearly(
    subprocess_tool: Lightflow, text: str, error: str
) -> None:
    inputs = json.dumps({"text": text})
    code, out, err = subprocess_tool("run", "create", "count", "--id", "bad", "--inputs", inputs)
    assert code == 1
    view = json.loads(out)
    assert view["status"] == "failed"
    assert error in view["steps"][0]["error"] and error in err
    events = subprocess_tool.lines("run", "events", "bad")
    assert [e["event"] for e in events] == ["run.created", "step.submitted", "step.failed"]
    assert events[-1]["retry_at_ms"] is None
    trace = subprocess_tool.lines("run", "trace", "bad")
    records = [r["record"] for r in trace]
    assert records[0] == "cortex.request.committed"
    assert records[-1] == "cortex.error.observed" and error in str(trace[-1]["error"])
