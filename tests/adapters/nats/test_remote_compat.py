"""Remote envelopes across versions (specs/cluster.md §Compatibility).

A node of wire version 1 (before `timeout_s`) decodes `Envelope` and `Answer` with unknown
fields refused; `V1Envelope`, `V1Answer` and `V1Registration` below are its definitions,
as they were. A mixed-version cluster keeps working in both directions: a version-1 node's
envelope is served by a new node (the local ask waits the old default), and a new node
sends a version-1 node only the fields it reads (its registration carries no version).
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg

from lightflow_actors.adapters.nats import Register, RemoteCallFailed, WhereIs, connect_cluster
from lightflow_actors.adapters.nats._remote import (
    DEFAULT_ASK_TIMEOUT_S,
    WIRE_VERSION,
    Answer,
    Envelope,
    Registration,
    answer_kind,
    answer_reason,
    envelope_for,
    name_key,
)

from ._servers import NatsServer
from .test_registry_nats import (
    HOLD_TYPES,
    TYPES,
    Counter,
    Get,
    HeldLeft,
    Hold,
    Holder,
    Inc,
    Release,
    Total,
    node,
)

pytestmark = pytest.mark.anyio


class V1Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    target: str
    type: str
    body: msgspec.Raw
    ask: bool = False


class V1Answer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ok: bool
    value: msgspec.Raw = msgspec.Raw(b"\xc0")
    kind: str | None = None
    detail: str = ""
    reason: str | None = None


class V1Registration(msgspec.Struct, frozen=True):
    name: str
    node: str
    actor: int


class FutureEnvelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """A later version's envelope: a field this node does not know, and a higher `v`."""

    target: str
    type: str
    body: msgspec.Raw
    ask: bool = False
    timeout_s: float | None = None
    v: int = 1
    trace: str = ""


_BODY = msgspec.Raw(msgspec.msgpack.encode(Inc(1)))


@settings(max_examples=40, deadline=None)
@given(
    target=st.text(max_size=20),
    type_name=st.text(max_size=20),
    ask=st.booleans(),
    timeout_s=st.none() | st.floats(min_value=0.001, max_value=86_400.0),
)
def test_each_version_decodes_what_it_is_sent(
    target: str, type_name: str, ask: bool, timeout_s: float | None
) -> None:
    old = msgspec.msgpack.encode(envelope_for(1, target, type_name, _BODY, ask, timeout_s))
    v1 = msgspec.msgpack.decode(old, type=V1Envelope)  # a version-1 node reads it
    assert (v1.target, v1.type, v1.ask, bytes(v1.body)) == (target, type_name, ask, bytes(_BODY))
    new = msgspec.msgpack.encode(
        envelope_for(WIRE_VERSION, target, type_name, _BODY, ask, timeout_s)
    )
    env = msgspec.msgpack.decode(new, type=Envelope)
    assert (env.target, env.type, env.ask, env.timeout_s, env.v) == (
        target,
        type_name,
        ask,
        timeout_s,
        WIRE_VERSION,
    )
    # a version-1 node's envelope reads here as version 1 without a timeout
    back = msgspec.msgpack.decode(
        msgspec.msgpack.encode(V1Envelope(target, type_name, _BODY, ask)), type=Envelope
    )
    assert (back.v, back.timeout_s, back.ask) == (1, None, ask)


def test_a_newer_envelope_and_answer_read_here_ignoring_what_is_unknown() -> None:
    future = msgspec.msgpack.encode(
        FutureEnvelope("counter", "t", _BODY, True, 2.5, 3, "00-abc-def-01")
    )
    env = msgspec.msgpack.decode(future, type=Envelope)
    assert (env.target, env.timeout_s, env.v) == ("counter", 2.5, 3)
    newer = msgspec.msgpack.encode(
        {"ok": False, "kind": "overloaded", "detail": "busy", "reason": "teapot", "retry_ms": 5}
    )
    answer = msgspec.msgpack.decode(newer, type=Answer)
    assert (answer_kind(answer), answer_reason(answer), answer.detail) == ("failed", None, "busy")
    known = Answer(False, kind="refused", detail="no", reason="not_found")
    assert (answer_kind(known), answer_reason(known)) == ("refused", "not_found")
    # what this node answers, a version-1 node decodes (no field it does not know)
    v1 = msgspec.msgpack.decode(msgspec.msgpack.encode(known), type=V1Answer)
    assert (v1.ok, v1.kind, v1.reason) == (False, "refused", "not_found")


def test_a_bad_version_is_refused_naming_the_field() -> None:
    bad = msgspec.msgpack.encode({"target": "c", "type": "t", "body": None, "v": 0})
    with pytest.raises(msgspec.ValidationError, match=r"\$\.v"):
        msgspec.msgpack.decode(bad, type=Envelope)


