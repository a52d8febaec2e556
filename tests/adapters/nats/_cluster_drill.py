"""The whole-cluster drill (issue 16): three `lightflow serve --cluster` nodes with live
sessions and runs in flight together; `kill -9` of one node and a NATS outage.

Used by `test_cluster_drill_real.py` (a smaller drill, in the suite) and by
`python -m bench.bench_cluster drill` (50 sessions, 20 runs). The steps:

1. Each session opens the tally on one node (round robin) and clicks `k` times (1 to 3);
   the drill waits until every count is in the `lf_sessions` bucket. Runs of the chain
   workflow (three paid calls, one after another) are created through node a.
2. Once some runs placed on the victim have a step recorded in the cluster (the model
   holds the answer of their last step until the kill: they are in flight then, on a
   machine however loaded), the victim is killed (`kill -9`), and NATS is stopped for
   `outage_s` at once; meanwhile every
   session on a surviving node clicks once more (its node keeps it; the snapshot waits).
3. NATS starts again. Every session on a survivor gets its last click into the bucket
   (the write retried), then every session rejoins on another live node, as a load
   balancer would send it, with its session id, token and cookie: it must show its last
   count (rehydrated from the bucket), and its next click must add one.
4. Every run finishes, read on each survivor: one `step.succeeded` per step in every
   journal, one idempotency key per step, each answer computed once by the model, a step
   the cluster had recorded before the kill never called again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import nats

from lightflow_actors.adapters.nats import RUNS_BUCKET, SESSIONS_BUCKET, run_key
from lightflow_actors.adapters.nats._leases import LEASES_BUCKET, LeaseRecord
from lightflow_actors.adapters.nats._runs import RunRecord
from lightflow_actors.live import (
    LiveClient,
    SessionSnapshot,
    WebSocketClient,
    WebSocketView,
    snapshot_key,
)
from lightflow_actors.live._peer import page_attr
from lightflow_actors.live_examples.tally import TallyState

from ._runs_drill import STEPS, ClusterNode, CountingModel, placed_on
from ._servers import NatsServer

NODES = ("a", "b", "c")
VICTIM = "b"
_COUNT = re.compile(r'id="count">(-?\d+)<')


class Browser:
    """A tally page without a DOM: its session id, token and cookie, and its socket; it
    can rejoin its session on any node (a reconnect through a load balancer)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.clicks = 1 + index % 3
        self.node = ""
        self.sid = self.token = self.cookie = ""
        self.view: WebSocketView | None = None
        self.joined_ms = 0.0

    async def open(self, node: str, url: str) -> None:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            page = await http.get(f"{url}/live/tally")
            page.raise_for_status()
            jar = dict(http.cookies.items())
        jar.update(page.cookies.items())
        self.sid, self.token = page_attr(page.text, "session"), page_attr(page.text, "token")
        self.cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
        started = time.monotonic()
        await self.join(node, url)
        self.joined_ms = (time.monotonic() - started) * 1000

    async def join(self, node: str, url: str) -> None:
        await self.close()
        base = httpx.URL(url)
        ws = await WebSocketClient.connect(
            base.host, base.port or 80, "/live/socket", cookie=self.cookie
        )
        self.view = WebSocketView(ws, LiveClient())
        await self.view._join("tally", self.sid, self.token, {})
        self.node = node

    async def click(self) -> None:
        assert self.view is not None
        await self.view.push("add", {"by": 1})

    def count(self) -> int:
        assert self.view is not None
        found = _COUNT.search(self.view.html())
        assert found is not None, self.view.html()
        return int(found.group(1))

    async def close(self) -> None:
        if self.view is not None:
            with contextlib.suppress(Exception):  # its node was killed: nothing to close
                await asyncio.wait_for(self.view.close(), 5)
            self.view = None


async def saved_counts(url: str, browsers: list[Browser]) -> dict[int, int]:
    """Each session's count as the `lf_sessions` bucket holds it (absent: not listed)."""
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        kv = await client.jetstream().key_value(SESSIONS_BUCKET)
        counts: dict[int, int] = {}
        for browser in browsers:
            try:
                entry = await kv.get(snapshot_key(browser.sid, "tally"))
            except Exception:  # not written yet
                continue
            snapshot = msgspec.msgpack.decode(entry.value or b"", type=SessionSnapshot)
            counts[browser.index] = msgspec.msgpack.decode(snapshot.state, type=TallyState).count
        return counts
    finally:
        await client.close()


async def published_status(url: str, run_ids: list[str]) -> dict[str, str]:
    """Each run's status as its record in the `lf_runs` bucket holds it: what its owner last
    published, which a peer's copy (it follows the run's events) may not show yet."""
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        kv = await client.jetstream().key_value(RUNS_BUCKET)
        statuses: dict[str, str] = {}
        for run_id in run_ids:
            entry = await kv.get(f"{run_key(run_id)}.m")
            statuses[run_id] = msgspec.msgpack.decode(entry.value or b"", type=RunRecord).status
        return statuses
    finally:
        await client.close()


