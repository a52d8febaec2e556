"""A provider that runs a tool as a subprocess: fixed argv, no shell, timeout, output limit.

Two modes, because a tool is either written for `/ctx` or is a plain program:

- `json` (default): the request body (the tool's typed input, a JSON object) is written to
  the process's stdin as JSON; its stdout must be one JSON document, which becomes the
  answer (the tool's typed output). A non-zero exit status, or stdout that is not JSON, is
  a `provider_error` naming the tool and quoting the end of its stderr.
- `argv`: a plain program (`wc`, `jq`, ...) with no wrapper. Its input type is
  `ToolInvocation` `{"args": [str], "stdin": str}`: `args` are appended to the configured
  argv (separate argv entries, never through a shell) and `stdin` is written to it. The
  answer is `ToolResult` `{"exit_code", "stdout", "stderr"}` whatever the exit status.

In both modes a run past the timeout, or writing more than the output limit (stdout and
stderr together), is killed and answered with a `timeout` / `output_limit` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from typing import Literal, TypeAlias

import msgspec

from lightflow_actors.cortex import DECODE_ERRORS
from lightflow_actors.kernel import Actor, handler

from ._protocol import Answer, Failure, ProviderSpec, Work, WorkDone

__all__ = [
    "PROCESS_CONCURRENCY",
    "SubprocessWorker",
    "ToolInvocation",
    "ToolMode",
    "ToolResult",
    "subprocess_tool",
]

ToolMode: TypeAlias = Literal["json", "argv"]

_STDERR_TAIL = 400

PROCESS_CONCURRENCY = 4
"""Default number of processes one subprocess tool runs at once."""


class ToolInvocation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The input of an `argv`-mode tool: arguments appended to its fixed argv, and stdin."""

    args: tuple[str, ...] = ()
    stdin: str = ""


class ToolResult(msgspec.Struct, frozen=True):
    """The output of an `argv`-mode tool."""

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
        mode: ToolMode = "json",
    ) -> None:
        self._argv = argv
        self._timeout_s = timeout_s
        self._output_limit = output_limit
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._mode = mode

    @handler
    async def work(self, msg: Work) -> None:
        msg.reply_to.tell(WorkDone(msg.token, await self._serve(msg)))

    async def _serve(self, msg: Work) -> Answer | Failure:
        tool = msg.request.target
        if self._mode == "json":
            ran = await self._run((), msgspec.json.encode(msg.request.body))
            if isinstance(ran, Failure):
                return ran
            out, err, code = ran
            if code != 0:
                return Failure(
                    "provider_error",
                    f"tool {tool!r} ({self._argv[0]!r}) exited with status {code}{_tail(err)}",
                )
            try:
                msgspec.json.decode(out)
            except DECODE_ERRORS as exc:
                return Failure(
                    "provider_error",
                    f"tool {tool!r} ({self._argv[0]!r}) wrote stdout that is not one JSON "
                    f"document ({exc}); a json-mode tool must print its output as JSON"
                    f"{_tail(err)}",
                )
            return Answer(out, self._argv[0])
        try:
            invocation = msgspec.convert(msg.request.body, ToolInvocation)
        except msgspec.ValidationError as exc:
            return Failure(
                "malformed",
                f"tool {tool!r} runs a plain program: its input is "
                f'{{"args": [str], "stdin": str}}: {exc}',
            )
        if any("\x00" in arg for arg in invocation.args):
            return Failure("malformed", f"tool {tool!r}: an argument contains NUL")
        ran = await self._run(invocation.args, invocation.stdin.encode())
        if isinstance(ran, Failure):
            return ran
        out, err, code = ran
        result = ToolResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        return Answer(msgspec.json.encode(result), self._argv[0])

    async def _run(self, args: tuple[str, ...], stdin: bytes) -> tuple[bytes, bytes, int] | Failure:
        """Run argv + args with `stdin`; (stdout, stderr, exit status) or why it failed."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return Failure("provider_error", f"cannot start {self._argv[0]!r}: {exc.strerror}")
        budget = [self._output_limit]

        async def communicate() -> tuple[bytes, bytes, int]:
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            # Write stdin while reading the pipes: a tool answering before it has read all
            # of a large input must not deadlock against us.
            writing = asyncio.ensure_future(_feed(proc.stdin, stdin))
            try:
                out, err = await asyncio.gather(
                    _read_limited(proc.stdout, budget), _read_limited(proc.stderr, budget)
                )
            finally:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
            return out, err, await proc.wait()

        try:
            return await asyncio.wait_for(communicate(), self._timeout_s)
        except TimeoutError:
            await _kill(proc)
            return Failure("timeout", f"{self._argv[0]!r} ran past {self._timeout_s}s; killed")
        except _OutputLimit:
            await _kill(proc)
            return Failure(
                "output_limit",
                f"{self._argv[0]!r} wrote more than {self._output_limit} bytes "
                "(stdout and stderr together); killed",
            )
        except BaseException:
            await _kill(proc)
            raise


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    stdin.close()


def _tail(err: bytes) -> str:
    text = err.decode("utf-8", "replace").strip()
    if not text:
        return ""
    if len(text) > _STDERR_TAIL:
        text = "…" + text[-_STDERR_TAIL:]
    return f"; stderr: {text}"


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
    mode: ToolMode = "json",
    timeout_s: float = 30.0,
    output_limit: int = 1 << 20,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    concurrency: int = PROCESS_CONCURRENCY,
) -> ProviderSpec:
    """A provider running `argv` without a shell, per request.

    `mode="json"` (default): the request body goes to stdin as JSON and stdout, parsed as
    JSON, is the answer. `mode="argv"`: the body is `ToolInvocation` (`args` appended to
    argv, `stdin`), the answer `ToolResult`. `env` defaults to the substrate's environment;
    pass a small mapping to keep secrets out of tools. `output_limit` counts stdout and
    stderr together. `concurrency` bounds how many processes of it run at once.

    >>> subprocess_tool("wc", ["/usr/bin/wc", "-w"], mode="argv").name
    'wc'
    """
    if not argv:
        raise ValueError(f"tool {name!r}: argv is empty; give the program to run")
    if mode not in ("json", "argv"):
        raise ValueError(f"tool {name!r}: mode {mode!r} is neither 'json' nor 'argv'")
    fixed = tuple(argv)
    return ProviderSpec(
        name,
        lambda: SubprocessWorker(fixed, timeout_s, output_limit, env, cwd, mode),
        fixed[0],
        concurrency,
    )
