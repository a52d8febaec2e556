"""`DirectoryWatcher`: notices committed requests in a plain folder and reports them.

With inotify (through watchfiles) a rename to `<id>.req.json` is reported within
milliseconds; a plain `<id>.tmp` write is filtered out. Without inotify (mode `poll`, or
when watchfiles fails to start, e.g. out of inotify watches) the watcher asks for a rescan
every `poll_interval_s`. In inotify mode a slower safety rescan still runs every
`rescan_interval_s`, because inotify drops events when its queue overflows.

The watcher traps exits: its substrate's exit arrives as an `Exit` message and stops it
through `on_stop`, which ends the watchfiles thread. Not trapping would let that link
signal cancel an `on_stop` already started by a supervisor's terminate (the root's, at
shutdown), which the kernel then never finalizes (tests/ctx_substrate/test_shutdown_speed.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec
import watchfiles

from lightflow_actors.kernel import Actor, ActorRef, Exit, handler

__all__ = ["Committed", "DirectoryWatcher", "Rescan", "WatchMode"]

logger = logging.getLogger("ctx_substrate")

WatchMode = Literal["inotify", "poll"]


class Committed(msgspec.Struct, frozen=True):
    """A file that may be a committed request (or a job/hook file) appeared at `path`."""

    path: str


class Rescan(msgspec.Struct, frozen=True):
    """Walk every inbox for requests the watcher may have missed."""


class _Tick(msgspec.Struct, frozen=True):
    pass


class _WatchFailed(msgspec.Struct, frozen=True):
    reason: str


class DirectoryWatcher(Actor[_Tick | _WatchFailed | Exit]):
    trap_exit = True

    def __init__(
        self,
        root: Path,
        target: ActorRef[Committed | Rescan],
        *,
        mode: WatchMode,
        poll_interval_s: float,
        rescan_interval_s: float,
        interesting: Callable[[str], bool],
    ) -> None:
        self._root = root
        self._target = target
        self._mode: WatchMode = mode
        self._poll_interval_s = poll_interval_s
        self._rescan_interval_s = rescan_interval_s
        self._interesting = interesting
        self._task: asyncio.Task[None] | None = None
        self._stop_event = asyncio.Event()

    @property
    def mode(self) -> WatchMode:
        return self._mode

    def on_start(self) -> None:
        if self._mode == "inotify":
            self._task = self.system.loop.create_task(self._watch())
        self._schedule()

    async def on_stop(self, reason: object) -> None:
        self._stop_event.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _schedule(self) -> None:
        delay = self._poll_interval_s if self._mode == "poll" else self._rescan_interval_s
        self.send_after(delay, self.ref, _Tick())

    async def _watch(self) -> None:
        target, interesting = self._target, self._interesting
        try:
            async for changes in watchfiles.awatch(
                self._root,
                watch_filter=lambda change, path: (
                    change != watchfiles.Change.deleted and interesting(path)
                ),
                debounce=50,
                step=1,
                stop_event=self._stop_event,
                recursive=True,
                ignore_permission_denied=True,
            ):
                for path in sorted(p for _, p in changes):
                    target.tell(Committed(path))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # inotify unavailable or exhausted: fall back to polling
            self.ref.tell(_WatchFailed(f"{type(exc).__name__}: {exc}"))

    @handler
    def tick(self, msg: _Tick) -> None:
        self._target.tell(Rescan())
        self._schedule()

    @handler
    def exited(self, msg: Exit) -> None:
        # The only link is to the substrate: whatever its reason, there is nothing to watch for.
        self.stop(msg.reason)

    @handler
    def watch_failed(self, msg: _WatchFailed) -> None:
        logger.warning(
            "watchfiles failed (%s); polling every %ss", msg.reason, self._poll_interval_s
        )
        self._mode = "poll"
        self._task = None
