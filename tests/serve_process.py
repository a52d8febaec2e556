"""`lightflow serve` as a real child process, for the tests that need one.

`lightflow_serve(*args)` starts it on a free port (add ``--port 0`` to ``args``), waits for
the JSON line that announces its URL, yields that URL, and stops it with SIGTERM (killed
after 30 s). ``check_exit`` then asserts it stopped gracefully (exit 0).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path


@contextlib.contextmanager
def lightflow_serve(
    *args: str,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    check_exit: bool = False,
) -> Iterator[str]:
    """Yield the URL of a running ``lightflow serve ARGS``; its stderr goes to `log` (a
    file, so a chatty server never blocks) or to a pipe read when it fails to start."""
    command = [sys.executable, "-m", "lightflow_actors.cli", "serve", *args]
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("wb")) if log is not None else subprocess.PIPE
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=dict(env) if env is not None else None,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(30)
            why = (
                log.read_text() if log is not None else (proc.stderr.read() if proc.stderr else "")
            )
            raise AssertionError(f"lightflow serve {' '.join(args)} did not start: {why}")
        yield json.loads(line)["url"].rstrip("/")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if check_exit:
        assert proc.returncode == 0, log.read_text()[-3000:] if log is not None else proc.returncode
