"""Retrying a failed run from its failure frontier, explicit request bodies, and the step
status every manifest carries: the pure parts (`retry_run`, `RunProgram`) and the run
actor started for a retry (`RunActor(start_with=...)`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.flow import (
    Answer,
    AnswerError,
    CacheAnswer,
    CacheEntry,
    CommitRequest,
    Committed,
    Conflict,
    LookUpCache,
    Record,
    Refusal,
    ResolvedWorkflow,
    ResumeRun,
    Retry,
    RetryTransition,
    RunActor,
    RunManifest,
    RunProgram,
    RunRequest,
    RunRetried,
    RunStore,
    StartRun,
    StepRequest,
    StepState,
    StepTransitionError,
    Wake,
    fail_step,
    json_form,
    new_manifest,
    retry_run,
    run_mount,
    submit_step,
    succeed_step,
)
from lightflow_actors.isa import (
    Effect,
    Instruction,
    Patched,
    PureInterpreter,
    Render,
    Replied,
    Submit,
    from_json_value,
)
from lightflow_actors.kernel import ActorSystem, StartFailed
from lightflow_actors.testing import Scenario, run_schedule

from ._fakes import FakeCortex, ok

VECTOR = Path(__file__).parents[1] / "vectors" / "isa" / "run" / "happy_path_two_steps.json"
WORKFLOW = msgspec.convert(msgspec.json.decode(VECTOR.read_bytes())["workflow"], ResolvedWorkflow)
T0 = 1_767_225_600_000


def _input(event: str, payload: object) -> Submit:
    return Submit(event=event, payload=json_form(payload))


def _failed_manifest() -> RunManifest:
    """count succeeded; post failed its only attempt (a failed run)."""
    manifest = new_manifest("r1", WORKFLOW, T0)
    manifest, _ = submit_step(manifest, "count", fingerprint="f", request_id="c1", now_ms=T0)
    manifest, _ = succeed_step(manifest, "count", output="outputs/count.json", now_ms=T0)
    manifest, _ = submit_step(manifest, "post", fingerprint="g", request_id="p1", now_ms=T0)
    manifest, _ = fail_step(manifest, "post", error="boom", now_ms=T0, retry_at_ms=None)
    assert manifest.status == "failed"
    return manifest


# -- the manifest ---------------------------------------------------------------------------


def test_a_never_started_step_says_planned_in_the_manifest_json() -> None:
    manifest = new_manifest("r1", WORKFLOW, T0)
    document = msgspec.json.decode(msgspec.json.encode(manifest))
    assert [s["status"] for s in document["steps"]] == ["planned", "planned"]
    # A manifest written before the status was always there still reads as planned.
    old = b'{"id": "count", "updated_at_ms": 1}'
    assert msgspec.json.decode(old, type=StepState).status == "planned"


def test_retry_puts_failed_steps_back_to_planned_and_keeps_succeeded_ones() -> None:
    failed = _failed_manifest()
    retried, event = retry_run(failed, now_ms=T0 + 5)
    assert isinstance(event, RunRetried) and event.steps == ("post",)
    assert event.seq == failed.sequence + 1 == retried.sequence
    assert retried.last_event == event and retried.status == "running"
    count, post = retried.steps
    assert count == failed.steps[0]  # its output and attempt are kept
    assert post.status == "planned" and post.attempts == 1 and post.retries_from == 1
    assert post.error == "boom"  # the last error stays visible until the next attempt


@pytest.mark.parametrize(
    ("shape", "why"),
    [
        ("planned", "planned and not started"),
        ("running", "running; wait for it to settle"),
        ("succeeded", "succeeded; there is nothing to retry"),
        ("cancelled", "cancelled; a cancelled run stays cancelled"),
    ],
)
def test_only_a_failed_run_can_be_retried(shape: str, why: str) -> None:
    manifest = new_manifest("r1", WORKFLOW, T0)
    if shape != "planned":
        manifest, _ = submit_step(manifest, "count", fingerprint="f", request_id="c1", now_ms=T0)
    if shape == "succeeded":
        manifest, _ = succeed_step(manifest, "count", output="o", now_ms=T0)
        manifest, _ = submit_step(manifest, "post", fingerprint="g", request_id="p1", now_ms=T0)
        manifest, _ = succeed_step(manifest, "post", output="o", now_ms=T0)
    if shape == "cancelled":
        manifest = msgspec.structs.replace(manifest, cancelled=True)
    assert manifest.status == shape
    with pytest.raises(StepTransitionError, match=why) as caught:
        retry_run(manifest, now_ms=T0)
    assert "only a failed run can be retried" in str(caught.value)


# -- the program ----------------------------------------------------------------------------


class Host:
    """The pure interpreter with a host's habits: commits land, cache lookups miss."""

    def __init__(self) -> None:
        self.program = RunProgram(WORKFLOW)
        self.interpreter = PureInterpreter(self.program)
        self.commands: list[object] = []

    def step(self, instruction: Instruction, at_ms: int = T0) -> list[Effect]:
        pending = [instruction]
        first: list[Effect] | None = None
        while pending:
            self.program.now_ms = at_ms
            effects = list(self.interpreter.step(pending.pop(0)))
            first = effects if first is None else first
            for command in self.program.take_commands():
                self.commands.append(command)
                if isinstance(command, CommitRequest):
                    done = Committed(request_id=command.request_id, path="p")
                    pending.append(_input(command.step, done))
                elif isinstance(command, LookUpCache):
                    entries = tuple(CacheEntry(fingerprint=f) for f in command.fingerprints)
                    pending.append(_input("r1", CacheAnswer(entries=entries)))
        assert first is not None
        return first

    def remount(self, manifest: RunManifest, outputs: dict[str, object]) -> None:
        params = ResumeRun(manifest=manifest, outputs=outputs, seed=3)  # type: ignore[arg-type]
        self.step(run_mount("r1", WORKFLOW.workflow, params))
        self.step(Render())

    def commits(self) -> list[CommitRequest]:
        return [c for c in self.commands if isinstance(c, CommitRequest)]


