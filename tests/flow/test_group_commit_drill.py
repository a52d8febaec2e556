"""The group-commit drill: 100 runs written by one group-committing process, `kill -9` it
mid-flight, open the state folder again: every acknowledged transition is there, no
journal line is torn, manifests agree with their events, and every run then reaches a
final state. (The server-level drill, through HTTP, is tests/runs/test_crash.py.)"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from lightflow_actors.flow import FlowService, RunEvent, RunStore, TraceRecord

from ._evaluator import SHARED
from .test_group_commit import CATALOG, Clock

RUNS = 100

# The writer: one thread per run, each drives its run step by step (submit, trace, then
# output + succeeded), as a run actor does, and prints `<run> <seq>` once a transition is
# acknowledged. It resumes from the manifests, so the same program finishes the runs.
WRITER = textwrap.dedent(
    """
    import faulthandler, sys, threading
    from pathlib import Path
    from lightflow_actors.flow import (
        AppendTrace, PutOutput, RequestCommitted, RunStore, UpdateManifest,
        submit_step, succeed_step,
    )

    faulthandler.enable()  # a crash of the writer prints every thread's stack
    store = RunStore(Path(sys.argv[1]), group_commit=True, checkpoint_bytes=int(sys.argv[2]))
    out = threading.Lock()

    def ack(run_id, result):
        assert result.refused is None, result.refused
        with out:
            for manifest, _ in result.updates:
                sys.stdout.write(f"{run_id} {manifest.sequence}\\n")
            sys.stdout.flush()

    def drive(run_id):
        for state in store.manifest(run_id).steps:
            step = state.id
            if state.status == "planned":
                ack(run_id, store.commit(run_id, [UpdateManifest(
                    lambda m: submit_step(m, step, fingerprint="f", request_id=step, now_ms=1)
                )]))
                store.commit(run_id, [AppendTrace(
                    RequestCommitted(0, 1, step, 1, step, "inbox/" + step, "f")
                )])
            if store.manifest(run_id).step(step).status == "submitted":
                ack(run_id, store.commit(run_id, [
                    PutOutput(step, {"text": step}),
                    UpdateManifest(lambda m: succeed_step(
                        m, step, output=f"outputs/{step}.json", now_ms=2
                    )),
                ]))

    threads = [threading.Thread(target=drive, args=(r,)) for r in store.list_ids()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    print("done", flush=True)
    """
)


@pytest.mark.parametrize(
    "checkpoint_bytes",
    [
        8 << 20,  # the default: one journal segment, manifests coalesced by the flusher
        # Segments rotated every few dozen transitions: the kill finds old segments the
        # flusher has not checkpointed yet, and manifests not yet written (ADR 0118).
        48 << 10,
    ],
)
def test_kill_9_of_a_group_committing_writer_loses_no_acknowledged_transition(
    tmp_path: Path, checkpoint_bytes: int
) -> None:
    service = FlowService(CATALOG, RunStore(tmp_path), Clock(), random.Random(1), SHARED)
    for n in range(RUNS):
        service.create("article", b'{"topic": "tea"}', run_id=f"r{n:03}")
    steps = len(RunStore(tmp_path).manifest("r000").steps)
    total = RUNS * 2 * steps

    errors = tmp_path.parent / f"{tmp_path.name}-writer.err"  # outside the state folder
    with errors.open("w") as stderr:  # the child keeps its own copy of the descriptor
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(checkpoint_bytes)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert writer.stdout is not None
    acked: dict[str, int] = {}
    for _ in range(total // 3):  # about a third of the way through
        line = writer.stdout.readline()
        if not line:  # the writer ended before the kill: say how
            writer.wait(timeout=30)
            raise AssertionError(f"writer exited {writer.returncode}: {errors.read_text()}")
        run_id, seq = line.split()
        acked[run_id] = max(acked.get(run_id, 0), int(seq))
    writer.send_signal(signal.SIGKILL)
    rest, _ = writer.communicate(timeout=30)
    for line in rest.splitlines():  # printed before the kill: acknowledged too
        run_id, seq = line.split()
        acked[run_id] = max(acked.get(run_id, 0), int(seq))
    assert writer.returncode == -signal.SIGKILL
    assert 0 < sum(acked.values()) - len(acked) < total  # killed mid-flight

    store = RunStore(tmp_path)  # replays the dead writer's journal
    for n in range(RUNS):
        run_id = f"r{n:03}"
        manifest = store.manifest(run_id)
        assert manifest.sequence >= acked.get(run_id, 1), run_id
        check_journals(store, run_id, manifest.sequence)

    again = subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path), str(checkpoint_bytes)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert again.stdout.endswith("done\n")
    store = RunStore(tmp_path)
    for n in range(RUNS):
        run_id = f"r{n:03}"
        manifest = store.manifest(run_id)
        assert manifest.status == "succeeded", run_id
        assert all(s.attempts == 1 for s in manifest.steps)  # no step submitted twice
        check_journals(store, run_id, manifest.sequence)
    assert not list((tmp_path / "wal").glob("*.wal"))


def check_journals(store: RunStore, run_id: str, sequence: int) -> None:
    """Every line decodes (none torn), events run 1..sequence without a gap, and the
    manifest's last event is the journal's."""
    events_raw = (store.run_dir(run_id) / "events.jsonl").read_bytes()
    assert events_raw.endswith(b"\n")
    events = [msgspec.json.decode(line, type=RunEvent) for line in events_raw.splitlines()]
    assert [e.seq for e in events] == list(range(1, sequence + 1)), run_id
    assert store.manifest(run_id).last_event == events[-1]
    trace_raw = (store.run_dir(run_id) / "trace.jsonl").read_bytes()
    for line in trace_raw.splitlines():
        msgspec.json.decode(line, type=TraceRecord)
    assert trace_raw == b"" or trace_raw.endswith(b"\n")
