"""Every file decoder of the substrate, fed arbitrary bytes, raises only its typed error.

The decoders (each reads bytes an outside party can write into the tree):
request bodies (`decode_body`), job specs and hook triggers (`decode_job_spec`,
`decode_trigger`), the policy file (`decode_policy`, `load_policy`), channel folders
(`read_channel`), the audit journal (`iter_audit`), dead-letter records
(`decode_dead_letter`, `list_dead_letters`), and the answer records a client reads
(`decode_error`, `decode_route`). Before the fix a 5000-deep or non-UTF-8 body escaped
`decode_body` as RecursionError / UnicodeDecodeError and crashed the substrate.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctx_substrate import (
    AuditError,
    ChannelError,
    PolicyError,
    RequestRefused,
    SpecError,
    decode_body,
    decode_job_spec,
    decode_policy,
    decode_trigger,
    iter_audit,
    load_policy,
    read_channel,
)
from lightflow_actors.adapters.cortex._client import _error, _route
from lightflow_actors.cortex import (
    DECODE_ERRORS,
    ErrorRecord,
    decode_dead_letter,
    decode_error,
    decode_route,
    list_dead_letters,
)


def _nested(depth: int, opener: bytes, closer: bytes, core: bytes) -> bytes:
    return opener * depth + core + closer * depth


def hostile_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, plus the shapes that broke decoders: deep nesting, bad UTF-8 inside
    otherwise valid JSON, truncation."""
    depth = st.integers(min_value=1, max_value=6000)
    deep = st.one_of(
        depth.map(lambda d: _nested(d, b'{"a":', b"}", b"1")),
        depth.map(lambda d: _nested(d, b"[", b"]", b"1")),
        depth.map(lambda d: b'{"k": ' + b"[" * d),
    )
    bad_utf8 = st.binary(min_size=1, max_size=8).filter(_not_utf8)
    in_json = st.one_of(
        bad_utf8.map(lambda b: b'{"text": "' + b + b'"}'),
        bad_utf8.map(lambda b: b'{"' + b + b'": 1}'),
        bad_utf8.map(lambda b: b'{"every_s": 1, "x": "' + b + b'"}'),
    )
    truncated = st.tuples(
        st.sampled_from(
            [b'{"kind": "api", "target": "openai.chat"}', b'{"every_s": 2}', b'{"default": "deny"}']
        ),
        st.integers(min_value=0, max_value=40),
    ).map(lambda t: t[0][: t[1]])
    return st.one_of(st.binary(max_size=512), deep, in_json, truncated)


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(hostile_bytes())
def test_request_body(data: bytes) -> None:
    for kind in ("api", "tool", "thread"):
        try:
            body = decode_body(kind, data)  # type: ignore[arg-type]
        except RequestRefused as refusal:
            assert refusal.kind in ("malformed", "too_deep", "invalid_utf8")
        else:
            assert isinstance(body, dict)


@PROPERTY
@given(hostile_bytes())
def test_job_spec_and_hook_trigger(data: bytes) -> None:
    for decode in (decode_job_spec, decode_trigger):
        with contextlib.suppress(SpecError):
            decode(data, "spec")


@PROPERTY
@given(hostile_bytes())
def test_policy(tmp_path: Path, data: bytes) -> None:
    with contextlib.suppress(PolicyError):
        decode_policy(data, "policy.json")
    path = tmp_path / "policy.json"
    path.write_bytes(data)
    with contextlib.suppress(PolicyError):
        load_policy(path)


@PROPERTY
@given(hostile_bytes(), st.sampled_from(["url", "keyref", "fmt", "mod", "enabled", "localurl"]))
def test_channel_files(tmp_path: Path, data: bytes, name: str) -> None:
    folder = tmp_path / "chan" / "c1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "url").write_bytes(b"https://example.invalid\n")
    (folder / name).write_bytes(data)
    with contextlib.suppress(ChannelError):
        read_channel(folder)


@PROPERTY
@given(st.lists(hostile_bytes(), min_size=1, max_size=3))
def test_audit_journal(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "events.jsonl"
    good = b'{"event": "substrate.started", "ts_ms": 1}'
    path.write_bytes(b"\n".join([good, *lines]) + b"\n")
    try:
        events = list(iter_audit(path))
    except AuditError as exc:
        assert exc.line >= 2  # the good first line is never the one blamed
    else:
        assert events[0].event == "substrate.started"


@PROPERTY
@given(hostile_bytes())
def test_answer_and_dead_letter_records(tmp_path: Path, data: bytes) -> None:
    for decode in (decode_error, decode_route, decode_dead_letter):
        with contextlib.suppress(DECODE_ERRORS):
            decode(data)
    # What a client makes of it: never an exception, at worst a provider_error record.
    answer = tmp_path / "x.error"
    answer.write_bytes(data)
    assert isinstance(_error("x", answer), ErrorRecord)
    route = tmp_path / "x.route.json"
    route.write_bytes(data)
    _route(route)
    # What an operator listing makes of a planted record: listed as unreadable or a letter.
    dead = tmp_path / "ctx" / "home" / "1" / "api" / "openai.chat" / "dead"
    dead.mkdir(parents=True, exist_ok=True)
    (dead / "planted.json").write_bytes(data)
    listed = list_dead_letters(tmp_path / "ctx")
    assert len(listed.letters) + len(listed.unreadable) == 1


def test_deep_and_bad_utf8_bodies_name_their_kind() -> None:
    with pytest.raises(RequestRefused) as deep:
        decode_body("api", b'{"a":' * 5000 + b"1" + b"}" * 5000)
    assert deep.value.kind == "too_deep"
    with pytest.raises(RequestRefused) as utf:
        decode_body("api", b'{"text": "\xff"}')
    assert utf.value.kind == "invalid_utf8" and "UTF-8" in utf.value.message


def test_audit_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event": "substrate.started"}\n' + b'{"event": ' + b"[" * 5000 + b"\n")
    with pytest.raises(AuditError, match="line 2"):
        list(iter_audit(path))


def test_listing_skips_symlinked_dead_folders(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "1-a.json").write_bytes(b"{}")
    fmt = tmp_path / "ctx" / "home" / "1" / "api" / "openai.chat"
    fmt.mkdir(parents=True)
    os.symlink(outside, fmt / "dead")
    assert list_dead_letters(tmp_path / "ctx").unreadable == []
