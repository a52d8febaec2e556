"""Replay files: a failing schedule as a self-contained JSON artifact.

A failing ``explore`` writes one (``replay_dir=``, or ``$LIGHTFLOW_REPLAY_DIR``); CI keeps
it as an artifact, and ``replay(path)`` (or ``python -m lightflow_actors.testing replay
path``) runs exactly that schedule again from the file alone: the scenario reference, the
seed (it seeds ``system.random`` and the fault RNG), every scheduling choice (replayed as a
``script:`` strategy, so the file does not depend on how the strategy that found it
works), and the fault plan. The file is a boundary: it is decoded once, with msgspec, into
``ReplayFile``; a malformed, oversized or hostile file raises ``InvalidReplayFile`` naming
the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from ._errors import InvalidReplayFile
from ._faults import NO_FAULTS, FaultPlan

FORMAT = "lightflow-replay/1"
MAX_BYTES = 64 * 1024 * 1024
"""A replay file larger than this is refused before it is decoded."""

MAX_CHOICES = 4_000_000
_Text = Annotated[str, msgspec.Meta(max_length=4096)]
_Choice = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class ReplayFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a failing schedule needs to run again, and what it did the first time."""

    format: Literal["lightflow-replay/1"] = "lightflow-replay/1"
    scenario: _Text | None
    """'package.module:name' or 'path/file.py:name' (None: the scenario is not loadable by
    reference; pass it to ``replay`` yourself)."""
    name: _Text
    strategy: _Text
    """The strategy that found the schedule (informative: ``choices`` are what replays)."""
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    choices: Annotated[list[_Choice], msgspec.Meta(max_length=MAX_CHOICES)]
    faults: FaultPlan = NO_FAULTS
    error: Annotated[str, msgspec.Meta(max_length=65536)] = ""
    trace_sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")] | None = None
    steps: Annotated[int, msgspec.Meta(ge=0)] = 0
    virtual_time: float = 0.0

    def to_json(self) -> bytes:
        return msgspec.json.encode(self) + b"\n"

    def write(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.to_json())
        return target


_decoder = msgspec.json.Decoder(ReplayFile)


def decode_replay(data: bytes | str, source: str = "<replay file>") -> ReplayFile:
    """Decode a replay file; anything wrong raises ``InvalidReplayFile`` naming the field."""
    if len(data) > MAX_BYTES:
        raise InvalidReplayFile(source, f"it is {len(data)} bytes, more than {MAX_BYTES}")
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidReplayFile(source, f"invalid content: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidReplayFile(source, f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidReplayFile(
            source, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None


def read_replay(path: str | Path) -> ReplayFile:
    """Read and decode the replay file at ``path``."""
    target = Path(path)
    try:
        size = target.stat().st_size
        if size > MAX_BYTES:
            raise InvalidReplayFile(str(target), f"it is {size} bytes, more than {MAX_BYTES}")
        data = target.read_bytes()
    except OSError as exc:
        raise InvalidReplayFile(str(target), f"cannot read it ({exc.strerror or exc})") from None
    return decode_replay(data, str(target))
