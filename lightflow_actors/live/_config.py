"""Limits and timings of live sessions, in one frozen struct the hub hands to every actor."""

from __future__ import annotations

import msgspec


class LiveConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Every limit a browser's input meets, with the defaults the spec names
    (specs/live-wire.md §8).

    - `max_frame_bytes`: a larger frame gets a fatal ``frame_too_large`` error and a close.
    - `window`: instructions forwarded to the session and not yet answered; at the window
      the transport stops reading the socket (TCP backpressure) until answers come back.
    - `send_window` / `send_window_bytes`: instruction frames (and their bytes) sent to the
      browser and not acknowledged; at either the session holds its patches back and
      coalesces them (the latest state supersedes them) until half has been acknowledged.
    - `ack_timeout`: seconds a held connection may go without any acknowledgement; then
      the browser has stopped reading and is closed (1008).
    - `max_buffered` / `max_buffered_bytes`: frames (and bytes) waiting in the socket's
      write buffer; beyond either the browser is not reading and is closed (1008), and
      what was buffered is dropped at once.
    - `max_errors`: non-fatal error frames before ``too_many_errors`` closes.
    - `heartbeat_interval` / `heartbeat_timeout`: Ping when idle; close when silent.
    - `max_sessions`: sessions the node runs at most (None: no limit).
    - `upload_dir`: the folder under which sessions keep upload temp files (None:
      ``$XDG_STATE_HOME/lightflow/live/uploads``); `uploads`: False refuses every upload.
    """

    max_frame_bytes: int = 64 * 1024
    window: int = 32
    send_window: int = 32
    send_window_bytes: int = 256 * 1024
    ack_timeout: float = 30.0
    max_buffered: int = 512
    max_buffered_bytes: int = 4 * 1024 * 1024
    max_errors: int = 16
    heartbeat_interval: float = 15.0
    heartbeat_timeout: float = 45.0
    max_sessions: int | None = None
    upload_dir: str | None = None
    uploads: bool = True

    def __post_init__(self) -> None:
        for name in (
            "max_frame_bytes",
            "window",
            "send_window",
            "send_window_bytes",
            "max_buffered",
            "max_buffered_bytes",
            "max_errors",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"LiveConfig.{name} must be an int >= 1, got {value!r}")
        if not 0 < self.heartbeat_interval < self.heartbeat_timeout:
            raise ValueError(
                "LiveConfig needs 0 < heartbeat_interval < heartbeat_timeout, got "
                f"{self.heartbeat_interval} and {self.heartbeat_timeout}"
            )
        if not self.ack_timeout > 0:
            raise ValueError(f"LiveConfig.ack_timeout must be > 0, got {self.ack_timeout!r}")
