"""The asset evaluator: resolution in a child process, its content-hash cache, and what it
makes of hostile inputs, hostile files and garbage on its pipe."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AssetCatalog,
    AssetError,
    AssetEvaluator,
    AssetExited,
    EvaluationLimits,
    Invalid,
    UnknownAsset,
    default_assets_root,
    resolve,
)
from lightflow_actors.flow._evaluation import Loading as LoadingFrame
from lightflow_actors.flow._evaluation import _decode_frames, encode_frame


def test_the_child_resolves_what_resolve_resolves_and_the_cache_spares_a_process(
    catalog: AssetCatalog, own_evaluator: AssetEvaluator
) -> None:
    mine = own_evaluator
    inputs = b'{"topic": "owls"}'
    assert mine.resolve(catalog, "article", inputs) == resolve(catalog, "article", inputs)
    assert mine.evaluations == 1
    mine.resolve(catalog, "article", inputs)
    mine.resolve(catalog, "article", {"topic": "owls"})  # a mapping is keyed by its JSON
    assert mine.evaluations == 2  # b'{"topic": "owls"}' vs b'{"topic":"owls"}'
    with pytest.raises(UnknownAsset):
        mine.resolve(catalog, "no-such-workflow")
    assert mine.evaluations == 2  # an unknown id needs no process


def test_an_edited_file_is_evaluated_again(tmp_path: Path, own_evaluator: AssetEvaluator) -> None:
    import shutil

    root = tmp_path / "assets"
    shutil.copytree(default_assets_root(), root)
    evaluator = own_evaluator
    first = evaluator.resolve(AssetCatalog.scan(root), "text-plan", b'{"topic": "tea"}')
    plan = root / "workflows" / "text_plan.py"
    plan.write_text(plan.read_text().replace('"title": "', '"title": "Edited '))
    again = evaluator.resolve(AssetCatalog.scan(root), "text-plan", b'{"topic": "tea"}')
    assert evaluator.evaluations == 2 and again.title == "Edited " + first.title


@pytest.mark.parametrize(
    "inputs",
    [
        b"\xff\xfe not utf-8",
        b'{"topic": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"topic": "' + b"x" * (2 << 20) + b'"}',
        b"[]",
        b"",
    ],
)
def test_hostile_inputs_are_typed_refusals_from_the_child(
    catalog: AssetCatalog, evaluator: AssetEvaluator, inputs: bytes
) -> None:
    with pytest.raises(Invalid) as err:  # InvalidInputs, or Invalid naming what broke
        evaluator.resolve(catalog, "text-plan", inputs)
    assert err.value.reason == "invalid" and not isinstance(err.value, AssetError)


def test_close_stops_an_evaluation_under_way(write_asset, tmp_path: Path) -> None:
    import threading

    write_asset(
        "workflows",
        "spin.py",
        'METADATA = {"id": "spin", "title": "T", "kind": "workflow", "description": "D", '
        '"stability": "draft"}\nwhile True:\n    pass\n',
    )
    evaluator = AssetEvaluator(EvaluationLimits(timeout_s=600))
    catalog = AssetCatalog.scan(tmp_path / "assets")
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            evaluator.resolve(catalog, "spin")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=evaluate)
    worker.start()
    while evaluator.evaluations == 0 or not evaluator._children:
        worker.join(0.01)
    evaluator.close()
    worker.join(60)
    assert not worker.is_alive()
    (error,) = errors
    assert isinstance(error, AssetExited) and "shutting down" in str(error)


@settings(max_examples=200)
@given(garbage=st.binary(max_size=300))
def test_any_bytes_on_the_pipe_decode_to_frames_or_nothing(garbage: bytes) -> None:
    frame = encode_frame(LoadingFrame("/a.py"))
    for output in (garbage, frame + garbage, garbage + frame, frame[:-1]):
        frames = _decode_frames(output)
        assert all(f is not None for f in frames)
    assert _decode_frames(frame + frame[:3]) == [LoadingFrame("/a.py")]


# -- warm workers (ADR 0110) ---------------------------------------------------------------

_MODEL = """
from lightflow_actors.flow import Model
METADATA = {"id": "m", "title": "M", "kind": "model", "description": "D", "stability": "draft"}
DEFINITION = Model(provider="echo", name="m", formats=("openai.chat",))
"""


def _workflow(inputs_class: str) -> str:
    return (
        "import msgspec\n"
        "from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow\n"
        'METADATA = {"id": "w", "title": "W", "kind": "workflow", "description": "D", '
        '"stability": "draft"}\n'
        f"{inputs_class}\n"
        'DEFINITION = Workflow(inputs=Inputs, steps=[ApiStep(id="s", format="openai.chat", '
        'model="m", prompt=ChatPrompt(user="{inputs.seed}"))])\n'
    )


_PLAIN = "class Inputs(msgspec.Struct, frozen=True):\n    seed: str = 'x'"
_COUNTING = (
    "CALLS = []\n"
    "class Inputs(msgspec.Struct):\n"
    "    seed: str = 'x'\n"
    "    def __post_init__(self):\n"
    "        CALLS.append(self.seed)\n"
    "        self.seed = f'{self.seed}#{len(CALLS)}'"
)


def _catalog(write_asset, tmp_path: Path, inputs_class: str) -> AssetCatalog:
    write_asset("models", "m.py", _MODEL)
    write_asset("workflows", "w.py", _workflow(inputs_class))
    return AssetCatalog.scan(tmp_path / "assets")


def test_new_inputs_of_inert_files_are_resolved_by_the_warm_worker_without_a_fork(
    write_asset, tmp_path: Path
) -> None:
    catalog = _catalog(write_asset, tmp_path, _PLAIN)
    evaluator = AssetEvaluator()
    try:
        seeds = ["a", "b", "c", "d"]
        resolved = [evaluator.resolve(catalog, "w", b'{"seed": "%s"}' % s.encode()) for s in seeds]
        assert resolved == [resolve(catalog, "w", b'{"seed": "%s"}' % s.encode()) for s in seeds]
        assert evaluator.evaluations == 4 and evaluator.processes == 1
        assert evaluator.warm_resolutions == 3
        # Refused inputs are answered by the worker too, which stays.
        with pytest.raises(Invalid):
            evaluator.resolve(catalog, "w", b'{"seed": 5}')
        evaluator.resolve(catalog, "w", b'{"seed": "e"}')
        assert evaluator.processes == 1 and evaluator.warm_resolutions == 5
        (worker,) = evaluator._warm.values()
    finally:
        evaluator.close()
    assert not evaluator._warm
    _wait_gone(worker.pid)


def test_files_whose_code_resolution_would_call_get_a_fresh_child_every_time(
    write_asset, tmp_path: Path
) -> None:
    """An inputs struct with `__post_init__` runs asset code at each resolution: never in a
    process that ran it for another one (each answer counts its own call only)."""
    catalog = _catalog(write_asset, tmp_path, _COUNTING)
    evaluator = AssetEvaluator()
    try:
        seeds = [evaluator.resolve(catalog, "w", b'{"seed": "%d"}' % n).inputs for n in range(4)]
        assert seeds == [{"seed": f"{n}#1"} for n in range(4)]
        assert evaluator.warm_resolutions == 0 and not evaluator._warm
        assert evaluator.processes == 4
    finally:
        evaluator.close()


def test_an_edited_file_is_not_resolved_by_the_worker_of_its_old_content(
    write_asset, tmp_path: Path
) -> None:
    catalog = _catalog(write_asset, tmp_path, _PLAIN)
    evaluator = AssetEvaluator()
    try:
        evaluator.resolve(catalog, "w", b'{"seed": "a"}')
        write_asset("workflows", "w.py", _workflow(_PLAIN.replace("'x'", "'y'")))
        edited = AssetCatalog.scan(tmp_path / "assets")
        assert evaluator.resolve(edited, "w", b"{}").inputs == {"seed": "y"}
        assert evaluator.processes == 2 and evaluator.warm_resolutions == 0
        # The old content's worker still answers for a catalog scanned before the edit,
        # and the file it finds changed on disk is executed again: that worker then goes.
        assert evaluator.resolve(catalog, "w", b"{}").inputs == {"seed": "y"}
        assert len(evaluator._warm) == 1
    finally:
        evaluator.close()


def test_no_warm_worker_when_the_limits_say_none(write_asset, tmp_path: Path) -> None:
    catalog = _catalog(write_asset, tmp_path, _PLAIN)
    evaluator = AssetEvaluator(EvaluationLimits(warm_workers=0))
    try:
        for seed in (b"a", b"b"):
            evaluator.resolve(catalog, "w", b'{"seed": "%s"}' % seed)
        assert evaluator.processes == 2 and not evaluator._warm
    finally:
        evaluator.close()


def _wait_gone(pid: int) -> None:
    import os
    import time

    for _ in range(500):  # the fork server reaps it; a condition, not a duration
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"warm worker {pid} still runs after close()")


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped by whoever adopted it, does
    not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_an_evaluator_dropped_without_close_stops_its_fork_server_and_warm_workers(
    write_asset, tmp_path: Path
) -> None:
    """Its fork server (a process and our end of its socket) and its warm workers (processes
    waiting on sockets we hold) are stopped when the evaluator is collected, not left
    running for the GC to warn about in whatever runs next, nor until the process exits."""
    import gc
    import time
    import warnings

    # What earlier tests on this worker left to the GC is collected first, outside the
    # strict block below: only this evaluator's leftovers may fail it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    dropped = AssetEvaluator()
    dropped.resolve(_catalog(write_asset, tmp_path, _PLAIN), "w", b'{"seed": "dropped"}')
    server = dropped._server
    assert server is not None and server.process.poll() is None
    (worker,) = dropped._warm.values()
    assert _running(worker.pid)
    del dropped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unclosed socket or a running Popen fails here
        gc.collect()
    assert server.process.returncode is not None  # killed and reaped
    assert server.sock.fileno() == -1  # closed
    for _ in range(500):  # killed; a condition, not a duration
        if not _running(worker.pid):
            break
        time.sleep(0.01)
    assert not _running(worker.pid)
