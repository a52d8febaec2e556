"""``Session[S]``: the lifecycle checked by mypy, and still checked at runtime."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lightflow_actors.isa import (
    LifecycleError,
    Mount,
    Patch,
    Patched,
    ReferenceProgram,
    Render,
    Rendered,
    Session,
    Shutdown,
    Stopped,
    Submit,
    Subscribe,
    Subscribed,
)

ROOT = Path(__file__).parents[2]

GOOD = """\
from lightflow_actors.isa import (
    Closed, Joined, Live, Mount, Mounted, Patch, ReferenceProgram, Render, Session,
    Shutdown, Submit, Subscribe,
)

joined: Session[Joined] = Session.start(ReferenceProgram()).subscribe(Subscribe(topic="t"))
mounted: Session[Mounted] = joined.mount(Mount(id="s1", target="counter"))
mounted = mounted.subscribe(Subscribe(topic="u"))
live: Session[Live] = mounted.render(Render())
live = live.submit(Submit(event="inc")).patch(Patch(diff={"n": 1})).render(Render())
live = live.subscribe(Subscribe(topic="t", off=True))
closed: Session[Closed] = live.shutdown(Shutdown(reason="normal"))
dead_render: Session[Live] = Session.start(ReferenceProgram()).mount(
    Mount(id="s2", target="page")
).render(Render())
"""

# Each line marked "# E" must be rejected by mypy; nothing else may be.
BAD = """\
from lightflow_actors.isa import Mount, Patch, ReferenceProgram, Render, Session, Shutdown, Submit
from lightflow_actors.isa import Subscribe

fresh = Session.start(ReferenceProgram())
fresh.patch(Patch(diff={}))  # E: Patch before Mount
mounted = fresh.mount(Mount(id="s1", target="counter"))
mounted.submit(Submit(event="inc"))  # E: Submit before Render
live = mounted.render(Render())
live.mount(Mount(id="s1", target="again"))  # E: second Mount
closed = live.shutdown(Shutdown())
closed.submit(Submit(event="inc"))  # E: Submit after Shutdown
closed.shutdown(Shutdown())  # E: Shutdown twice
fresh.subscribe(Subscribe(topic="t")).render(Render())  # E: Render while joined
"""


# A run has the session's lifecycle: its program is a `RunProgram`, its handle a Session.
RUN_GOOD = """\
from lightflow_actors.flow import ResolvedWorkflow, RunProgram
from lightflow_actors.isa import Closed, Live, Mount, Render, Session, Shutdown, Submit


def drive(workflow: ResolvedWorkflow, mount: Mount, wake: Submit) -> Session[Closed]:
    live: Session[Live] = Session.start(RunProgram(workflow)).mount(mount).render(Render())
    return live.submit(wake).shutdown(Shutdown(reason="cancelled", detail="not needed"))
"""

RUN_BAD = """\
from lightflow_actors.flow import ResolvedWorkflow, RunProgram
from lightflow_actors.isa import Mount, Session, Submit


def drive(workflow: ResolvedWorkflow, mount: Mount, wake: Submit) -> None:
    run = Session.start(RunProgram(workflow))
    run.submit(wake)  # E: Submit to a run that was never mounted
    mounted = run.mount(mount)
    mounted.submit(wake)  # E: Submit before the run is rendered (live)
"""


def _mypy(cache: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    # A private cache: mypy replays cached errors of an unchanged module with the
    # path it had when cached, which would point into another test's tmp_path.
    uv = shutil.which("uv")
    command = [uv, "run", "--frozen", "mypy"] if uv else [sys.executable, "-m", "mypy"]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(
        [
            *command,
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            *map(str, files),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _reported(output: str, path: Path) -> set[int]:
    return {
        int(line.split(":")[1])
        for line in output.splitlines()
        if line.startswith(str(path)) and ": error:" in line
    }


def _marked(source: str) -> set[int]:
    return {n for n, line in enumerate(source.splitlines(), 1) if "# E" in line}


def test_mypy_accepts_the_lifecycle_and_rejects_out_of_order_calls(tmp_path: Path) -> None:
    good = tmp_path / "good_session.py"
    bad = tmp_path / "bad_session.py"
    good_run = tmp_path / "good_run.py"
    bad_run = tmp_path / "bad_run.py"
    good.write_text(GOOD)
    bad.write_text(BAD)
    good_run.write_text(RUN_GOOD)
    bad_run.write_text(RUN_BAD)
    result = _mypy(tmp_path / ".mypy_cache", good, bad, good_run, bad_run)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "good_session.py" not in output, output
    assert "good_run.py" not in output, output
    assert _reported(output, bad) == _marked(BAD), output
    assert _reported(output, bad_run) == _marked(RUN_BAD), output
    assert 'Invalid self argument "Session[Mounted]" to attribute function "submit"' in output
    assert 'Invalid self argument "Session[Disconnected]" to attribute function "patch"' in output
    assert 'Invalid self argument "Session[Closed]" to attribute function "shutdown"' in output


def test_session_handles_carry_the_effects_of_their_call() -> None:
    joined = Session.start(ReferenceProgram()).subscribe(Subscribe(topic="t"))
    assert joined.effects == (Subscribed(topic="t"),)
    mounted = joined.mount(Mount(id="s1", target="counter", params={"n": 0}))
    assert (mounted.phase, mounted.effects) == ("mounted", ())
    live = mounted.render(Render())
    assert live.effects == (Rendered(view={"id": "s1", "target": "counter", "state": {"n": 0}}),)
    live = live.patch(Patch(diff={"n": 1}))
    assert live.effects == (Patched(diff={"n": 1}),)
    closed = live.shutdown(Shutdown(reason="timeout"))
    assert closed.phase == "closed"
    assert closed.effects[-1] == Stopped(reason="timeout")


def test_a_stale_handle_is_still_refused_at_runtime() -> None:
    fresh = Session.start(ReferenceProgram())
    fresh.mount(Mount(id="s1", target="counter"))
    # ``fresh`` is still typed Session[Disconnected], but the session moved on.
    with pytest.raises(LifecycleError, match="Mount rejected: the session or run is mounted"):
        fresh.mount(Mount(id="s1", target="counter"))


def test_leaving_before_joining_is_a_runtime_error_only() -> None:
    with pytest.raises(LifecycleError, match="nothing is subscribed yet"):
        Session.start(ReferenceProgram()).subscribe(Subscribe(topic="t", off=True))


def test_untyped_code_gets_the_runtime_check() -> None:
    untyped: object = Session.start(ReferenceProgram())
    with pytest.raises(LifecycleError, match="Submit rejected: the session or run is disconnected"):
        untyped.submit(Submit(event="x"))  # type: ignore[attr-defined]