async def stuck_evidence(
    nats_url: str, nodes: dict[str, ClusterNode], run_ids: list[str], dead: str
) -> str:
    """What explains runs that did not settle, for the failure message: each one's record
    in `lf_runs` (its writer, epoch, seq, status) and lease in `lf_leases` (its holder:
    alive or the killed node), its status and last events on every surviving node, the
    survivors' view of the cluster, and the lines of every node's log that name it."""
    out: list[str] = []
    try:
        client = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    except Exception as exc:
        client, out = None, [f"NATS not reachable for the evidence: {exc!r}"]
    try:
        for run_id in run_ids:
            out.append(f"--- run {run_id} (placed on {placed_on(list(NODES), run_id)})")
            if client is not None:
                js = client.jetstream()
                for bucket, key, kind in (
                    (RUNS_BUCKET, f"{run_key(run_id)}.m", RunRecord),
                    (LEASES_BUCKET, f"run.{run_key(run_id)}", LeaseRecord),
                ):
                    try:
                        entry = await (await js.key_value(bucket)).get(key)
                        found = msgspec.msgpack.decode(entry.value or b"", type=kind)
                        if isinstance(found, RunRecord):
                            found = msgspec.structs.replace(found, manifest=b"", outputs={})
                        out.append(f"{bucket}/{key} rev {entry.revision}: {found}")
                    except Exception as exc:  # absent (a released lease), or unreadable
                        out.append(f"{bucket}/{key}: {type(exc).__name__} {exc}")
            for name, node in nodes.items():
                if name == dead:
                    continue
                try:
                    status = node.http.get(f"/runs/{run_id}").json().get("status")
                    last = [(e["seq"], e["event"], e.get("step")) for e in events(node, run_id)]
                    out.append(f"node {name}: {status}; last events {last[-4:]}")
                except Exception as exc:
                    out.append(f"node {name}: not readable: {exc!r}")
            for name, node in nodes.items():
                text = node.log_path.read_text(errors="replace")
                named = [line for line in text.splitlines() if f"'{run_id}'" in line]
                out.append(f"node {name} log on {run_id}: {named[-8:]}")
        for name, node in nodes.items():
            if name != dead:
                with contextlib.suppress(Exception):
                    out.append(f"node {name} /cluster runs: {node.runs_info()}")
    finally:
        if client is not None:
            await client.close()
    return "\n".join(out)


async def until(check: Callable[[], object], what: str, timeout_s: float = 180.0) -> None:
    """Poll `check` (sync, run in a thread) every 100 ms; the bound only stops a hang."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def until_saved(nats_url: str, browsers: list[Browser], want: dict[int, int]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            saved = await saved_counts(nats_url, browsers)
        except Exception:  # NATS still coming back
            saved = {}
        if all(saved.get(i) == n for i, n in want.items()):
            return
        missing = {i: (saved.get(i), n) for i, n in want.items() if saved.get(i) != n}
        assert time.monotonic() < deadline, f"snapshots never written: {missing}"
        await asyncio.sleep(0.2)


def events(node: ClusterNode, run_id: str) -> list[dict[str, object]]:
    lines = node.http.get(f"/runs/{run_id}/events").content.splitlines()
    return [json.loads(line) for line in lines]


def recorded(node: ClusterNode, run_id: str) -> set[str]:
    """Steps `node`'s copy shows as succeeded."""
    view = node.http.get(f"/runs/{run_id}").json()
    return {s["id"] for s in view.get("steps", []) if s.get("status") == "succeeded"}


@dataclass
class DrillReport:
    sessions: int
    runs: int
    rehydrated_ms: list[float] = field(default_factory=list)  # rejoin -> first render
    mounted_ms: list[float] = field(default_factory=list)  # first join -> first render
    outage_s: float = 0.0
    killed_to_all_runs_done_s: float = 0.0
    taken_over: int = 0
    repeated_calls: int = 0  # calls sent again under the same key (in flight at the kill)