async def test_an_old_nodes_ask_is_served_by_a_new_node(nats_server: NatsServer) -> None:
    """Old -> new: a version-1 envelope (no `timeout_s`, no `v`) is served; the local ask
    waits the default 5 s; the answer decodes under the version-1 definition."""
    async with node(nats_server, "new", HOLD_TYPES) as new, node(nats_server, "peer") as peer:
        holder = new.system.spawn(Holder)
        await new.register("holder", holder)  # type: ignore[arg-type]
        hold = f"{Hold.__module__}.{Hold.__qualname__}"
        data = msgspec.msgpack.encode(
            V1Envelope("holder", hold, msgspec.Raw(msgspec.msgpack.encode(Hold())), True)
        )
        asked = asyncio.ensure_future(peer.client.request("lf.actor.new", data, timeout=10))
        left: list[float | None] = []
        for _ in range(1000):  # bounds a hang only
            left = await holder.ask(HeldLeft())
            if left:
                break
            await asyncio.sleep(0.02)
        (held_left,) = left
        assert held_left is not None and 0 < held_left <= DEFAULT_ASK_TIMEOUT_S
        holder.tell(Release(4))
        reply = await asked
        answer = msgspec.msgpack.decode(reply.data, type=V1Answer)  # unknown fields refused
        assert answer.ok and msgspec.msgpack.decode(answer.value) == 4


async def test_a_new_node_asks_an_old_node_with_what_it_reads(nats_server: NatsServer) -> None:
    """New -> old: the old node's registration carries no version, so the proxy sends it a
    version-1 envelope, which that node's decoder accepts. Without the rule (a registration
    saying version 2 in front of the same old node) the old node refuses the ask as
    malformed: the break a mixed-version cluster had."""
    async with node(nats_server, "new") as new:
        old_client = await connect_cluster(nats_server.url, node="old")
        received: list[bytes] = []

        async def serve_as_version_1(msg: Msg) -> None:
            received.append(msg.data)
            try:
                env = msgspec.msgpack.decode(msg.data, type=V1Envelope)
            except msgspec.ValidationError as exc:
                answer = V1Answer(False, kind="malformed", detail=f"envelope: {exc}")
            else:
                assert env.type == f"{Get.__module__}.{Get.__qualname__}"
                value = msgspec.Raw(msgspec.msgpack.encode(Total(9, env.target)))
                answer = V1Answer(True, value=value)
            await msg.respond(msgspec.msgpack.encode(answer))

        await old_client.subscribe("lf.actor.old", cb=serve_as_version_1)
        beat = asyncio.ensure_future(_beat_forever(old_client, "old"))
        try:
            kv = await new.client.jetstream().key_value("lf_registry")
            old_entry = V1Registration("counter", "old", 7)
            await kv.put(name_key("counter"), msgspec.msgpack.encode(old_entry))
            remote = await new.registry.ask(WhereIs("counter"))  # type: ignore[arg-type]
            assert remote is not None
            assert await remote.ask(Get(), timeout=8.0) == Total(9, "counter")
            sent = msgspec.msgpack.decode(received[-1], type=Envelope)
            assert (sent.v, sent.timeout_s, sent.ask) == (1, None, True)
            # the same old node behind a registration claiming version 2
            wrong = Registration("claims2", "old", 8, 2)
            await kv.put(name_key("claims2"), msgspec.msgpack.encode(wrong))
            remote2 = await new.registry.ask(WhereIs("claims2"))  # type: ignore[arg-type]
            assert remote2 is not None
            with pytest.raises(RemoteCallFailed, match="malformed"):
                await remote2.ask(Get(), timeout=8.0)  # type: ignore[arg-type]
            sent = msgspec.msgpack.decode(received[-1], type=Envelope)
            assert sent.v == WIRE_VERSION and sent.timeout_s is not None
            assert 0 < sent.timeout_s <= 8.0
        finally:
            beat.cancel()
            await old_client.close()


async def test_registrations_say_their_version(nats_server: NatsServer) -> None:
    async with node(nats_server, "a") as a:
        await a.registry.ask(Register("counter", a.system.spawn(lambda: Counter("a"))))  # type: ignore[arg-type]
        kv = await a.client.jetstream().key_value("lf_registry")
        entry = await kv.get(name_key("counter"))
        assert msgspec.msgpack.decode(entry.value or b"", type=Registration).wire == WIRE_VERSION
        # and a version-1 node reads it (it ignores the field it does not know)
        assert msgspec.msgpack.decode(entry.value or b"", type=V1Registration).node == "a"
        assert TYPES.by_name(f"{Get.__module__}.Get") is Get


async def _beat_forever(client: Client, name: str) -> None:
    """Heartbeats of a node named `name`, as a version-1 node sends them."""
    while True:
        await client.publish("lf.node.heartbeat", msgspec.msgpack.encode({"node": name}))
        await asyncio.sleep(0.05)
