"""Presence fan-out: frames sent to browsers while N sessions join one room.

Each session mounts a small presence view (subscribe to the room, track itself, render the
list of who is here) through the real transport and session actors, on an in-memory
socket that counts what the transport writes (the browsers' acknowledgements keep the
send window open, so nothing is held back or coalesced by backpressure). Sessions join
one after another, as users arriving.

- batched: the default tracker, local diffs batched per `diff_interval` (50 ms);
- baseline: one diff per join (`diff_interval=0`), what every session received before:
  each join re-renders every session already in the room, so frames grow as N^2 / 2.

Both run in the same process, one after the other, at N = 50, 100 and 200.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from bench._report import row
from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import Receive, start_transport
from lightflow_actors.live import (
    LiveConfig,
    LiveHub,
    LiveView,
    Params,
    PresenceConfig,
    PresenceDiff,
    PresenceEntry,
    PresenceState,
    Rendered,
    SessionInfo,
    SubscribeTo,
    Template,
    Track,
    Update,
    apply_diff,
)

ROOM = "bench:room"
PAGE = Template('<p>Here: <b id="n">{count}</b></p><ul>{people}</ul>')
PERSON = Template("<li>{name}</li>")


class Lobby(LiveView[dict[str, tuple[PresenceEntry, ...]], None]):
    def mount(
        self, params: Params, session: SessionInfo
    ) -> Update[dict[str, tuple[PresenceEntry, ...]]]:
        name = params.get("name", session.id)
        return Update({}, (SubscribeTo(topic=ROOM), Track(topic=ROOM, key=name)))

    def handle_info(
        self, message: object, state: dict[str, tuple[PresenceEntry, ...]]
    ) -> dict[str, tuple[PresenceEntry, ...]]:
        if isinstance(message, PresenceState):
            return dict(message.presences)
        if isinstance(message, PresenceDiff):
            return apply_diff(state, message)
        return state

    def render(self, state: dict[str, tuple[PresenceEntry, ...]]) -> Rendered:
        people = "".join(f"<li>{name}</li>" for name in sorted(state))
        return PAGE(count=len(state), people=people)


class CountingSocket:
    """Counts the frames and bytes the transport writes (the send window is set larger
    than the bench needs, so no acknowledgement is waited for)."""

    __slots__ = ("bytes", "frames", "transport")

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    def send(self, data: bytes) -> bool:
        self.frames += 1
        self.bytes += len(data)
        return True

    def close(self, code: int, reason: str) -> None:
        return None

    def abort(self, code: int, reason: str) -> None:
        return None

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def join(hub: LiveHub, n: int) -> CountingSocket:
    session_id = f"{n:016x}"
    sock = CountingSocket()
    transport = await start_transport(hub, sock)
    mount = {
        "op": "mount",
        "id": session_id,
        "target": "lobby",
        "params": {"token": hub.token(session_id), "params": {"name": f"user{n}"}},
    }
    for seq, frame in enumerate(
        (
            {"kind": "hello", "v": 1, "versions": [1]},
            {"kind": "instruction", "v": 1, "instruction": mount},
            {"kind": "instruction", "v": 1, "instruction": {"op": "render"}},
        ),
        start=1,
    ):
        await transport.ask(Receive(msgspec.json.encode({**frame, "seq": seq})))
    return sock


async def room(sessions: int, diff_interval: float) -> tuple[int, int, float]:
    """Frames and bytes written to every browser until the room is quiet, and the time."""
    # A send window larger than anything the bench sends: no patch is held back.
    config = LiveConfig(send_window=1_000_000, send_window_bytes=1 << 40)
    async with ActorSystem("bench-presence", seed=3) as system:
        hub = LiveHub(
            system,
            {"lobby": Lobby()},
            config=config,
            presence=PresenceConfig(diff_interval=diff_interval),
            secret=b"bench",
        )
        await hub.start()
        started = time.perf_counter()
        sockets = [await join(hub, n) for n in range(sessions)]
        await asyncio.sleep(0.2)  # the last batch goes out
        while True:  # until every browser shows everyone
            before = sum(s.frames for s in sockets)
            await asyncio.sleep(0.1)
            if sum(s.frames for s in sockets) == before:
                break
        elapsed = time.perf_counter() - started
        frames = sum(s.frames for s in sockets)
        sent = sum(s.bytes for s in sockets)
        await hub.stop()
    return frames, sent, elapsed


async def fan_out() -> None:
    for sessions in (50, 100, 200):
        batched, batched_bytes, t_batched = await room(sessions, PresenceConfig().diff_interval)
        each, each_bytes, t_each = await room(sessions, 0.0)
        row(
            f"presence: frames, {sessions} sessions join",
            batched,
            "frames",
            each,
            "one diff per join",
        )
        row(
            f"presence: bytes, {sessions} sessions join",
            batched_bytes,
            "B",
            each_bytes,
            "one diff per join",
        )
        print(
            f"{'':<44} joining took {t_batched * 1000:,.0f} ms batched, "
            f"{t_each * 1000:,.0f} ms with one diff per join",
            flush=True,
        )


def main() -> None:
    asyncio.run(fan_out())


if __name__ == "__main__":
    main()
