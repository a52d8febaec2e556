"""`LiveClient`, the Python browser peer: the Mount it sends is what the server decodes."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.isa import Connection, InstructionFrame, JsonCodec, Mount, Render
from lightflow_actors.live import LiveClient, MountParams

_text = st.text(min_size=1, max_size=40)


@given(view=_text, session_id=_text, token=_text, params=st.dictionaries(_text, st.text()))
def test_the_mount_a_peer_sends_decodes_as_mount_params(
    view: str, session_id: str, token: str, params: dict[str, str]
) -> None:
    mount = LiveClient.mount_instruction(view, session_id, token, params)
    assert (mount.id, mount.target) == (session_id, view)
    decoded = msgspec.convert(mount.params, MountParams)
    assert (decoded.token, dict(decoded.params)) == (token, params)


def test_join_numbers_mount_then_render_after_hello() -> None:
    client = LiveClient()
    server = Connection("server", JsonCodec(), now=0.0)
    (welcome,) = server.receive(client.hello(), now=0.0).outgoing
    assert client.feed(welcome) == []
    frames = [JsonCodec().decode(data) for data in client.join("counter", "s1", "t", {})]
    assert [f.seq for f in frames] == [2, 3]
    assert all(isinstance(f, InstructionFrame) for f in frames)
    kinds = [f.instruction for f in frames if isinstance(f, InstructionFrame)]
    assert kinds == [
        Mount(id="s1", target="counter", params={"token": "t", "params": {}}),
        Render(),
    ]
