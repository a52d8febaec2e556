"""Policy decisions and the audit log, plus hostile policy/audit/spec/channel input."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctx_substrate import (
    AuditEvent,
    AuditLog,
    Channel,
    ChannelError,
    Policy,
    PolicyError,
    PolicyRule,
    SpecError,
    decode_job_spec,
    decode_policy,
    decode_trigger,
    read_audit,
    read_channel,
    resolve_keyref,
    write_channel,
)


def test_policy_rules_and_default() -> None:
    policy = decode_policy(
        b'{"default":"deny","rules":[{"provider":"echo","api":["openai.chat"],"thread":["*"]}]}'
    )
    assert policy.decide("echo", "api", "openai.chat").allowed
    assert policy.decide("echo", "thread", "anything").allowed
    denied = policy.decide("echo", "api", "anthropic.messages")
    assert not denied.allowed and "default deny" in denied.reason
    assert not policy.decide("other", "api", "openai.chat").allowed
    assert Policy.allow_all().decide("x", "tool", "y").allowed
    assert Policy(rules=(PolicyRule("t", tool=("*",)),)).decide("t", "tool", "ls").allowed


@pytest.mark.parametrize(
    "doc",
    [b"", b"[]", b'{"default":"maybe"}', b'{"rules":[{"api":[]}]}', b'{"extra":1}', b"\xff"],
)
def test_policy_refuses_malformed(doc: bytes) -> None:
    with pytest.raises(PolicyError) as info:
        decode_policy(doc, "p.json")
    assert "p.json" in str(info.value)


@given(st.binary(max_size=200))
def test_policy_decoder_never_crashes_otherwise(doc: bytes) -> None:
    with contextlib.suppress(PolicyError):
        decode_policy(doc)


def test_audit_appends_durably(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "events.jsonl"
    clock = iter(range(100, 200))
    log = AuditLog(path, wall_ms=lambda: next(clock))
    log.append(AuditEvent("request.claimed", kind="api", target="openai.chat", id="r1"))
    log.append(AuditEvent("policy.decision", id="r1", provider="p", allowed=False, reason="no"))
    log.close()
    second = AuditLog(path, wall_ms=lambda: 5)  # reopening appends, never truncates
    second.append(AuditEvent("error.written", id="r1", error="denied"))
    second.close()
    events = read_audit(path)
    assert [e.event for e in events] == ["request.claimed", "policy.decision", "error.written"]
    assert [e.ts_ms for e in events] == [100, 101, 5]
    assert events[1].allowed is False and events[2].error == "denied"
    with pytest.raises(RuntimeError):
        second.append(AuditEvent("substrate.stopped"))


def test_audit_refuses_symlinked_log(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("")
    (tmp_path / "events.jsonl").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        AuditLog(tmp_path / "events.jsonl", wall_ms=lambda: 0)


def test_job_spec_and_trigger() -> None:
    spec = decode_job_spec(b'{"kind":"tool","target":"ls"}', "spec")
    assert (spec.kind, spec.target) == ("tool", "ls")
    assert decode_trigger(b'{"every_s": 2.5}', "trigger").every_s == 2.5
    for bad in (b'{"every_s": 0}', b'{"every_s": -1}', b'{"every": 1}', b"x"):
        with pytest.raises(SpecError):
            decode_trigger(bad, "trigger")
    with pytest.raises(SpecError):
        decode_job_spec(b'{"kind":"shell","target":"x"}', "spec")


@given(st.binary(max_size=100))
def test_spec_decoders_only_raise_spec_error(doc: bytes) -> None:
    for decode in (decode_job_spec, decode_trigger):
        with contextlib.suppress(SpecError):
            decode(doc, "f")


def test_channel_roundtrip_and_keyref(tmp_path: Path) -> None:
    folder = tmp_path / "chan" / "local-1"
    write_channel(
        folder, Channel(id="local-1", url="http://127.0.0.1:9/v1", keyref="env:LF_TEST_KEY")
    )
    channel = read_channel(folder)
    assert channel.url == "http://127.0.0.1:9/v1" and channel.enabled
    assert "secret" not in "".join(p.read_text() for p in folder.iterdir())
    assert resolve_keyref(channel, {"LF_TEST_KEY": "secret"}) == "secret"
    with pytest.raises(ChannelError) as info:
        resolve_keyref(channel, {})
    assert "LF_TEST_KEY" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("url", "ftp://x"), ("keyref", "sk-literal-key"), ("enabled", "maybe"), ("url", "")],
)
def test_channel_refuses_bad_files(tmp_path: Path, name: str, value: str) -> None:
    folder = tmp_path / "c1"
    write_channel(folder, Channel(id="c1", url="http://127.0.0.1:1"))
    (folder / name).write_text(value)
    with pytest.raises(ChannelError):
        read_channel(folder)


def test_channel_refuses_symlinked_value(tmp_path: Path) -> None:
    folder = tmp_path / "c1"
    write_channel(folder, Channel(id="c1", url="http://127.0.0.1:1"))
    os.unlink(folder / "url")
    (tmp_path / "elsewhere").write_text("http://127.0.0.1:2")
    (folder / "url").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ChannelError):
        read_channel(folder)
