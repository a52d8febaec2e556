"""The `local-echo` provider: each format's response shape, read back by the flow's own
`reply_text`, for any prompt; the template is filled once (no re-scanning)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctx_substrate import ProviderRequest
from lightflow_actors.flow import API_FORMATS, ChatParams, reply_text
from lightflow_actors.flow._formats import build_request
from lightflow_actors.host import echo_reply


def request_for(fmt: str, user: str, system: str | None) -> ProviderRequest:
    body = build_request(fmt, "m-1", system, user, ChatParams())  # type: ignore[arg-type]
    raw = msgspec.json.encode(body)
    return ProviderRequest("api", fmt, "1000", "r-1", msgspec.json.decode(raw), raw)


@pytest.mark.parametrize("fmt", API_FORMATS)
@given(user=st.text(max_size=200), system=st.none() | st.text(max_size=50))
def test_every_format_answers_in_its_own_shape(fmt: str, user: str, system: str | None) -> None:
    answer = echo_reply(request_for(fmt, user, system), "{format}|{model}|{system}|{user}", "e")
    text = reply_text(fmt, msgspec.json.encode(answer))  # type: ignore[arg-type]
    assert text == f"{fmt}|m-1|{system or ''}|{user}"


def test_the_template_is_filled_once() -> None:
    request = request_for("openai.chat", "{system} and {user}", "SYS")
    answer = echo_reply(request, "echo: {user}", "e")
    assert reply_text("openai.chat", msgspec.json.encode(answer)) == "echo: {system} and {user}"


def test_threads_and_tools() -> None:
    thread = ProviderRequest("thread", "news", "1", "t-1", {"text": "hi"}, b"")
    assert echo_reply(thread, "echo: {user}", "e") == {"text": "echo: hi"}
    tool = ProviderRequest("tool", "wc", None, "t-2", {"text": "a", "n": [1]}, b"")
    assert echo_reply(tool, "echo: {user}", "e") == {"text": "a", "n": [1]}  # its input back


@given(body=st.dictionaries(st.text(max_size=10), st.none() | st.text(max_size=5) | st.integers()))
def test_malformed_bodies_still_get_an_answer(body: dict[str, object]) -> None:
    for fmt in API_FORMATS:
        answer = echo_reply(ProviderRequest("api", fmt, "1", "x", body, b""), "{user}", "e")
        assert isinstance(reply_text(fmt, msgspec.json.encode(answer)), str)  # type: ignore[arg-type]