async def cluster_drill(
    home: Path,
    nats_server: NatsServer,
    assets: Path,
    model: CountingModel,
    *,
    sessions: int,
    runs: int,
    outage_s: float = 5.0,
) -> DrillReport:
    report = DrillReport(sessions, runs, outage_s=outage_s)
    nodes: dict[str, ClusterNode] = {}
    browsers = [Browser(i) for i in range(sessions)]
    try:
        for name in NODES:
            nodes[name] = await asyncio.to_thread(
                ClusterNode, home, name, nats_server.url, assets, model.base_url
            )
        for node in nodes.values():
            await until(lambda n=node: n.runs_info()["nodes"] == sorted(NODES), "nodes to hear all")
        a, c = nodes["a"], nodes["c"]
        # 1. sessions, each on one node, clicked k times; their counts in the bucket
        for browser in browsers:
            name = NODES[browser.index % len(NODES)]
            await browser.open(name, nodes[name].url)
            report.mounted_ms.append(browser.joined_ms)
            for _ in range(browser.clicks):
                await browser.click()
            assert browser.count() == browser.clicks
        await until_saved(nats_server.url, browsers, {b.index: b.clicks for b in browsers})
        # runs, all through node a; some are placed on the victim
        ids = [f"d{i:02d}" for i in range(runs)]
        on_victim = [r for r in ids if placed_on(list(NODES), r) == VICTIM]
        assert len(on_victim) >= 2, on_victim
        # the victim's runs are in flight at the kill, however slow the machine: the model
        # holds the answer of their last step until the victim is dead
        model.holding = {f"step {STEPS[-1]} of {r}" for r in on_victim}

        def create(run_id: str) -> tuple[int, str]:
            body = {"workflow": "chain", "id": run_id, "inputs": {"tag": run_id}}
            with httpx.Client(base_url=a.url, timeout=60, trust_env=False) as http:
                answer = http.post("/runs", json=body)
                return answer.status_code, answer.text[:300]

        created = await asyncio.gather(*(asyncio.to_thread(create, r) for r in ids))
        refused = {r: found for r, found in zip(ids, created, strict=True) if found[0] != 201}
        assert not refused, refused
        await until(
            lambda: sum(bool(recorded(c, r)) for r in on_victim) >= min(2, len(on_victim)),
            "steps recorded on the victim",
        )
        # 2. kill -9 the victim; NATS down for outage_s at once
        await asyncio.to_thread(nodes[VICTIM].kill)
        killed_at = time.monotonic()
        model.let_go.set()  # the new owner's call, under the same key, gets the answer
        before = {r: recorded(c, r) for r in on_victim}  # c read them before NATS went
        # the victim's last word on each run (c's copy may lag it: a run it finished can
        # still look unfinished there, and needs no takeover)
        at_kill = await published_status(nats_server.url, on_victim)
        nats_server.stop()
        survivors = [b for b in browsers if b.node != VICTIM]
        for browser in survivors:  # one more click each, kept by its node meanwhile
            await browser.click()
            assert browser.count() == browser.clicks + 1
        await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - killed_at)))
        await asyncio.to_thread(nats_server.start)
        # 3. the survivors' last clicks reach the bucket; every session moves node
        want = {b.index: b.clicks + (b.node != VICTIM) for b in browsers}
        await until_saved(nats_server.url, browsers, want)
        for browser in browsers:
            live = [n for n in NODES if n not in (VICTIM, browser.node)]
            target = live[browser.index % len(live)]
            started = time.monotonic()
            await browser.join(target, nodes[target].url)
            report.rehydrated_ms.append((time.monotonic() - started) * 1000)
            assert browser.count() == want[browser.index], (browser.index, browser.node)
            await browser.click()
            assert browser.count() == want[browser.index] + 1
        # 4. every run finishes, each step answered once
        for node in (a, c):
            statuses: dict[str, str] = {}

            def settled(n: ClusterNode = node, seen: dict[str, str] = statuses) -> bool:
                seen.update({r: n.http.get(f"/runs/{r}").json().get("status") for r in ids})
                return set(seen.values()) == {"succeeded"}

            try:
                await until(settled, f"every run to succeed, read on node {node.name}")
            except AssertionError as exc:
                stuck = [r for r, status in statuses.items() if status != "succeeded"]
                evidence = await stuck_evidence(nats_server.url, nodes, stuck, VICTIM)
                raise AssertionError(f"{exc}: {statuses}\n{evidence}") from None
        report.killed_to_all_runs_done_s = time.monotonic() - killed_at
        for node in (a, c):
            for run_id in ids:
                found = events(node, run_id)
                assert [e["seq"] for e in found] == list(range(1, len(found) + 1)), found
                done = [e["step"] for e in found if e["event"] == "step.succeeded"]
                assert sorted(done) == sorted(STEPS), (node.name, run_id, found)
        report.taken_over = sum(int(n.runs_info()["taken_over"]) for n in (a, c))  # type: ignore[call-overload]
        unfinished = [r for r in on_victim if at_kill[r] != "succeeded"]
        assert report.taken_over >= len(unfinished), (report.taken_over, at_kill, before)
        for run_id in ids:
            for step in STEPS:
                keys = model.key_of(run_id, step)
                assert len(keys) == 1, (run_id, step, keys)  # one idempotency key a step
                asked = model.requests[keys[0]]
                if step in before.get(run_id, set()) or run_id not in on_victim:
                    assert asked == 1, (run_id, step, asked)  # recorded, or never on b
                else:  # in flight on b at the kill: sent again under the same key
                    assert asked <= 2, (run_id, step, asked)
                report.repeated_calls += asked - 1
        assert set(model.computed.values()) == {1}  # each answer computed once
        return report
    finally:
        for browser in browsers:
            await browser.close()
        for node in nodes.values():
            await asyncio.to_thread(node.stop)
