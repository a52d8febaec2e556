"""`DirectoryWatcher`: notices committed requests in a plain folder and reports them.

With inotify a rename to `<id>.req.json` (`IN_MOVED_TO`) is reported as `Committed` within
milliseconds; a `<id>.req.json` *created* in place (`IN_CREATE`: a plain write, a hard
link) is reported as `WrittenInPlace`, which the substrate refuses (`not_renamed`) instead
of reading a file that may be half written. Job `req` and hook `trigger` files are reported
when renamed in or closed after writing. Without inotify (mode `poll`, or when it fails to
start, e.g. out of watches) the watcher asks for a rescan every `poll_interval_s`. In
inotify mode a slower safety rescan still runs every `rescan_interval_s`: it finds what
arrived before a folder was watched, and retries requests whose answer could not be written.

The watcher traps exits: its substrate's exit arrives as an `Exit` message and stops it
through `on_stop`, which closes the inotify descriptor. Not trapping would let that link
signal cancel an `on_stop` already started by a supervisor's terminate (the root's, at
shutdown), which the kernel then never finalizes (tests/ctx_substrate/test_shutdown_speed.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

from lightflow_actors.cortex import Suffix
from lightflow_actors.kernel import Actor, ActorRef, Exit, handler

from ._inotify import Inotify

__all__ = ["Committed", "DirectoryWatcher", "Rescan", "WatchMode", "WrittenInPlace"]

logger = logging.getLogger("ctx_substrate")

WatchMode = Literal["inotify", "poll"]


class Committed(msgspec.Struct, frozen=True):
    """A file that may be a committed request (or a job/hook file) appeared at `path`."""

    path: str


class WrittenInPlace(msgspec.Struct, frozen=True):
    """A `<id>.req.json` was created in place at `path`, not renamed there: not a commit."""

    path: str


class Rescan(msgspec.Struct, frozen=True):
    """Walk every inbox for requests the watcher may have missed."""


class _Tick(msgspec.Struct, frozen=True):
    pass


class DirectoryWatcher(Actor[_Tick | Exit]):
    trap_exit = True

    def __init__(
        self,
        root: Path,
        target: ActorRef[Committed | WrittenInPlace | Rescan],
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
        self._inotify: Inotify | None = None

    @property
    def mode(self) -> WatchMode:
        return self._mode

    def on_start(self) -> None:
        if self._mode == "inotify":
            try:
                self._inotify = Inotify(self._root)
                self.system.loop.add_reader(self._inotify.fd, self._readable)
            except Exception as exc:
                # No inotify (not Linux), out of watches or instances, or a loop that
                # watches no descriptor (the deterministic scheduler's): poll instead.
                self._fall_back(f"{type(exc).__name__}: {exc}")
        self._schedule()

    def on_stop(self, reason: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._inotify is not None:
            self.system.loop.remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None

    def _fall_back(self, reason: str) -> None:
        logger.warning("inotify failed (%s); polling every %ss", reason, self._poll_interval_s)
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._mode = "poll"

    def _schedule(self) -> None:
        delay = self._poll_interval_s if self._mode == "poll" else self._rescan_interval_s
        self.send_after(delay, self.ref, _Tick())

    def _readable(self) -> None:
        """Runs on the loop when the inotify descriptor has events: report, never block."""
        inotify, target = self._inotify, self._target
        if inotify is None:
            return
        rescan = False
        try:
            for event in inotify.read():
                if event.overflow:  # the kernel dropped events: only a rescan finds them
                    rescan = True
                    continue
                path = event.path
                assert path is not None
                if event.is_dir:
                    if event.created or event.moved_in:
                        inotify.watch_tree(path)
                        rescan = True  # files may have arrived before the watch
                    continue
                name = str(path)
                if not self._interesting(name):
                    continue
                if name.endswith(Suffix.REQUEST):
                    if event.moved_in:
                        target.tell(Committed(name))
                    elif event.created:
                        target.tell(WrittenInPlace(name))
                elif event.moved_in or event.closed_after_write:
                    target.tell(Committed(name))
        except OSError as exc:  # out of watches for a new folder, or the descriptor broke
            self._close()
            self._fall_back(f"{type(exc).__name__}: {exc}")
            rescan = True
        if rescan:
            target.tell(Rescan())

    @handler
    def tick(self, msg: _Tick) -> None:
        self._target.tell(Rescan())
        self._schedule()

    @handler
    def exited(self, msg: Exit) -> None:
        # The only link is to the substrate: whatever its reason, there is nothing to watch for.
        self.stop(msg.reason)
