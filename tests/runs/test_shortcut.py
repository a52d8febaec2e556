"""The in-process shortcut (ADR 0100): requests to in-process providers are handed to the
embedded substrate instead of waiting for its watch, with fewer fsyncs; the files of each
exchange are exactly those of the ABI, and `ctx.shortcut: false` turns it off."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from ctx_substrate import Stats, SubstrateStats, read_audit
from lightflow_actors.cortex import CtxLayout, Suffix
from lightflow_actors.flow import _run_actor as run_actor
from lightflow_actors.host import RunsConfig, RunsHosting
from lightflow_actors.runs import AwaitSettled, CreateRun

from ._support import RunsEnv

pytestmark = pytest.mark.anyio


class _Fsyncs:
    """Counts `os.fsync`/`os.fdatasync` calls of every thread while installed, except those
    of the substrate's audit log (made durable by its periodic rescan: how many depends on
    how long the run took, not on the run)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def _counted(self, original: Callable[[int], None]) -> Callable[[int], None]:
        def counted(fd: int) -> None:
            audit = os.readlink(f"/proc/self/fd/{fd}").endswith("/audit/events.jsonl")
            with self._lock:
                self.count += not audit
            original(fd)

        return counted

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Fsyncs]:
        monkeypatch.setattr(os, "fsync", self._counted(os.fsync))
        monkeypatch.setattr(os, "fdatasync", self._counted(os.fdatasync))
        try:
            yield self
        finally:
            monkeypatch.undo()


def _with_shortcut(config: RunsConfig, on: bool) -> RunsConfig:
    return msgspec.structs.replace(config, ctx=msgspec.structs.replace(config.ctx, shortcut=on))


async def _chain(
    env: RunsEnv, run_id: str, *, shortcut: bool = True, fsyncs: _Fsyncs | None = None
) -> tuple[SubstrateStats, int]:
    """Run the 10-step `chain`; the substrate's counters and the fsyncs of its steps (from
    its creation to its success, less what creating a run costs)."""
    from lightflow_actors import ActorSystem

    hosting = RunsHosting(_with_shortcut(env.config, shortcut), environ=env.environ)
    async with ActorSystem() as system:
        await hosting.start(system)
        try:
            if fsyncs is not None:  # the process's first group commit creates its journal
                await hosting.call(CreateRun("chain", b"{}", f"{run_id}-warm"))
                await hosting.call(AwaitSettled(f"{run_id}-warm"))
            # What creating a run costs, alone (a run that is never started).
            start = fsyncs.count if fsyncs is not None else 0
            await hosting.call(CreateRun("chain", b"{}", f"{run_id}-idle", start=False))
            created = fsyncs.count if fsyncs is not None else 0
            await hosting.call(CreateRun("chain", b"{}", run_id))
            view = await hosting.call(AwaitSettled(run_id))
            end = fsyncs.count if fsyncs is not None else 0
            during = (end - created) - (created - start)  # the run's steps
            assert view.status == "succeeded", view
            substrate = system.whereis(hosting.names.substrate)
            assert substrate is not None
            for _ in range(4000):  # its counters once every file job is handled
                stats = await substrate.ask(Stats())
                if stats.io_unsettled == 0 and stats.in_flight == 0:
                    break
                await asyncio.sleep(0.005)
        finally:
            await hosting.stop()
    return stats, during


def _exchange_files(env: RunsEnv, request_ids: list[str]) -> dict[str, list[str]]:
    layout = CtxLayout(str(env.state / "ctx"), str(os.getuid()))
    inbox, outbox = layout.inbox("api", "openai.chat"), layout.outbox("api", "openai.chat")
    files = {}
    for request_id in request_ids:
        suffixes = [Suffix.DONE] if (inbox / f"{request_id}{Suffix.DONE}").exists() else []
        for suffix in (Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE, Suffix.ERROR):
            if CtxLayout.file(outbox, request_id, suffix).exists():
                suffixes.append(suffix)
        files[request_id] = suffixes
    return files


def _request_ids(env: RunsEnv, run_id: str) -> list[str]:
    lines = (env.runs / run_id / "trace.jsonl").read_bytes().splitlines()
    records = [msgspec.json.decode(line) for line in lines]
    return [
        Path(r["path"]).name.removesuffix(Suffix.REQUEST)
        for r in records
        if r["record"] == "cortex.request.committed"
    ]


