"""`resumable_runs`: the planned and running runs a starting server drives again; a run
folder that cannot be read is skipped with a warning, never fatal for the others."""

from __future__ import annotations

import logging

import pytest

from lightflow_actors.flow import FlowService, RunStore, resumable_runs


def test_only_unfinished_runs_resume(service: FlowService, store: RunStore) -> None:
    for run_id in ("a", "b", "c"):
        service.create("text-plan", b'{"topic": "tea"}', run_id=run_id)
    service.cancel("b", "not needed")
    assert resumable_runs(store) == ["a", "c"]


@pytest.mark.parametrize("manifest", [b"", b"{", b'{"run_id": 7}', b"\xff\xfe"])
def test_a_corrupt_run_is_skipped_and_logged(
    service: FlowService, store: RunStore, caplog: pytest.LogCaptureFixture, manifest: bytes
) -> None:
    for run_id in ("a", "broken", "c"):
        service.create("text-plan", b'{"topic": "tea"}', run_id=run_id)
    (store.run_dir("broken") / "manifest.json").write_bytes(manifest)
    with caplog.at_level(logging.WARNING, logger="lightflow_actors.flow"):
        assert resumable_runs(store) == ["a", "c"]
    [record] = caplog.records
    assert "'broken' is not resumed" in record.getMessage()
    assert "manifest.json" in record.getMessage()
