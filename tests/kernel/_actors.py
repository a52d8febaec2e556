"""Actors and messages shared by the kernel tests."""

from __future__ import annotations

import asyncio

import msgspec

from lightflow_actors import Actor, Ask, Down, Exit, ExitReason, handler


class Inc(msgspec.Struct, frozen=True):
    by: int = 1


class Get(Ask[int], frozen=True):
    pass


class Boom(msgspec.Struct, frozen=True):
    text: str = "boom"


class Sleep(Ask[str], frozen=True):
    seconds: float


class Record(msgspec.Struct, frozen=True):
    sender: int
    seq: int


class Log(Ask[list[object]], frozen=True):
    pass


class Quit(msgspec.Struct, frozen=True):
    """Exit *itself* with ``reason`` (``self.stop(reason)``), e.g. ``"kill"``."""

    reason: str = "normal"


class Counter(Actor[Inc | Get | Boom | Sleep]):
    def __init__(self) -> None:
        self.value = 0

    @handler
    def inc(self, msg: Inc) -> None:
        self.value += msg.by

    @handler
    def get(self, msg: Get) -> int:
        return self.value

    @handler
    def boom(self, msg: Boom) -> None:
        raise RuntimeError(msg.text)

    @handler
    async def sleep(self, msg: Sleep) -> str:
        await asyncio.sleep(msg.seconds)
        return "slept"


class Recorder(Actor[Record | Log | Boom | Quit]):
    """Keeps every message and signal it receives, in order; ``stops`` gets each
    ``on_stop`` reason."""

    def __init__(self, trap: bool = False, stops: list[ExitReason] | None = None) -> None:
        self.seen: list[object] = []
        self.trap_exit = trap
        self.stops = stops if stops is not None else []

    def on_stop(self, reason: ExitReason) -> None:
        self.stops.append(reason)

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop(msg.reason)

    @handler
    def record(self, msg: Record) -> None:
        self.seen.append(msg)

    @handler
    def log(self, msg: Log) -> list[object]:
        return list(self.seen)

    @handler
    def boom(self, msg: Boom) -> None:
        raise RuntimeError(msg.text)

    @handler
    def exit(self, msg: Exit) -> None:
        self.seen.append(msg)

    @handler
    def down(self, msg: Down) -> None:
        self.seen.append(msg)


class Lifecycle(Actor[Inc | Get]):
    """Writes its lifecycle into a shared journal."""

    def __init__(self, journal: list[str], tag: str = "a") -> None:
        self.journal = journal
        self.tag = tag

    def on_start(self) -> None:
        self.journal.append(f"{self.tag}:start")

    def on_stop(self, reason: ExitReason) -> None:
        self.journal.append(f"{self.tag}:stop:{reason}")

    @handler
    def inc(self, msg: Inc) -> None:
        self.journal.append(f"{self.tag}:inc")

    @handler
    def get(self, msg: Get) -> int:
        return len(self.journal)
