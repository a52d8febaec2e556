"""The fault suite: drills against a real `lightflow serve`, each ending in a recovery check.

Run one drill or all of them (`just test` runs every drill through
`tests/test_fault_suite.py`):

    uv run --frozen python scripts/fault_suite.py            # every drill
    uv run --frozen python scripts/fault_suite.py bad-input  # one drill

Each drill starts the server as a child process on 127.0.0.1 with its own XDG state and
config folders, does harm, and then checks what an operator cares about:

- `GET /ready` comes back to 200 (polled; the deadline bounds a hang, it measures nothing);
- a good `POST /runs` is accepted and the run succeeds with the right output;
- nothing is lost, duplicated or torn: every run the drill created is listed once, reaches
  a final status, and every line of its journals parses.

Drills: `bad-input` (invalid UTF-8, 5 000-deep nesting and oversized bodies into every
route with a body, and into the live WebSocket), `poison-ctx` (a poisoned `/ctx` inbox,
then a restart), `disk-full` (a 5 MiB tmpfs state folder filled until writes fail; skipped
with the reason where the machine cannot mount one), `fd-limit` (`RLIMIT_NOFILE` 256, then
300 connections), `kill-9` (SIGKILL mid-run, then a restart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORD_COUNT_TEXT = "one two three\nfour five\n"
WORD_COUNT_ANSWER = {"words": 5, "lines": 2}
FINAL = {"succeeded", "failed", "cancelled"}
# Deadlines bound a hang; nothing here measures speed. A subsystem that gave up comes back
# after its backoff (at most 30 s by default), so readiness gets more than that.
READY_WITHIN_S = 90.0
RUN_WITHIN_S = 60.0


class Skip(Exception):
    """The drill cannot run on this machine; the message says why."""


@dataclass
class Server:
    """`lightflow serve` as a child process with its own state, config and limits."""

    home: Path
    nofile: int | None = None
    token: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    stderr_path: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.home / "state" / "lightflow"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
        env["XDG_STATE_HOME"] = str(self.home / "state")
        env["XDG_CONFIG_HOME"] = str(self.home / "config")
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        if self.token is not None:
            env["LIGHTFLOW_TOKEN"] = self.token
        return env

    def start(self) -> Server:
        nofile = self.nofile

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        runs = len(list(self.home.glob("serve-*.stderr")))
        self.stderr_path = self.home / f"serve-{runs}.stderr"
        with self.stderr_path.open("wb") as stderr:  # a file: a chatty server never blocks
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"],
                cwd=ROOT,
                env=self.environ(),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                preexec_fn=limit,
            )
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=read, daemon=True).start()
        try:
            first = lines.get(timeout=90)
        except queue.Empty:
            first = ""
        if not first:
            self.stop()
            raise AssertionError(f"serve did not start:\n{self.stderr_tail()}")
        self.url = json.loads(first)["url"].rstrip("/")
        return self

    def client(self, timeout: float = 30) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, timeout=timeout, trust_env=False, headers=headers)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("serve did not stop on SIGTERM within 30 s") from None
        return self.proc.returncode

    def stderr_bytes(self) -> int:
        return self.stderr_path.stat().st_size if self.stderr_path else 0

    def stderr_tail(self, n: int = 4000) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")


@contextlib.contextmanager
def serving(home: Path, **options: object) -> Iterator[Server]:
    server = Server(home, **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        code = server.stop()
        if code not in (0, None, -signal.SIGKILL):
            raise AssertionError(f"serve exited {code} on SIGTERM:\n{server.stderr_tail()}")


# --- what every drill checks at its end ---------------------------------------------------


def wait_ready(server: Server) -> None:
    """`GET /ready` answers 200 (every subsystem up)."""
    deadline = time.monotonic() + READY_WITHIN_S
    last = "no answer"
    with server.client(timeout=10) as client:
        while time.monotonic() < deadline:
            assert server.alive(), f"serve exited:\n{server.stderr_tail()}"
            try:
                answer = client.get("/ready")
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:500]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.2)
    raise AssertionError(f"/ready not 200 within {READY_WITHIN_S} s: {last}")


def create_run(client: httpx.Client, text: str = WORD_COUNT_TEXT) -> str:
    answer = client.post("/runs", json={"workflow": "word-count", "inputs": {"text": text}})
    assert answer.status_code in (201, 202), f"POST /runs: {answer.status_code} {answer.text}"
    run_id = answer.json()["run_id"]
    assert isinstance(run_id, str)
    return run_id


def wait_final(client: httpx.Client, run_id: str) -> dict[str, object]:
    deadline = time.monotonic() + RUN_WITHIN_S
    view: dict[str, object] = {}
    while time.monotonic() < deadline:
        answer = client.get(f"/runs/{run_id}")
        if answer.status_code == 200:
            view = answer.json()
            if view.get("status") in FINAL:
                return view
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} not final within {RUN_WITHIN_S} s: {view}")


def good_run_succeeds(server: Server) -> str:
    """A good request is accepted and its run succeeds with the right answer."""
    with server.client() as client:
        run_id = create_run(client)
        view = wait_final(client, run_id)
        assert view["status"] == "succeeded", view
    output = json.loads(
        (server.state_dir / "runs" / run_id / "outputs" / "count.json").read_bytes()
    )
    assert output == WORD_COUNT_ANSWER, output
    return run_id


def nothing_lost(server: Server, run_ids: list[str]) -> None:
    """Every run is listed once, is final, and its journals are whole JSON lines."""
    with server.client() as client:
        listed = client.get("/runs")
        assert listed.status_code == 200, listed.text
        ids = [summary["run_id"] for summary in listed.json()]
        assert len(ids) == len(set(ids)), f"a run is listed twice: {ids}"
        for run_id in run_ids:
            assert run_id in ids, f"run {run_id} is lost"
            view = wait_final(client, run_id)
            for journal in ("events", "trace"):
                answer = client.get(f"/runs/{run_id}/{journal}")
                assert answer.status_code == 200, answer.text
                seqs = []
                for line in answer.text.splitlines():
                    record = json.loads(line)  # a torn line fails here
                    if journal == "events":
                        seqs.append(record["seq"])
                if journal == "events":
                    assert seqs == list(range(1, len(seqs) + 1)), f"{run_id}: seqs {seqs}"
            assert view["status"] in FINAL, view
    journal_files = list((server.state_dir / "runs").glob("*/*.jsonl"))
    for path in journal_files:
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path} ends in a torn line"


def recovered(server: Server, run_ids: list[str] | None = None) -> str:
    wait_ready(server)
    run_id = good_run_succeeds(server)
    nothing_lost(server, [*(run_ids or []), run_id])
    return run_id


# --- the drills ---------------------------------------------------------------------------

INVALID_UTF8 = b'{"workflow":"word-count","inputs":{"text":"\xff\xfe"}}'
DEEP = b'{"workflow":"word-count","inputs":{"text":' + b"[" * 5000 + b"]" * 5000 + b"}}"
DEEP_TOP = b"[" * 5000 + b"]" * 5000


def body_routes(client: httpx.Client) -> list[str]:
    """Every route of the served OpenAPI document that takes a request body."""
    import yaml  # the dev environment has it (schemathesis); the server never imports it

    answer = client.get("/openapi.yaml")
    assert answer.status_code == 200, answer.text
    spec = yaml.safe_load(answer.text)
    routes = []
    for path, item in spec["paths"].items():
        if "post" in item:
            concrete = (
                path.replace("{id}", "no-such-thing")
                .replace("{step}", "count")
                .replace("{kind}", "workflows")
            )
            routes.append(concrete)
    assert "/runs" in routes, routes
    return routes


def hostile_bodies() -> list[tuple[str, bytes]]:
    return [
        ("invalid-utf8", INVALID_UTF8),
        ("deep-inputs", DEEP),
        ("deep", DEEP_TOP),
        ("bare-invalid-utf8", b"\xff\xfe\xfd"),
        ("truncated", b'{"workflow": "word-'),
        ("oversized", b'{"workflow":"word-count","inputs":{"text":"' + b"a" * (8 << 20) + b'"}}'),
    ]


def drill_bad_input(home: Path) -> None:
    with serving(home) as server:
        wait_ready(server)
        with server.client() as client:
            routes = body_routes(client)
            for route in routes:
                for name, body in hostile_bodies():
                    status, text = post_raw(server, route, body)
                    # refused with a client error (a route may refuse its path first)
                    assert 400 <= status < 500, f"{route} {name}: {status} {text[:300]}"
                    assert '"error"' in text, f"{route} {name}: no JSON error: {text[:300]}"
            for _ in range(6):  # more than the runs supervisor's restart intensity
                answer = client.post(
                    "/runs", content=INVALID_UTF8, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 400, f"{answer.status_code} {answer.text[:300]}"
        live_socket_survives_junk(server)
        recovered(server)


def post_raw(server: Server, route: str, body: bytes) -> tuple[int, str]:
    """POST `body` on a raw socket and read the answer, even when the server answers
    before the body is sent (a 413 on Content-Length) and closes: a client library
    would report the closed socket instead of the answer it was given."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (
            f"POST {route} HTTP/1.1\r\nhost: {host}:{port}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(OSError):  # the server may stop reading: it answered
            sock.sendall(head + body)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), f"{route}: no answer ({data[:200]!r})"
    return int(status_line.split()[1]), rest.decode("utf-8", "replace")