def test_a_retry_submits_only_the_failure_frontier_and_counts_attempts_on() -> None:
    host = Host()
    failed = _failed_manifest()
    host.remount(failed, {"count": {"words": 3, "lines": 1}})
    effects = host.step(_input("r1", Retry(seq=failed.sequence)))
    events = [from_json_value(e.diff, object) for e in effects if isinstance(e, Patched)]
    assert [e["event"] for e in events] == ["run.retried", "step.submitted"]  # type: ignore[index]
    (commit,) = host.commits()
    assert commit.step == "post" and commit.request_id.startswith("post-2-")
    assert commit.body == {"text": "3 words"}  # rendered from count's kept output
    assert any(
        isinstance(c, Record) and isinstance(c.transition, RetryTransition) for c in host.commands
    )
    manifest = host.program.manifest
    assert manifest is not None and manifest.status == "running"
    assert manifest.step("post").attempts == 2 and manifest.step("count").attempts == 1


def test_a_retried_step_gets_its_retry_policy_afresh() -> None:
    # count retries up to 3 attempts: fail all three, retry the run, and the 4th attempt's
    # error is retried again (a 5th is planned), not the end.
    host = Host()
    host.step(run_mount("r1", WORKFLOW.workflow, StartRun(inputs=WORKFLOW.inputs, seed=1)))
    host.step(Render())
    at = T0
    for _ in range(3):
        host.step(_input("r1", Wake()), at)
        request_id = host.commits()[-1].request_id
        host.step(_input("count", AnswerError(request_id=request_id, path="p", error="x")), at)
        at += 120_000  # past any backoff
    manifest = host.program.manifest
    assert manifest is not None and manifest.status == "failed"
    assert host.program.settled

    again = Host()
    again.remount(manifest, {})
    again.step(_input("r1", Retry(seq=manifest.sequence)), at)
    request_id = again.commits()[-1].request_id
    assert request_id.startswith("count-4-")
    again.step(_input("count", AnswerError(request_id=request_id, path="p", error="x")), at)
    state = again.program.manifest.step("count")  # type: ignore[union-attr]
    assert state.status == "planned" and state.retry_at_ms is not None


def test_a_stale_or_wrong_retry_is_refused_as_a_conflict() -> None:
    host = Host()
    failed = _failed_manifest()
    host.remount(failed, {"count": {"words": 3, "lines": 1}})
    (stale,) = host.step(Submit(event="r1", payload=json_form(Retry(seq=1)), ref="q"))
    assert isinstance(stale, Replied) and stale.ref == "q"
    refusal = from_json_value(stale.payload, Refusal)
    assert refusal.reason == "conflict" and "moved on since the retry" in refusal.message
    assert isinstance(refusal.as_error(), Conflict)
    (wrong,) = host.step(Submit(event="post", payload=json_form(Retry(seq=failed.sequence))))
    assert isinstance(wrong, Replied)
    assert from_json_value(wrong.payload, Refusal).reason == "invalid"
    assert host.commits() == [] and host.program.manifest == failed


# -- explicit request bodies ------------------------------------------------------------------


