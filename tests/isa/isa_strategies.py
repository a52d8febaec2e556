"""Hypothesis strategies for instructions, effects, frames and runtime frames."""

from __future__ import annotations

from hypothesis import strategies as st

from lightflow_actors.flow.streams import FrameKind, RuntimeFrame
from lightflow_actors.isa import (
    Ack,
    Close,
    ErrorFrame,
    Frame,
    Hello,
    Instruction,
    InstructionFrame,
    JSONValue,
    Mount,
    Patch,
    Patched,
    Ping,
    Pong,
    Published,
    Rejected,
    Render,
    Rendered,
    Replied,
    Shutdown,
    Stopped,
    Submit,
    Subscribe,
    Subscribed,
    Unsubscribed,
    Welcome,
)
from lightflow_actors.isa import Effect as EffectT

text = st.text(st.characters(codec="utf-8"), max_size=20)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
ids = st.text(
    st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=20
).filter(lambda s: s not in (".", ".."))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values: st.SearchStrategy[JSONValue] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=4)
reasons = st.sampled_from(["normal", "shutdown", "cancelled", "timeout", "error"])

instruction_by_op: dict[str, st.SearchStrategy[Instruction]] = {
    "mount": st.builds(Mount, id=ids, target=names, params=json_objects),
    "render": st.builds(Render, view=json_values),
    "patch": st.builds(Patch, diff=json_values),
    "subscribe": st.builds(Subscribe, topic=names, off=st.booleans()),
    "submit": st.builds(Submit, event=names, payload=json_values, ref=st.none() | names),
    "shutdown": st.builds(Shutdown, reason=reasons, detail=text),
}
instructions: st.SearchStrategy[Instruction] = st.one_of(*instruction_by_op.values())

effects: st.SearchStrategy[EffectT] = st.one_of(
    st.builds(Rendered, view=json_values),
    st.builds(Patched, diff=json_values),
    st.builds(Subscribed, topic=names),
    st.builds(Unsubscribed, topic=names),
    st.builds(Published, topic=names, message=json_values),
    st.builds(Replied, ref=text, payload=json_values),
    st.builds(Stopped, reason=reasons, detail=text),
    st.builds(
        Rejected,
        op=st.sampled_from(["mount", "render", "patch", "subscribe", "submit", "shutdown"]),
        phase=st.sampled_from(["disconnected", "joined", "mounted", "live", "closed"]),
        message=text,
    ),
)

versions = st.integers(min_value=0, max_value=65535)
seqs = st.integers(min_value=1, max_value=2**63 - 1)
error_codes = st.sampled_from(
    [
        "malformed_frame",
        "unsupported_version",
        "frame_too_large",
        "not_negotiated",
        "unexpected_frame",
        "bad_sequence",
        "bad_ack",
        "too_many_errors",
        "heartbeat_timeout",
        "unauthorized",
    ]
)

frames: st.SearchStrategy[Frame] = st.one_of(
    st.builds(Hello, versions, seqs, versions=st.lists(versions, min_size=1, max_size=16)),
    st.builds(Welcome, versions, seqs, version=versions),
    st.builds(InstructionFrame, versions, seqs, instruction=instructions),
    st.builds(Ack, versions, seqs, upto=st.integers(min_value=0, max_value=2**63 - 1)),
    st.builds(Ping, versions, seqs),
    st.builds(Pong, versions, seqs, echo=seqs),
    st.builds(
        ErrorFrame,
        versions,
        seqs,
        code=error_codes,
        message=st.text(st.characters(codec="utf-8"), max_size=50),
        path=st.none() | text,
        ref=st.none() | seqs,
        fatal=st.booleans(),
    ),
    st.builds(Close, versions, seqs, reason=text),
)

u64 = st.integers(min_value=0, max_value=2**64 - 1)
runtime_frames = st.builds(
    RuntimeFrame,
    kind=st.sampled_from(list(FrameKind)),
    run_id=text,
    status=text,
    sequence=u64,
    timestamp_unix_ms=u64,
    payload_json=st.text(st.characters(codec="utf-8"), max_size=200),
)
