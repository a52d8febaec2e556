"""A supervised child's last crash, as its supervisor noted it: reason and traceback.

A restarted child runs in a new cell whose ``last_crash`` is empty, so the crash an
operator wants to read lives on the supervisor's record of the child (`Child.crash`),
one per child spec, never on a cell (an idle actor's footprint stays as it is).

Noting must cost a restart almost nothing (a supervisor restart is ~30 µs here, and
``traceback.format_exception`` ~50 µs), and must not keep the dead actor alive: a
traceback holds its frames, and a handler's frame holds the actor and its state. So a
`CrashNote` keeps only what formatting needs later: the exception's type name and
message, and ``(code object, instruction offset)`` per frame (code objects are the
module's own, alive anyway; the line is looked up from the offset only when the text is
built, since ``tb_lineno`` scans the code's line table, several µs for the kernel's
step function), for at most `MAX_FRAMES` frames and `MAX_CHAIN` chained causes.
The text is built when someone reads the tree (`Crash`), at most `MAX_TEXT`
characters: the head and the tail (where the innermost frames and the error are).
"""

from __future__ import annotations

import linecache
from types import CodeType
from typing import Final

import msgspec

from ..kernel import format_reason

MAX_FRAMES: Final = 32
"""Frames kept per exception (the innermost ones: where it went wrong)."""
MAX_CHAIN: Final = 3
"""Exceptions of a chain kept (``raise ... from`` causes and contexts)."""
MAX_MESSAGE: Final = 1000
"""Characters of an exception's message kept."""
MAX_TEXT: Final = 4096
"""Characters of a formatted crash text at most."""

_CAUSE: Final = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT: Final = "\nDuring handling of the above exception, another exception occurred:\n\n"


class Crash(msgspec.Struct, frozen=True, kw_only=True):
    """The last crash of a child, as the tree shows it (``GET /system/tree``).

    ``reason`` is the one-line exit reason (``ValueError: boom``); ``traceback`` the
    formatted traceback (at most `MAX_TEXT` characters; the middle of a longer one is
    left out and says so); ``at_ms`` when the supervisor noted it (Unix ms, the system
    clock); ``restarts`` the child's restart count at that moment.
    """

    reason: str
    traceback: str
    at_ms: int
    restarts: int


class _Frames:
    """One exception of a chain: its type, message and frames, nothing that holds state."""

    __slots__ = ("error", "frames", "left_out", "link")

    def __init__(self, exc: BaseException, depth: int) -> None:
        self.error = _bounded(format_reason(exc), MAX_MESSAGE)
        frames: list[tuple[CodeType, int]] = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append((tb.tb_frame.f_code, tb.tb_lasti))  # the line: when formatted
            tb = tb.tb_next
        self.left_out = max(0, len(frames) - MAX_FRAMES)
        self.frames = tuple(frames[-MAX_FRAMES:])
        # (the earlier exception, how it leads here): a cause, or a context not suppressed
        self.link: tuple[_Frames, str] | None = None
        if depth < MAX_CHAIN:
            if exc.__cause__ is not None:
                self.link = (_Frames(exc.__cause__, depth + 1), _CAUSE)
            elif exc.__context__ is not None and not exc.__suppress_context__:
                self.link = (_Frames(exc.__context__, depth + 1), _CONTEXT)

    def text(self) -> str:
        parts: list[str] = []
        if self.link is not None:
            earlier, how = self.link
            parts += [earlier.text(), how]
        if self.frames:
            parts.append("Traceback (most recent call last):\n")
            if self.left_out:
                parts.append(f"  ... {self.left_out} outer frames left out ...\n")
            for code, lasti in self.frames:
                line = _line_of(code, lasti)
                parts.append(f'  File "{code.co_filename}", line {line}, in {code.co_name}\n')
                source = linecache.getline(code.co_filename, line).strip()
                if source:
                    parts.append(f"    {source}\n")
        parts.append(self.error + "\n")
        return "".join(parts)


class CrashNote:
    """What a supervisor keeps of a child's last crash (see the module docstring).

    ::

        note = CrashNote(exc, at_ms=clock.wall_ms(), restarts=child.restarts)
        note.crash().traceback  # formatted now, on demand, and kept
    """

    __slots__ = ("_crash", "_frames", "at_ms", "restarts")

    def __init__(self, exc: BaseException, *, at_ms: int, restarts: int) -> None:
        self._frames: _Frames | None = _Frames(exc, 1)
        self._crash: Crash | None = None
        self.at_ms = at_ms
        self.restarts = restarts

    def crash(self) -> Crash:
        """The crash as text (formatted on the first call; the frames are dropped then)."""
        if self._crash is None:
            assert self._frames is not None
            frames = self._frames
            self._crash = Crash(
                reason=frames.error,
                traceback=_bounded(frames.text(), MAX_TEXT),
                at_ms=self.at_ms,
                restarts=self.restarts,
            )
            self._frames = None
        return self._crash


def _line_of(code: CodeType, lasti: int) -> int:
    """The line of the instruction at byte offset ``lasti`` of ``code``: what a traceback's
    ``tb_lineno`` gives (the first line for a negative offset, -1 when none covers it)."""
    if lasti < 0:
        return code.co_firstlineno
    for start, end, line in code.co_lines():
        if start <= lasti < end:
            return line if line is not None else -1
    return -1


def _bounded(text: str, limit: int) -> str:
    """`text`, or its head and tail with what was left out said in the middle."""
    if len(text) <= limit:
        return text
    marker = f"\n  ... {len(text) - limit} characters left out ...\n"
    head = (limit - len(marker)) // 4
    tail = limit - len(marker) - head
    return text[:head] + marker + text[-tail:]