async def test_a_chain_is_journaled_and_leaves_every_abi_file(runs_env: RunsEnv) -> None:
    """A provider on the loop (ADR 0122): each exchange served in memory, its files
    written by the run's commits, the same files as a served request's."""
    stats, _ = await _chain(runs_env, "c1")
    assert stats.journaled == 10 and stats.served == 10 and stats.handed_off == 0
    ids = _request_ids(runs_env, "c1")
    assert len(ids) == 10
    expected = [Suffix.DONE, Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE]
    assert _exchange_files(runs_env, ids) == dict.fromkeys(ids, expected)
    # Served once each, audited as any exchange is.
    audit = read_audit(runs_env.state / "ctx" / "audit" / "events.jsonl")
    written = [e.id for e in audit if e.event == "response.written"]
    assert sorted(written) == sorted(ids)


async def test_a_blocking_provider_is_handed_off_and_leaves_every_abi_file(
    tmp_path: Path,
) -> None:
    """A `blocking` callable runs on a worker thread: its requests keep their files
    (handed off, ADR 0100), so a restart serves an interrupted call again, `resumed`."""
    env = RunsEnv(tmp_path, blocking=True)
    stats, _ = await _chain(env, "c1")
    assert stats.handed_off == 10 and stats.relaxed == 10 and stats.journaled == 0
    ids = _request_ids(env, "c1")
    expected = [Suffix.DONE, Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE]
    assert _exchange_files(env, ids) == dict.fromkeys(ids, expected)


async def test_the_shortcut_can_be_turned_off(runs_env: RunsEnv) -> None:
    stats, _ = await _chain(runs_env, "c1", shortcut=False)
    assert stats.handed_off == 0 and stats.relaxed == 0 and stats.journaled == 0
    assert stats.served == 10
    ids = _request_ids(runs_env, "c1")
    expected = [Suffix.DONE, Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE]
    assert _exchange_files(runs_env, ids) == dict.fromkeys(ids, expected)


async def test_a_step_costs_at_most_one_fsync(
    runs_env: RunsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single-run path, group commit on: one journal fsync per step (the exchange is in
    the journal, no ctx file is fsynced, ADR 0122), plus one journal fsync for the run's
    first `submitted`.

    A commit's trace record waits for the step's answer to ride with it, or for
    `TRACE_FLUSH_S`; on a loaded machine an answer can come later than that and the timer
    writes the record alone (an extra fsync that measures the machine, not the path), so
    the timer is pushed out of the test's way here; its own test is in tests/flow."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_actor, "TRACE_FLUSH_S", 3600.0)
        with _Fsyncs().installed(monkeypatch) as fsyncs:
            _, shortcut = await _chain(runs_env, "c1", fsyncs=fsyncs)
    with _Fsyncs().installed(monkeypatch) as fsyncs:
        _, watched = await _chain(runs_env, "c2", shortcut=False, fsyncs=fsyncs)
    print(f"{shortcut} fsyncs for 10 steps")
    assert shortcut <= 10 + 1, f"{shortcut} fsyncs for 10 steps"
    assert watched > shortcut  # the ABI's every fsync without the shortcut


def test_only_in_process_providers_take_the_shortcut(tmp_path: Path) -> None:
    from lightflow_actors.host import decode_runs_config

    document = {
        "state_dir": str(tmp_path / "state"),
        "providers": [
            {"kind": "echo", "name": "echo"},
            {"kind": "openai", "name": "remote", "channel": "remote"},
            {"kind": "builtin", "name": "tools"},
        ],
        "routes": {"api": {"openai.chat": "remote", "*": "echo"}, "tool": {"wordcount": "tools"}},
    }
    settings = decode_runs_config(msgspec.json.encode(document)).settings({})
    assert settings.shortcut is True
    assert not settings.routed_in_process("api", "openai.chat")  # HTTP: out of process
    assert settings.routed_in_process("api", "anthropic.messages")  # `*` → echo
    assert settings.routed_in_process("tool", "wordcount")
    assert not settings.routed_in_process("tool", "nothing-routes-here")
