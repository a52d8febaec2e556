"""Locating and reading committed requests: positions, hostile names, sizes, symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctx_substrate import RequestRefused, check_location, decode_body, locate, read_request
from ctx_substrate._intake import stays_in_tree

ROOT = Path("/ctx")


def test_locate_shapes() -> None:
    api = locate(ROOT, ROOT / "home/7/api/openai.chat/inbox/r1.req.json")
    assert api is not None and (api.kind, api.name, api.uid, api.raw_id) == (
        "api",
        "openai.chat",
        "7",
        "r1",
    )
    assert api.outbox == ROOT / "home/7/api/openai.chat/outbox"
    tool = locate(ROOT, ROOT / "tool/grep/invoke/inbox/x.req.json")
    assert tool is not None and tool.kind == "tool" and tool.uid is None
    assert tool.outbox == ROOT / "tool/grep/invoke/outbox"
    thread = locate(ROOT, ROOT / "home/7/thread/t/inbox/m.req.json")
    assert thread is not None and thread.outbox == thread.inbox
    assert locate(ROOT, ROOT / "home/7/api/openai.chat/inbox/r1.tmp") is None
    assert locate(ROOT, ROOT / "home/7/api/openai.chat/outbox/r1.req.json") is None
    assert locate(ROOT, Path("/elsewhere/home/7/api/openai.chat/inbox/r1.req.json")) is None


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("home/7/api/openai.chatx/inbox/r.req.json", "unknown_format"),
        ("home/7/api/openai.chat/inbox/.req.json", "invalid_id"),
        ("home/7/api/openai.chat/inbox/..req.json", "invalid_id"),
        ("home/7/api/openai.chat/inbox/a\nb.req.json", "invalid_id"),
        ("home/7/api/openai.chat/inbox/" + "a" * 240 + ".req.json", "name_too_long"),
    ],
)
def test_check_location_refuses(path: str, kind: str) -> None:
    loc = locate(ROOT, ROOT / path)
    assert loc is not None
    with pytest.raises(RequestRefused) as info:
        check_location(ROOT, loc)
    assert info.value.kind == kind


@given(st.text(min_size=1, max_size=60).filter(lambda s: "/" not in s and "\x00" not in s))
def test_locate_any_file_name_stays_in_inbox(name: str) -> None:
    loc = locate(ROOT, ROOT / "tool/t/invoke/inbox" / (name + ".req.json"))
    if loc is None:  # a name that collapses (".", "..") is not an inbox file
        return
    try:
        check_location(ROOT, loc)
    except RequestRefused:
        return
    out = os.path.normpath(loc.file(loc.outbox, ".error"))
    assert os.path.dirname(out) == str(ROOT / "tool/t/invoke/outbox")


def test_read_request_limits_and_types(tmp_path: Path) -> None:
    good = tmp_path / "a.claimed"
    good.write_bytes(b"{}")
    assert read_request(good, 10) == b"{}"
    big = tmp_path / "b.claimed"
    big.write_bytes(b"x" * 11)
    with pytest.raises(RequestRefused) as info:
        read_request(big, 10)
    assert info.value.kind == "too_large"
    link = tmp_path / "c.claimed"
    link.symlink_to(good)
    with pytest.raises(RequestRefused) as info:
        read_request(link, 10)
    assert info.value.kind == "path_escape"
    fifo = tmp_path / "d.claimed"
    os.mkfifo(fifo)
    with pytest.raises(RequestRefused) as info:
        read_request(fifo, 10)
    assert info.value.kind == "malformed"
    with pytest.raises(RequestRefused):
        read_request(tmp_path / "missing", 10)


def test_stays_in_tree(tmp_path: Path) -> None:
    (tmp_path / "tree" / "a").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "tree" / "link").symlink_to(tmp_path / "out")
    assert stays_in_tree(tmp_path / "tree", tmp_path / "tree" / "a")
    assert not stays_in_tree(tmp_path / "tree", tmp_path / "tree" / "link")
    assert not stays_in_tree(tmp_path / "tree", tmp_path / "tree" / "a" / ".." / "..")
    assert not stays_in_tree(tmp_path / "tree", tmp_path / "out")


def test_decode_body() -> None:
    assert decode_body("api", b'{"model":"m"}') == {"model": "m"}
    # A tool body is the tool's own input object; its provider decides what it accepts.
    assert decode_body("tool", b'{"text":"a b"}') == {"text": "a b"}
    for kind, raw in [("api", b"[]"), ("api", b"{"), ("tool", b'"text"'), ("thread", b"1")]:
        with pytest.raises(RequestRefused) as info:
            decode_body(kind, raw)  # type: ignore[arg-type]
        assert info.value.kind == "malformed"


@given(st.binary(max_size=300), st.sampled_from(["api", "tool", "thread"]))
def test_decode_body_only_refuses(raw: bytes, kind: str) -> None:
    try:
        body = decode_body(kind, raw)  # type: ignore[arg-type]
    except RequestRefused as exc:
        # the kinds a body that does not decode is refused with (specs/cortexfs-abi.md)
        assert exc.kind in ("malformed", "invalid_utf8", "too_deep"), exc.kind
    else:
        assert isinstance(body, dict)