def live_socket_survives_junk(server: Server) -> None:
    """Junk frames on the live socket get an error frame or a close; the server goes on."""
    frames = [
        (0x1, b"\xff\xfe"),  # a text frame that is not UTF-8
        (0x1, b"[" * 5000 + b"]" * 5000),
        (0x1, b"{" * 100),
        (0x2, b"\x00\x01"),  # binary where text is expected
        (0x1, b"a" * (4 << 20)),
    ]
    for opcode, payload in frames:
        with contextlib.closing(websocket_connect(server)) as sock:
            sock.sendall(ws_frame(opcode, payload))
            sock.settimeout(10)
            with contextlib.suppress(OSError):
                sock.recv(65536)  # an error frame or a close: either is a fine answer
        assert server.alive(), f"serve died on a junk frame:\n{server.stderr_tail()}"


def websocket_connect(server: Server) -> socket.socket:
    """A raw client socket after the WebSocket handshake on `/live/socket`."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        (
            f"GET /live/socket HTTP/1.1\r\nhost: {host}:{port}\r\nupgrade: websocket\r\n"
            "connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"sec-websocket-version: 13\r\norigin: {server.url}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the socket closed during the handshake"
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    assert b" 101 " in status, f"handshake: {status!r}"
    return sock


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 section 5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def ctx_inbox(server: Server) -> Path:
    uid = str(os.getuid())
    return server.state_dir / "ctx" / "home" / uid / "api" / "openai.chat" / "inbox"


def ctx_outbox(server: Server) -> Path:
    return ctx_inbox(server).parent / "outbox"


POISONS: dict[str, bytes] = {
    "poison-utf8": b'{"model": "m", "messages": [{"role": "user", "content": "\xff"}]}',
    "poison-deep": b'{"model": "m", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "poison-junk": b"\x00\x01not json",
}


def drill_poison_ctx(home: Path) -> None:
    # First boot creates the tree; then poison it while running, and again while stopped.
    with serving(home) as server:
        wait_ready(server)
        inbox = ctx_inbox(server)
        inbox.mkdir(parents=True, exist_ok=True)
        for name, body in POISONS.items():
            commit(inbox, f"{name}-live", body)
        wait_answered(server, [f"{name}-live" for name in POISONS])
        recovered(server)
    inbox = ctx_inbox(server)
    for name, body in POISONS.items():
        commit(inbox, f"{name}-cold", body)
        # a request a crashed process had claimed (`<id>.claimed`) but never answered
        (inbox / f"{name}-claimed.claimed").write_bytes(body)
    with serving(home) as server:  # starts although the inbox is poisoned
        wait_answered(server, [f"{n}-{when}" for n in POISONS for when in ("cold", "claimed")])
        recovered(server)
        with server.client() as client:  # each poison is set aside where operators see it
            answer = client.get("/ctx/dead-letters")
            assert answer.status_code == 200, answer.text
            listed = json.dumps(answer.json())
            for name in POISONS:
                for when in ("live", "cold", "claimed"):
                    assert f"{name}-{when}" in listed, f"{name}-{when} not in {listed[:2000]}"


def commit(inbox: Path, request_id: str, body: bytes) -> None:
    """Commit a request the way the ABI says: write a temp file, rename it in."""
    tmp = inbox / f"{request_id}.tmp"
    tmp.write_bytes(body)
    tmp.rename(inbox / f"{request_id}.req.json")


def wait_answered(server: Server, request_ids: list[str]) -> None:
    """Each request gets an answer or an error file."""
    outbox = ctx_outbox(server)
    deadline = time.monotonic() + READY_WITHIN_S
    missing = list(request_ids)
    while missing and time.monotonic() < deadline:
        assert server.alive(), f"serve exited:\n{server.stderr_tail()}"
        missing = [
            rid
            for rid in missing
            if not (outbox / f"{rid}.error").exists() and not (outbox / f"{rid}.resp.json").exists()
        ]
        time.sleep(0.2)
    assert not missing, f"never answered: {missing}\n{server.stderr_tail()}"


def drill_disk_full(home: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        raise Skip("mounting a tmpfs needs root and mount(8)")
    state = home / "state"
    state.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(state)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        raise Skip(f"this machine cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        with serving(home) as server:
            wait_ready(server)
            ballast = state / "ballast"
            with ballast.open("wb") as fill, contextlib.suppress(OSError):
                while True:  # fill the state folder until the device is full
                    fill.write(b"\0" * (256 << 10))
                    fill.flush()
            failures = 0
            created: list[str] = []
            with server.client() as client:
                for _ in range(5):
                    answer = client.post(
                        "/runs", json={"workflow": "word-count", "inputs": {"text": "x y"}}
                    )
                    assert answer.status_code < 600
                    if answer.status_code in (201, 202):
                        created.append(answer.json()["run_id"])
                    else:
                        failures += 1
                        # a clear error for this request; the runs host did not crash on it
                        assert answer.status_code in (503, 507), answer.text
                        assert "space" in answer.text.lower(), answer.text
                        assert "exited before replying" not in answer.text, answer.text
            assert failures, "the full disk refused no write"
            wait_ready(server)  # every subsystem kept running while the disk was full
            ballast.unlink()  # space returns
            recovered(server, created)
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def drill_fd_limit(home: Path) -> None:
    with serving(home, nofile=256) as server:
        wait_ready(server)
        host, port = server.url.removeprefix("http://").split(":")
        sockets: list[socket.socket] = []
        before = server.stderr_bytes()
        try:
            for _ in range(300):
                try:
                    sock = socket.create_connection((host, int(port)), timeout=5)
                except OSError:
                    break
                # a slow body: headers promising more than ever comes
                sock.sendall(
                    b"POST /runs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    b"content-length: 100000\r\n\r\n{"
                )
                sockets.append(sock)
            time.sleep(3)  # let the accept loop hit the limit for a while
            assert server.alive(), f"serve died at the fd limit:\n{server.stderr_tail()}"
            grown = server.stderr_bytes() - before
            assert grown < 200_000, f"stderr grew {grown} bytes at the fd limit (one per failure?)"
        finally:
            for sock in sockets:
                sock.close()
        recovered(server)


def drill_kill_9(home: Path) -> None:
    created: list[str] = []
    server = Server(home).start()
    try:
        wait_ready(server)
        with server.client() as client:
            for i in range(10):
                created.append(create_run(client, f"word {i} " * 50))
        server.kill()
    finally:
        if server.alive():
            server.kill()
    with serving(home) as server:
        recovered(server, created)
        with server.client() as client:
            for run_id in created:
                view = wait_final(client, run_id)
                assert view["status"] == "succeeded", view


DRILLS: dict[str, Callable[[Path], None]] = {
    "bad-input": drill_bad_input,
    "poison-ctx": drill_poison_ctx,
    "disk-full": drill_disk_full,
    "fd-limit": drill_fd_limit,
    "kill-9": drill_kill_9,
}


def run_drill(name: str, home: Path | None = None) -> None:
    """Run one drill in `home` (a fresh temp folder when None)."""
    if home is None:
        with tempfile.TemporaryDirectory(prefix=f"fault-{name}-") as tmp:
            DRILLS[name](Path(tmp))
    else:
        DRILLS[name](home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "drills", nargs="*", metavar="DRILL", help=f"default: all of {list(DRILLS)}"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.drills if name not in DRILLS]
    if unknown:
        parser.error(f"unknown drill {unknown[0]!r}; the drills are {', '.join(DRILLS)}")
    failed = 0
    for name in args.drills or list(DRILLS):
        started = time.monotonic()
        try:
            run_drill(name)
        except Skip as exc:
            print(f"SKIP {name}: {exc}")
            continue
        except AssertionError as exc:
            failed += 1
            print(f"FAIL {name}: {exc}")
            continue
        print(f"ok   {name} ({time.monotonic() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