def test_an_explicit_body_is_committed_as_the_request_and_kept_for_a_resume() -> None:
    host = Host()
    host.step(run_mount("r1", WORKFLOW.workflow, StartRun(inputs=WORKFLOW.inputs, seed=1)))
    host.step(Render())
    body = {"text": "one two"}
    host.step(_input("count", StepRequest(body=body)))
    (commit,) = host.commits()
    assert commit.step == "count" and commit.body == body
    manifest = host.program.manifest
    assert manifest is not None
    state = manifest.step("count")
    assert state.status == "submitted" and state.body == body
    assert state.fingerprint == WORKFLOW.step("count").fingerprint_of(body)

    # A restart commits the same body again under the same request id.
    resumed = Host()
    params = ResumeRun(manifest=manifest, seed=2)
    resumed.step(run_mount("r1", WORKFLOW.workflow, params))
    (again,) = resumed.commits()
    assert (again.request_id, again.body, again.resuming) == (commit.request_id, body, True)

    # The answer finishes the step; the next attempt of a step renders its templates.
    answer = Answer(request_id=commit.request_id, path="p", body='{"words": 2, "lines": 1}')
    host.step(_input("count", answer))
    assert host.program.outputs["count"] == {"words": 2, "lines": 1}


@given(st.one_of(st.integers(), st.text(), st.lists(st.integers()), st.none()))
def test_a_body_that_is_not_an_object_is_refused_as_invalid(body: object) -> None:
    host = Host()
    host.step(run_mount("r1", WORKFLOW.workflow, StartRun(inputs=WORKFLOW.inputs, seed=1)))
    host.step(Render())
    payload = {"kind": "request", "body": body}
    effects = host.step(Submit(event="count", payload=payload, ref="s"))  # type: ignore[arg-type]
    if body is None:
        assert host.commits()  # no body: the rendered request
        return
    (refused,) = effects
    assert isinstance(refused, Replied)
    assert from_json_value(refused.payload, Refusal).reason == "invalid"
    assert host.commits() == []


# -- the actor started for a retry ----------------------------------------------------------


def _simulate(body: object) -> None:
    result = run_schedule(Scenario(body, allow_threads=True, name="retry"), seed=0)  # type: ignore[arg-type]
    if result.error is not None:
        raise result.error


def _retry(seq: int) -> Submit:
    return _input("r1", Retry(seq=seq))


def _failed_run(store: RunStore) -> RunManifest:
    failed = _failed_manifest()
    request = RunRequest("r1", WORKFLOW.workflow, WORKFLOW.inputs, T0)
    store.create(request, WORKFLOW, failed)
    store.write_output("r1", "count", {"words": 3, "lines": 1})
    return failed


def test_the_actor_started_for_a_retry_finishes_the_run_in_the_same_folder(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "state")
    failed = _failed_run(store)
    fake = FakeCortex(ok)

    async def body(system: ActorSystem) -> None:
        cortex = system.spawn(lambda: fake)
        run = await system.start_actor(
            lambda: RunActor(store, "r1", cortex, start_with=_retry(failed.sequence))
        )
        await system.wait_exit(run)

    _simulate(body)
    manifest = store.manifest("r1")
    assert manifest.status == "succeeded"
    (commit,) = fake.commits
    assert commit.startswith("post-2-")  # count's output was reused, not recomputed
    events = store.events("r1")
    names = [type(e).__name__ for e in events]
    assert names[-3:] == ["RunRetried", "StepSubmitted", "StepSucceeded"]
    seqs = [e.seq for e in events]
    assert seqs[-4:] == list(range(failed.sequence, manifest.sequence + 1))


def test_a_refused_retry_fails_the_start_and_writes_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    failed = _failed_run(store)
    before = (store.run_dir("r1") / "events.jsonl").read_bytes()

    async def body(system: ActorSystem) -> None:
        cortex = system.spawn(lambda: FakeCortex(ok))
        with pytest.raises(StartFailed) as caught:
            await system.start_actor(lambda: RunActor(store, "r1", cortex, start_with=_retry(2)))
        assert isinstance(caught.value.reason, Conflict)
        await asyncio.sleep(0)

    _simulate(body)
    assert store.manifest("r1") == failed
    assert (store.run_dir("r1") / "events.jsonl").read_bytes() == before


@pytest.mark.parametrize("body", ["null", "NULL", "Null"])
def test_a_body_spelled_as_the_string_null_is_refused_not_taken_for_none(body: str) -> None:
    host = Host()
    host.step(run_mount("r1", WORKFLOW.workflow, StartRun(inputs=WORKFLOW.inputs, seed=1)))
    host.step(Render())
    payload = {"kind": "request", "body": body}
    (refused,) = host.step(Submit(event="count", payload=payload, ref="s"))  # type: ignore[arg-type]
    assert isinstance(refused, Replied)
    assert from_json_value(refused.payload, Refusal).reason == "invalid"
    assert host.commits() == []
