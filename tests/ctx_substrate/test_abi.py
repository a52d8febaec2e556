"""The ABI's pure parts: id rules, layout and env overrides, verb records, atomic commit."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.cortex import (
    API_FORMATS,
    CtxLayout,
    InvalidIdError,
    RequestConflictError,
    UnknownFormatError,
    atomic_write,
    check_segment_id,
    check_short_id,
    commit_request,
    ctx_abi,
    ctx_api,
    ctx_chan,
    ctx_hook,
    ctx_job,
    ctx_thread,
    ctx_tool,
    is_segment_id,
    is_short_id,
    temp_name,
)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "/abs", "x\x00y", "line\nbreak", "a" * 201])
def test_segment_id_refuses_hostile_values(bad: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        check_segment_id("request", bad)
    assert "choose an id" in str(info.value)


@pytest.mark.parametrize("good", ["step-1", "a.b", "..x", "ünïcode", "a" * 200, "with space"])
def test_segment_id_accepts(good: str) -> None:
    assert check_segment_id("request", good) == good


@given(st.text(max_size=300))
def test_segment_ids_never_leave_their_folder(value: str) -> None:
    if is_segment_id(value):
        base = Path("/ctx/x")
        joined = os.path.normpath(base / (value + ".req.json"))
        assert os.path.dirname(joined) == str(base)
        assert len(value.encode()) <= 200
    else:
        with pytest.raises(InvalidIdError):
            check_segment_id("request", value)


@given(st.text(max_size=80))
def test_short_id_matches_rule(value: str) -> None:
    import re

    expected = re.fullmatch(r"[A-Za-z0-9.-]{1,64}", value) is not None and value not in (".", "..")
    assert is_short_id(value) == expected
    if not expected:
        with pytest.raises(InvalidIdError):
            check_short_id("job", value)


def test_layout_paths_follow_design() -> None:
    layout = CtxLayout(root="/ctx", uid="1000")
    assert str(layout.api_inbox("openai.chat")) == "/ctx/home/1000/api/openai.chat/inbox"
    assert str(layout.api_outbox("anthropic.messages")).endswith("anthropic.messages/outbox")
    assert str(layout.tool_inbox("grep")) == "/ctx/tool/grep/invoke/inbox"
    assert str(layout.thread_inbox("t1")) == "/ctx/home/1000/thread/t1/inbox"
    assert layout.outbox("thread", "t1") == layout.thread_inbox("t1")
    assert str(layout.chan_dir("c-1")) == "/ctx/chan/c-1"
    assert str(layout.job_dir("j.1")) == "/ctx/home/1000/job/j.1"
    assert str(layout.hook_dir("h")) == "/ctx/home/1000/hook/h"
    assert str(layout.audit_log) == "/ctx/audit/events.jsonl"
    with pytest.raises(UnknownFormatError):
        layout.api_inbox("openai.chatx")
    with pytest.raises(InvalidIdError):
        layout.tool_inbox("../etc")
    with pytest.raises(InvalidIdError):
        layout.job_dir("a_b")  # underscore is outside [A-Za-z0-9.-]
    with pytest.raises(InvalidIdError):
        CtxLayout(root="/ctx", uid="..")


def test_uid_override_only_with_mount_override() -> None:
    assert CtxLayout.from_env({}, uid=5) == CtxLayout(root="/ctx", uid="5")
    assert CtxLayout.from_env({"LIGHTFLOW_CTX_UID": "9"}, uid=5) == CtxLayout("/ctx", "5")
    env = {"LIGHTFLOW_CTX_MOUNT": "/tmp/m", "LIGHTFLOW_CTX_UID": "9"}
    assert CtxLayout.from_env(env, uid=5) == CtxLayout(root="/tmp/m", uid="9")
    assert CtxLayout.from_env({"LIGHTFLOW_CTX_MOUNT": "/tmp/m"}, uid=5).uid == "5"


def test_verb_records_are_json() -> None:
    layout = CtxLayout(root="/ctx", uid="1000")
    abi = msgspec.json.decode(msgspec.json.encode(ctx_abi(layout)))
    assert abi["formats"] == list(API_FORMATS)
    assert abi["audit"] == "/ctx/audit/events.jsonl"
    api = ctx_api(layout, "openai.chat", "s1")
    assert api.files is not None
    assert api.files.request.endswith("/inbox/s1.req.json")
    assert api.files.tmp.endswith("/inbox/s1.tmp")
    assert api.files.route is not None and api.files.route.endswith("/outbox/s1.route.json")
    thread = ctx_thread(layout, "t", "m1")
    assert thread.files is not None and thread.files.route is None
    assert thread.inbox == thread.outbox
    assert ctx_tool(layout, "grep").inbox == "/ctx/tool/grep/invoke/inbox"
    assert ctx_chan(layout, "c1").keyref == "/ctx/chan/c1/keyref"
    assert ctx_job(layout, "j1").out == "/ctx/home/1000/job/j1/out.json"
    assert ctx_hook(layout, "h1").log == "/ctx/home/1000/hook/h1/log.jsonl"
    with pytest.raises(InvalidIdError):
        ctx_api(layout, "openai.chat", "../x")


def test_commit_is_tmp_then_rename(tmp_path: Path) -> None:
    path = commit_request(tmp_path, "r1", b'{"a":1}')
    assert path == tmp_path / "r1.req.json"
    assert path.read_bytes() == b'{"a":1}'
    assert not (tmp_path / "r1.tmp").exists()
    with pytest.raises(RequestConflictError):
        commit_request(tmp_path, "r1", b"{}")
    (tmp_path / "r2.done").write_bytes(b"{}")
    with pytest.raises(RequestConflictError):
        commit_request(tmp_path, "r2", b"{}")


def test_commit_refuses_symlinks_it_would_write_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "s.tmp").symlink_to(outside)
    with pytest.raises(OSError):
        commit_request(inbox, "s", b"evil")
    assert outside.read_bytes() == b"keep"
    (inbox / "d.claimed").symlink_to(tmp_path / "nowhere")  # dangling: still taken
    with pytest.raises(RequestConflictError):
        commit_request(inbox, "d", b"{}")
    assert sorted(p.name for p in inbox.iterdir()) == ["d.claimed", "s.tmp"]


def test_atomic_write_replaces_and_leaves_no_tmp(tmp_path: Path) -> None:
    target = tmp_path / "x.resp.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.resp.json"]


def test_atomic_write_refuses_symlinked_tmp(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / temp_name("x")).symlink_to(outside)
    with pytest.raises(OSError):
        atomic_write(tmp_path / "in" / "x", b"evil")
    assert outside.read_bytes() == b"keep"
