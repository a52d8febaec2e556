"""The wire connection state machine: negotiation, acks, heartbeats, errors, close."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from isa_strategies import instructions

from lightflow_actors.isa import (
    Ack,
    Close,
    Connection,
    ConnectionStateError,
    ErrorFrame,
    Frame,
    Hello,
    Instruction,
    InstructionFrame,
    JsonCodec,
    MsgpackCodec,
    Outcome,
    Ping,
    Pong,
    Render,
    Submit,
    WireCodec,
)

CODECS = [JsonCodec(), MsgpackCodec()]


def pair(codec: WireCodec | None = None) -> tuple[Connection, Connection]:
    codec = codec or JsonCodec()
    client = Connection("client", codec, now=0.0)
    server = Connection("server", codec, now=0.0)
    (welcome,) = server.receive(client.hello(now=0.0), now=0.0).outgoing
    assert client.receive(welcome, now=0.0) == Outcome()
    assert client.state == server.state == "open"
    return client, server


def frames_of(outcome: Outcome, codec: WireCodec | None = None) -> list[Frame]:
    codec = codec or JsonCodec()
    return [codec.decode(data) for data in outcome.outgoing]


def only_error(outcome: Outcome) -> ErrorFrame:
    (frame,) = frames_of(outcome)
    assert isinstance(frame, ErrorFrame)
    return frame


def test_negotiation_picks_the_highest_common_version() -> None:
    codec = JsonCodec(versions=(1, 2, 3))
    client = Connection("client", codec, now=0.0, versions=(1, 2))
    server = Connection("server", codec, now=0.0, versions=(1, 2, 3))
    hello_bytes = client.hello(now=0.0)
    hello = codec.decode(hello_bytes)
    assert isinstance(hello, Hello) and hello.versions == [2, 1]
    (welcome,) = server.receive(hello_bytes, now=0.0).outgoing
    client.receive(welcome, now=0.0)
    assert client.version == server.version == 2


def test_garbage_before_hello_is_fatal() -> None:
    server = Connection("server", JsonCodec(), now=0.0)
    outcome = server.receive(b"", now=0.0)
    error = only_error(outcome)
    assert (error.code, error.fatal) == ("malformed_frame", True)
    assert outcome.close is not None and server.state == "closed"


def test_no_common_version_is_a_fatal_error_naming_both_sides() -> None:
    client = Connection("client", JsonCodec(), now=0.0, versions=(3,))
    server = Connection("server", JsonCodec(), now=0.0)
    outcome = server.receive(client.hello(now=0.0), now=0.0)
    error = only_error(outcome)
    assert (error.code, error.path, error.fatal) == ("unsupported_version", "$.versions", True)
    assert "peer offers [3], this server speaks [1]" in error.message
    assert outcome.close is not None and outcome.close.code == "unsupported_version"
    assert server.state == "closed"
    assert client.receive(outcome.outgoing[0], now=0.0).close is not None


def test_instructions_before_hello_are_refused() -> None:
    server = Connection("server", JsonCodec(), now=0.0)
    raw = JsonCodec().encode(InstructionFrame(1, 1, instruction=Render()))
    outcome = server.receive(raw, now=0.0)
    assert only_error(outcome).code == "not_negotiated"
    assert outcome.instructions == () and server.state == "closed"


def test_send_before_negotiation_or_after_close_raises() -> None:
    client = Connection("client", JsonCodec(), now=0.0)
    with pytest.raises(ConnectionStateError, match="while the connection is negotiating"):
        client.send(Render(), now=0.0)
    client, _ = pair()
    client.close(now=0.0)
    with pytest.raises(ConnectionStateError, match="while the connection is closed"):
        client.send(Render(), now=0.0)
    with pytest.raises(ConnectionStateError):
        client.close(now=0.0)
    with pytest.raises(ConnectionStateError):
        Connection("server", JsonCodec(), now=0.0).hello(now=0.0)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
def test_instructions_are_delivered_and_acknowledged(codec: WireCodec) -> None:
    client, server = pair(codec)
    first = client.send(Submit(event="click", payload={"x": 1}), now=1.0)
    second = client.send(Render(), now=1.0)
    assert [f.instruction for f in client.unacked()] == [
        Submit(event="click", payload={"x": 1}),
        Render(),
    ]
    delivered = server.receive(first, now=1.1)
    assert delivered.instructions == (Submit(event="click", payload={"x": 1}),)
    (ack,) = frames_of(delivered, codec)
    assert isinstance(ack, Ack) and ack.upto == codec.decode(first).seq
    client.receive(delivered.outgoing[0], now=1.2)
    assert [f.instruction for f in client.unacked()] == [Render()]
    client.receive(server.receive(second, now=1.3).outgoing[0], now=1.4)
    assert client.unacked() == ()


def test_a_malformed_frame_gets_a_non_fatal_error_naming_the_path() -> None:
    _, server = pair()
    bad = b'{"kind":"instruction","v":1,"seq":2,"instruction":{"op":"subscribe","topic":7}}'
    outcome = server.receive(bad, now=0.0)
    error = only_error(outcome)
    assert (error.code, error.path, error.ref, error.fatal) == (
        "malformed_frame",
        "$.instruction.topic",
        2,
        False,
    )
    assert outcome.close is None and server.state == "open"
    # the connection survives: the next good frame is delivered
    good = JsonCodec().encode(InstructionFrame(1, 3, instruction=Render()))
    assert server.receive(good, now=0.0).instructions == (Render(),)


def test_too_many_bad_frames_close_the_connection() -> None:
    codec = JsonCodec()
    client = Connection("client", codec, now=0.0)
    server = Connection("server", codec, now=0.0, max_errors=3)
    server.receive(client.hello(now=0.0), now=0.0)
    codes = [only_error(server.receive(b"not json", now=0.0)) for _ in range(4)]
    assert [(e.code, e.fatal) for e in codes] == [("malformed_frame", False)] * 3 + [
        ("too_many_errors", True)
    ]
    assert server.state == "closed"
    assert server.receive(b"not json", now=0.0) == Outcome()


def test_host_errors_are_numbered_and_share_the_error_budget() -> None:
    codec = JsonCodec()
    client = Connection("client", codec, now=0.0)
    server = Connection("server", codec, now=0.0, max_errors=2)
    (welcome,) = server.receive(client.hello(now=0.0), now=0.0).outgoing
    client.receive(welcome, now=0.0)
    server.receive(client.send(Render(), now=0.0), now=0.0)
    assert (server.last_seq_in, server.last_seq_out) == (2, 2)  # hello, render / welcome, ack
    refused = server.error("unexpected_frame", "no view", "$.instruction", 2, now=0.0)
    error = only_error(refused)
    assert (error.seq, error.code, error.ref, error.fatal) == (3, "unexpected_frame", 2, False)
    assert refused.close is None and server.last_seq_out == 3
    only_error(server.receive(b"not json", now=0.0))
    last = server.error("unexpected_frame", "no view", None, None, now=0.0)
    assert (only_error(last).code, last.close is not None) == ("too_many_errors", True)
    assert server.state == "closed"


def test_a_frame_in_another_version_after_negotiation_is_fatal() -> None:
    codec = JsonCodec(versions=(1, 2))
    client = Connection("client", codec, now=0.0, versions=(1,))
    server = Connection("server", codec, now=0.0, versions=(1, 2))
    server.receive(client.hello(now=0.0), now=0.0)
    outcome = server.receive(codec.encode(Ping(2, 5)), now=0.0)
    error = only_error(outcome)
    assert (error.code, error.path, error.fatal) == ("unsupported_version", "$.v", True)
    assert outcome.close is not None


def test_an_unknown_version_frame_is_reported_as_such() -> None:
    _, server = pair()
    raw = msgspec.json.encode({"kind": "ping", "v": 9, "seq": 4, "new_field": True})
    error = only_error(server.receive(raw, now=0.0))
    assert (error.code, error.path, error.ref) == ("unsupported_version", "$.v", 4)
    assert "protocol version 9 is not supported" in error.message


def test_sequence_numbers_must_increase() -> None:
    _, server = pair()
    frame = JsonCodec().encode(InstructionFrame(1, 5, instruction=Render()))
    assert server.receive(frame, now=0.0).instructions == (Render(),)
    outcome = server.receive(frame, now=0.0)
    assert outcome.instructions == ()
    assert only_error(outcome).code == "bad_sequence"
    assert outcome.close is not None


def test_an_ack_for_frames_never_sent_is_fatal() -> None:
    client, _ = pair()
    outcome = client.receive(JsonCodec().encode(Ack(1, 9, upto=50)), now=0.0)
    assert only_error(outcome).code == "bad_ack"
    assert client.state == "closed"


def test_heartbeat_ping_pong_and_timeout() -> None:
    client, server = pair()
    assert client.tick(now=10.0) == Outcome()
    (ping_bytes,) = client.tick(now=15.0).outgoing
    ping = JsonCodec().decode(ping_bytes)
    assert isinstance(ping, Ping)
    (pong_bytes,) = server.receive(ping_bytes, now=15.1).outgoing
    pong = JsonCodec().decode(pong_bytes)
    assert isinstance(pong, Pong) and pong.echo == ping.seq
    assert client.receive(pong_bytes, now=15.2) == Outcome()
    assert client.tick(now=16.0) == Outcome()  # just sent a ping
    outcome = client.tick(now=15.2 + 45.0)
    error = only_error(outcome)
    assert (error.code, error.fatal) == ("heartbeat_timeout", True)
    assert outcome.close is not None and client.state == "closed"


def test_a_silent_peer_during_negotiation_times_out() -> None:
    server = Connection("server", JsonCodec(), now=0.0, heartbeat_timeout=5.0)
    assert server.tick(now=4.9) == Outcome()
    assert server.tick(now=5.0).close is not None


def test_orderly_close_and_peer_fatal_errors() -> None:
    client, server = pair()
    outcome = server.receive(client.close("bye", now=0.0), now=0.0)
    assert outcome.close is not None and outcome.close.code == "peer_closed"
    assert outcome.close.message == "bye"
    client, server = pair()
    fatal = JsonCodec().encode(
        ErrorFrame(1, 2, code="too_many_errors", message="stop it", fatal=True)
    )
    outcome = client.receive(fatal, now=0.0)
    assert outcome.close is not None and outcome.close.code == "peer_error"
    client, server = pair()
    mild = ErrorFrame(1, 2, code="malformed_frame", message="bad", path="$.seq")
    outcome = client.receive(JsonCodec().encode(mild), now=0.0)
    assert outcome.peer_errors == (mild,) and outcome.close is None


def test_hello_after_negotiation_is_unexpected_but_survivable() -> None:
    _, server = pair()
    outcome = server.receive(JsonCodec().encode(Hello(1, 2, versions=[1])), now=0.0)
    error = only_error(outcome)
    assert (error.code, error.fatal) == ("unexpected_frame", False)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
@given(st.lists(instructions, max_size=20))
def test_any_instruction_stream_crosses_in_order(
    codec: WireCodec, stream: list[Instruction]
) -> None:
    client, server = pair(codec)
    received: list[Instruction] = []
    for index, instruction in enumerate(stream):
        outcome = server.receive(client.send(instruction, now=float(index)), now=float(index))
        assert outcome.close is None
        received.extend(outcome.instructions)
        for data in outcome.outgoing:
            assert client.receive(data, now=float(index)) == Outcome()
    assert received == stream
    assert client.unacked() == ()


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_crash_a_connection(chunks: list[bytes]) -> None:
    _, server = pair()
    for chunk in chunks:
        was_closed = server.state == "closed"
        outcome = server.receive(chunk, now=0.0)
        if was_closed:
            assert outcome == Outcome()
        for frame in frames_of(outcome):  # everything sent back is a valid frame
            assert isinstance(frame, (ErrorFrame, Ack, Pong, Close))
        if outcome.close is not None:
            assert server.state == "closed"


def test_codecs_and_connections_with_the_same_versions_share_one_set() -> None:
    from lightflow_actors.isa._codec import version_set

    a = Connection("server", JsonCodec(), now=0.0)
    b = Connection("server", JsonCodec(), now=0.0)
    assert a.versions is b.versions is a.codec.versions is b.codec.versions
    assert a.versions == frozenset({1})
    assert JsonCodec(versions=(1, 2)).versions == frozenset({1, 2})
    assert JsonCodec(versions=[2, 1]).versions == frozenset({1, 2})  # equal by value
    many = [version_set(range(n)) for n in range(1, 100)]  # past the cache: still right
    assert [len(v) for v in many] == list(range(1, 100))
