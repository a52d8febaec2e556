"""A provider that runs a tool as a subprocess: fixed argv, no shell, timeout, output limit.

The request body is a `ToolInvocation`: `args` are appended to the configured argv (as
separate argv entries, never through a shell) and `stdin` is written to the process. The
answer is `{"exit_code": int, "stdout": str, "stderr": str}`; a run past the timeout or
past the output limit is killed and answered with a `timeout` / `output_limit` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping

import msgspec

from lightflow_actors import Actor, handler

from .._intake import ToolInvocation
from ._protocol import Answer, Failure, ProviderSpec, Work, WorkDone

__all__ = ["SubprocessWorker", "ToolResult", "subprocess_tool"]


class ToolResult(msgspec.Struct, frozen=True):
    exit_code: int
    stdout: str
    stderr: str


class _OutputLimit(Exception):
    pass


async def _read_limited(stream: asyncio.StreamReader, budget: list[int]) -> bytes:
    """Read all of `stream`, sharing one byte budget between stdout and stderr."""
    chunks: list[bytes] = []
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise _OutputLimit
        chunks.append(chunk)


class SubprocessWorker(Actor[Work]):
    def __init__(
        self,
        argv: tuple[str, ...],
        timeout_s: float,
        output_limit: int,
        env: Mapping[str, str] | None,
        cwd: str | None,
    ) -> None:
        self._argv = argv
        self._timeout_s = timeout_s
        self._output_limit = output_limit
        self._env = dict(env) if env is not None else None
        self._cwd = cwd

    @handler
    async def work(self, msg: Work) -> None:
        msg.reply_to.tell(WorkDone(msg.token, await self._run(msg)))

    async def _run(self, msg: Work) -> Answer | Failure:
        try:
            invocation = msgspec.convert(msg.request.body, ToolInvocation)
        except msgspec.ValidationError as exc:
            return Failure("malformed", f"the tool request is not a ToolInvocation: {exc}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                *invocation.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return Failure("provider_error", f"cannot start {self._argv[0]!r}: {exc.strerror}")
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        budget = [self._output_limit]

        async def communicate() -> tuple[bytes, bytes, int]:
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(invocation.stdin.encode())
                await proc.stdin.drain()
            proc.stdin.close()
            out, err = await asyncio.gather(
                _read_limited(proc.stdout, budget), _read_limited(proc.stderr, budget)
            )
            return out, err, await proc.wait()

        try:
            out, err, code = await asyncio.wait_for(communicate(), self._timeout_s)
        except TimeoutError:
            await _kill(proc)
            return Failure("timeout", f"{self._argv[0]!r} ran past {self._timeout_s}s; killed")
        except _OutputLimit:
            await _kill(proc)
            return Failure(
                "output_limit", f"{self._argv[0]!r} wrote more than {self._output_limit} bytes"
            )
        except BaseException:
            await _kill(proc)
            raise
        result = ToolResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        return Answer(msgspec.json.encode(result), self._argv[0])


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        # The tool runs in its own session, so its pid is its process group: kill the group
        # so grandchildren holding the pipes die with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await proc.wait()


def subprocess_tool(
    name: str,
    argv: list[str] | tuple[str, ...],
    *,
    timeout_s: float = 30.0,
    output_limit: int = 1 << 20,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ProviderSpec:
    """A provider running `argv + request.args` without a shell.

    `env` defaults to the substrate's environment; pass a small mapping to keep secrets out
    of tools. `output_limit` counts stdout and stderr together.

    >>> subprocess_tool("echo", ["/bin/echo"]).name
    'echo'
    """
    if not argv:
        raise ValueError(f"tool {name!r}: argv is empty; give the program to run")
    fixed = tuple(argv)
    return ProviderSpec(
        name, lambda: SubprocessWorker(fixed, timeout_s, output_limit, env, cwd), fixed[0]
    )
