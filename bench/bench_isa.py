"""ISA wire benchmarks (#5): frames encoded + decoded per second.

Figures: our JSON and msgpack codecs (msgspec, typed, payloads checked) against the
stdlib ``json`` round trip of the same frames as plain dicts (no typing, no
validation), all measured in this run on the same frame mix; plus the raw msgspec
cost without our payload check, the connection state machine, and RuntimeFrame
FlatBuffers against stdlib json of the same record.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import msgspec

from bench._report import best_of, row
from lightflow_actors.flow.streams import (
    FrameKind,
    RuntimeFrame,
    decode_runtime_frame,
    encode_runtime_frame,
)
from lightflow_actors.isa import (
    Ack,
    Connection,
    Frame,
    Hello,
    InstructionFrame,
    JsonCodec,
    MsgpackCodec,
    Patch,
    Ping,
    Render,
    Submit,
)

ROUNDS = 3
N_FRAMES = 40_000


def _frames() -> list[Frame]:
    """A session's typical traffic: events, patches, a render, acks and heartbeats."""
    diff = {"0": {"1": "42", "3": {"d": [["row-7", "Alice", "9.5"], ["row-8", "Bob", "7.0"]]}}}
    view = {
        "s": ["<main>", "<table>", "</table>", "</main>"],
        "0": {
            "s": ["<tr><td>", "</td><td>", "</td></tr>"],
            "d": [[f"n{i}", str(i)] for i in range(40)],
        },
        "title": "Scores",
    }
    frames: list[Frame] = []
    for seq in range(1, 101):
        match seq % 5:
            case 0:
                frames.append(InstructionFrame(1, seq, instruction=Patch(diff=diff)))
            case 1:
                payload = {"value": "hello", "key": "Enter", "meta": {"x": 10, "y": 20}}
                frames.append(
                    InstructionFrame(
                        1, seq, instruction=Submit(event="keydown", payload=payload, ref=f"r{seq}")
                    )
                )
            case 2:
                frames.append(Ack(1, seq, upto=seq - 1))
            case 3:
                frames.append(Ping(1, seq))
            case _:
                frames.append(InstructionFrame(1, seq, instruction=Render(view=view)))
    return frames


def _rate(n: int, fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        fn()
        return n / (time.perf_counter() - start)

    return run


def main() -> None:
    frames = _frames()
    mix = list(itertools.islice(itertools.cycle(frames), N_FRAMES))
    dicts = [msgspec.to_builtins(f) for f in mix]
    json_codec, msgpack_codec = JsonCodec(), MsgpackCodec()
    avg_json = sum(len(json_codec.encode(f)) for f in frames) / len(frames)
    avg_msgpack = sum(len(msgpack_codec.encode(f)) for f in frames) / len(frames)
    print(
        f"frame mix: {len(frames)} distinct frames, {avg_json:.0f} B as JSON, "
        f"{avg_msgpack:.0f} B as msgpack on average; {N_FRAMES:,} per timed run"
    )

    def stdlib() -> None:
        for d in dicts:
            json.loads(json.dumps(d))

    def ours(codec: JsonCodec | MsgpackCodec) -> Callable[[], None]:
        def run() -> None:
            for f in mix:
                codec.decode(codec.encode(f))

        return run

    json_enc, json_dec = msgspec.json.Encoder(), msgspec.json.Decoder(Frame)
    mp_enc, mp_dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(Frame)

    def raw_json() -> None:
        for f in mix:
            json_dec.decode(json_enc.encode(f))

    def raw_msgpack() -> None:
        for f in mix:
            mp_dec.decode(mp_enc.encode(f))

    baseline = best_of(ROUNDS, _rate(N_FRAMES, stdlib))
    row("stdlib json dumps+loads (dicts, untyped)", baseline, "frames/s")
    row(
        "JsonCodec encode+decode (typed, checked)",
        best_of(ROUNDS, _rate(N_FRAMES, ours(json_codec))),
        "frames/s",
        baseline,
        "stdlib json",
    )
    row(
        "MsgpackCodec encode+decode (typed, checked)",
        best_of(ROUNDS, _rate(N_FRAMES, ours(msgpack_codec))),
        "frames/s",
        baseline,
        "stdlib json",
    )
    row(
        "  raw msgspec json (no payload check)",
        best_of(ROUNDS, _rate(N_FRAMES, raw_json)),
        "frames/s",
        baseline,
        "stdlib json",
    )
    row(
        "  raw msgspec msgpack (no payload check)",
        best_of(ROUNDS, _rate(N_FRAMES, raw_msgpack)),
        "frames/s",
        baseline,
        "stdlib json",
    )

    # The connection state machine on the receiving side: decode, seq check, Ack encode.
    instruction_frames = [f for f in mix if isinstance(f, InstructionFrame)]
    wire = [
        json_codec.encode(InstructionFrame(1, i + 2, instruction=f.instruction))
        for i, f in enumerate(instruction_frames)
    ]
    hello = json_codec.encode(Hello(1, 1, versions=[1]))

    def connection() -> None:
        server = Connection("server", json_codec, now=0.0)
        server.receive(hello, now=0.0)
        for data in wire:
            server.receive(data, now=0.0)
        if server.state != "open":  # a closed connection would skip the work
            raise RuntimeError("bench connection closed early")

    stdlib_wire = [json.dumps(msgspec.to_builtins(f)) for f in instruction_frames]

    def stdlib_receive() -> None:
        for text in stdlib_wire:
            d = json.loads(text)
            json.dumps({"kind": "ack", "v": 1, "seq": 1, "upto": d["seq"]})

    receive_base = best_of(ROUNDS, _rate(len(wire), stdlib_receive))
    row("stdlib json loads + ack dumps", receive_base, "frames/s")
    row(
        "Connection.receive (JSON, with Ack)",
        best_of(ROUNDS, _rate(len(wire), connection)),
        "frames/s",
        receive_base,
        "stdlib json",
    )

    # RuntimeFrame FlatBuffers vs stdlib json of the same record.
    n_rt = 20_000
    record = RuntimeFrame(
        kind=FrameKind.RunEvent,
        run_id="run-42",
        status="running",
        sequence=7,
        timestamp_unix_ms=1_700_000_000_123,
        payload_json='{"event":"step.succeeded","step":"fetch","attempt":1}',
    )
    record_dict = msgspec.to_builtins(record)

    def flatbuffers_round() -> None:
        for _ in range(n_rt):
            decode_runtime_frame(encode_runtime_frame(record))

    def stdlib_record() -> None:
        for _ in range(n_rt):
            json.loads(json.dumps(record_dict))

    rt_base = best_of(ROUNDS, _rate(n_rt, stdlib_record))
    row("stdlib json dumps+loads (run event dict)", rt_base, "frames/s")
    row(
        "RuntimeFrame FlatBuffers encode+verify+decode",
        best_of(ROUNDS, _rate(n_rt, flatbuffers_round)),
        "frames/s",
        rt_base,
        "stdlib json",
    )


if __name__ == "__main__":
    main()
