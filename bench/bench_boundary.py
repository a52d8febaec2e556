"""Memory of the server while a client streams a huge body at it (the "let it crash,
correctly" boundary): `lightflow serve` runs in a child process, a client sends a 300 MB
chunked body to each body-taking route, and a sampler reads the server's RSS from
`/proc/<pid>/status` every few milliseconds.

Printed per route: the server's idle RSS, its peak while receiving, and the peak's delta
over idle, beside the same figures for a 32 KiB body (the baseline, in the same run). The
body is refused with 413 once it passes the route's limit (2 MiB; 64 KiB for the operator
routes), so the 300 MB delta should stay near the baseline's (target: within 20 MB of idle).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HUGE = 300 * 1024 * 1024
SMALL = 32 * 1024
CHUNK = 64 * 1024
ROUTES = ("/runs", "/runs/preview", "/mcp", "/actors/1/stop")


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Sampler:
    """The highest RSS of `pid` seen between `start` and `stop` (sampled every 5 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_kib(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self.peak = _rss_kib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # what the server still does with the last chunks
        self._stop.set()
        self._thread.join()


@contextmanager
def _server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "XDG_STATE_HOME": str(Path(tmp) / "state"),
            "LIGHTFLOW_CTX_MOUNT": str(Path(tmp) / "ctx"),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        try:
            yield proc, port
        finally:
            proc.terminate()
            proc.wait(30)


def _send(port: int, path: str, size: int) -> tuple[str, int]:
    """Stream `size` bytes of JSON-ish body chunked to `path`; the status line the server
    answered and how many body bytes went out before it stopped reading."""
    sock = socket.create_connection(("127.0.0.1", port))
    sent = 0
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        step = min(CHUNK, size)
        chunk = f"{step:x}\r\n".encode() + b" " * step + b"\r\n"
        # "[" then blanks: JSON that never closes, so every route refuses it (400 or 413)
        # and no action runs.
        sock.sendall(b"1\r\n[\r\n")
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += step
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest is not read
        sock.settimeout(30)
        try:
            status = sock.recv(65536).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            status = f"(connection reset: {exc.strerror})"
        return status, sent
    finally:
        sock.close()


def main() -> None:
    with _server() as (proc, port):
        time.sleep(1.0)
        idle = _rss_kib(proc.pid)
        print(f"server idle RSS: {idle / 1024:.1f} MiB (pid {proc.pid})")
        print(
            f"{'route':<16} {'body':>8} {'answer':<36} {'sent':>10} "
            f"{'idle MiB':>9} {'peak MiB':>9} {'delta MiB':>10}"
        )
        for path in ROUTES:
            for size in (SMALL, HUGE):
                before = _rss_kib(proc.pid)
                with Sampler(proc.pid) as sampler:
                    status, sent = _send(port, path, size)
                label = f"{SMALL // 1024} KiB" if size == SMALL else "300 MB"
                print(
                    f"{path:<16} {label:>8} {status[:36]:<36} {sent / 2**20:>8.1f}Mi "
                    f"{before / 1024:>9.1f} {sampler.peak / 1024:>9.1f} "
                    f"{(sampler.peak - before) / 1024:>10.1f}",
                    flush=True,
                )
        after = _rss_kib(proc.pid)
        print(f"server RSS after all: {after / 1024:.1f} MiB (idle was {idle / 1024:.1f})")


if __name__ == "__main__":
    main()
