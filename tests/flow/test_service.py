"""The operations the CLI and HTTP adapters call, end to end on a temp state folder."""

from __future__ import annotations

import msgspec
import pytest

from lightflow_actors.flow import (
    Conflict,
    CorruptRun,
    FlowService,
    InvalidInputs,
    MalformedResponse,
    NotFound,
    RunCancelled,
    RunCreated,
    RunInvariantBroken,
    RunNotFound,
    RunStore,
    UnknownAsset,
)
from lightflow_actors.kernel import Refused


def test_list_assets_by_kind(service: FlowService) -> None:
    workflows = [a.id for a in service.list_assets("workflows").assets]
    assert workflows == ["article", "text-plan", "thread-ask", "word-count"]
    everything = service.list_assets()
    assert {a.kind for a in everything.assets} >= {"model", "workflow", "composition"}
    assert everything.problems == []
    listed = msgspec.json.decode(msgspec.json.encode(service.list_assets("models")))
    assert listed["assets"][0]["kind"] == "model" and listed["problems"] == []


def test_preview_writes_nothing(service: FlowService, store: RunStore) -> None:
    r = service.preview("article", b'{"topic": "owls"}')
    assert len(r.steps) == 6 and not store.root.exists()


def test_create_then_read_everything(service: FlowService, clock) -> None:  # type: ignore[no-untyped-def]
    view = service.create("text-plan", b'{"topic": "tea"}', run_id="tea-1")
    assert view.status == "planned" and view.run_id == "tea-1" and view.sequence == 1
    clock.ms += 1000
    generated = service.create("article", {"topic": "owls"})
    assert generated.run_id.startswith("article-20231114T") and len(generated.run_id) == 30
    assert [s.run_id for s in service.list_runs()] == [generated.run_id, "tea-1"]
    assert service.get("tea-1") == view
    assert service.status("tea-1").steps == {"plan": "planned"}
    assert service.request("tea-1").inputs == {"topic": "tea", "steps": 5, "tone": "plain"}
    assert service.workflow("tea-1") == service.preview("text-plan", b'{"topic": "tea"}')
    events = service.events("tea-1")
    assert len(events) == 1 and isinstance(events[0], RunCreated)
    assert service.trace("tea-1") == []


def test_cancel_then_conflict(service: FlowService) -> None:
    service.create("text-plan", b'{"topic": "tea"}', run_id="c")
    view = service.cancel("c", reason="changed my mind")
    assert view.status == "cancelled" and view.cancelled and view.steps[0].status == "cancelled"
    last = service.events("c")[-1]
    assert isinstance(last, RunCancelled) and last.reason == "changed my mind" and last.seq == 2
    with pytest.raises(Conflict, match="already cancelled"):
        service.cancel("c")
    assert service.status("c").status == "cancelled"


def test_refusals_carry_a_reason(service: FlowService) -> None:
    with pytest.raises(RunNotFound) as missing:
        service.get("nope")
    assert isinstance(missing.value, NotFound) and missing.value.reason == "not_found"
    with pytest.raises(UnknownAsset) as unknown:
        service.preview("nope")
    assert unknown.value.reason == "not_found"
    with pytest.raises(InvalidInputs) as bad:
        service.create("text-plan", b"not json", run_id="x")
    assert bad.value.reason == "invalid"
    service.create("text-plan", b'{"topic": "t"}', run_id="dup")
    with pytest.raises(Conflict) as dup:
        service.create("text-plan", b'{"topic": "t"}', run_id="dup")
    assert dup.value.reason == "conflict"


def test_failures_are_not_refusals() -> None:
    # An upstream that misbehaves, a corrupt run, a broken invariant: errors of the work,
    # which crash an actor that raises them (the HTTP edge answers 502 or 500).
    for failure in (MalformedResponse, CorruptRun, RunInvariantBroken):
        assert not issubclass(failure, Refused)
