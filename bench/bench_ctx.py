"""CortexFS substrate: request → response latency and throughput, directory and FUSE backends.

Baseline (same run, same disk): the same files written and read on a plain folder by one
thread with no substrate: commit (`<id>.tmp` → fsync → rename), then fingerprint, route and
response written atomically, claim closed, response read back. The ratio is what the
substrate (watcher, actors, policy, audit log with fsync, client notification) costs on top.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import msgspec

from bench._report import median, percentile, row
from ctx_substrate import (
    Policy,
    ProviderRequest,
    Routes,
    Stats,
    Substrate,
    SubstrateConfig,
    callable_provider,
)
from ctx_substrate._fuse_probe import fuse_available
from lightflow_actors import ActorSystem
from lightflow_actors.adapters.cortex import CortexClient
from lightflow_actors.cortex import (
    Call,
    CommitFailed,
    CtxLayout,
    atomic_write,
    commit_request,
    fingerprint,
)

SEQUENTIAL = 200
CONCURRENT = 1000
BODY = msgspec.json.encode({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


def echo(request: ProviderRequest) -> object:
    return {"id": request.id, "body": request.body}


# -- baseline: the same file work on a plain folder, no substrate ---------------------------
def plain_roundtrip(inbox: Path, outbox: Path, rid: str) -> None:
    commit_request(inbox, rid, BODY)
    claimed = inbox / f"{rid}.claimed"
    os.rename(inbox / f"{rid}.req.json", claimed)
    raw = claimed.read_bytes()
    atomic_write(outbox / f"{rid}.fingerprint", fingerprint(raw).encode(), sync_dir=False)
    atomic_write(
        outbox / f"{rid}.route.json", b'{"provider":"p","model":"m","reason":"r"}', sync_dir=False
    )
    atomic_write(outbox / f"{rid}.resp.json", msgspec.json.encode(echo_plain(rid, raw)))
    os.rename(claimed, inbox / f"{rid}.done")
    (outbox / f"{rid}.resp.json").read_bytes()


def echo_plain(rid: str, raw: bytes) -> object:
    return {"id": rid, "body": msgspec.json.decode(raw)}


def baseline(base: Path) -> tuple[list[float], float]:
    inbox, outbox = base / "inbox", base / "outbox"
    inbox.mkdir(parents=True)
    outbox.mkdir()
    latencies = []
    for i in range(SEQUENTIAL):
        start = time.perf_counter()
        plain_roundtrip(inbox, outbox, f"s{i}")
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(CONCURRENT):
        plain_roundtrip(inbox, outbox, f"c{i}")
    return latencies, CONCURRENT / (time.perf_counter() - start)


# -- the substrate ---------------------------------------------------------------------------
async def substrate_run(base: Path, fuse: bool) -> tuple[list[float], float]:
    root = base / "tree"
    mount = base / "mnt" if fuse else root
    config = SubstrateConfig(
        root=str(root),
        mount=str(mount) if fuse else None,
        uids=("1000",),
        routes=Routes(api={"*": "echo"}),
        policy=Policy.allow_all(),
    )
    async with ActorSystem() as system:
        substrate = await system.start_actor(
            lambda: Substrate(config, [callable_provider("echo", echo)])
        )
        layout = CtxLayout(str(mount), "1000")
        client = system.spawn(
            lambda: CortexClient(layout, watch="poll" if fuse else "inotify", poll_interval_s=0.002)
        )
        latencies = []
        for i in range(SEQUENTIAL):
            start = time.perf_counter()
            call = Call("api", "openai.chat", f"s{i}", BODY, timeout_s=30)
            outcome = await client.ask(call, timeout=60)
            assert not isinstance(outcome, CommitFailed), outcome
            latencies.append(time.perf_counter() - start)

        inbox = layout.api_inbox("openai.chat")
        start = time.perf_counter()

        def commit_all() -> None:
            for i in range(CONCURRENT):
                commit_request(inbox, f"c{i}", BODY)

        thread = threading.Thread(target=commit_all)
        thread.start()
        while (await substrate.ask(Stats())).served < SEQUENTIAL + CONCURRENT:  # noqa: ASYNC110
            await asyncio.sleep(0.002)  # polls the substrate's counters; no event to wait on
        rate = CONCURRENT / (time.perf_counter() - start)
        thread.join()
        return latencies, rate


def report(name: str, got: tuple[list[float], float], base: tuple[list[float], float]) -> None:
    lat, rate = got
    base_lat, base_rate = base
    row(
        f"{name}: latency median (us)", median(lat) * 1e6, "us", median(base_lat) * 1e6, "plain dir"
    )
    row(
        f"{name}: latency p99 (us)",
        percentile(lat, 99) * 1e6,
        "us",
        percentile(base_lat, 99) * 1e6,
        "plain dir",
    )
    row(
        f"{name}: throughput, {CONCURRENT} committed at once", rate, "req/s", base_rate, "plain dir"
    )


def main() -> None:
    # Each backend is measured right after its own baseline: the disk is shared with other
    # work, and fsync cost drifts over seconds, so adjacent measurements compare fairly.
    with tempfile.TemporaryDirectory(prefix="bench-ctx-") as tmp:
        base = baseline(Path(tmp) / "plain-dir")
        report("directory backend", asyncio.run(substrate_run(Path(tmp) / "dir", False)), base)
        reason = fuse_available()
        if reason is not None:
            print(f"FUSE backend: skipped ({reason})")
            return
        base = baseline(Path(tmp) / "plain-fuse")
        try:
            report("FUSE backend", asyncio.run(substrate_run(Path(tmp) / "fuse", True)), base)
        except Exception as exc:  # e.g. no mount permission: say so, keep the other figures
            print(f"FUSE backend: skipped ({type(exc).__name__}: {exc})")


if __name__ == "__main__":
    main()
