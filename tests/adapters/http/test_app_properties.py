"""Hostile paths, queries, headers and bodies: the API answers 2xx/4xx JSON, never 5xx."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.http import OperatorApp, create_app
from lightflow_actors.observer import observer_page

AUTH = {"Authorization": "Bearer test-token"}
segments = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "1", "2", "00001", "1.5", "%00", "..", "\uff11", "9" * 30]),
)
param_names = st.sampled_from(["root", "status", "limit", "cursor", "events", "x", "limit "])
param_values = st.one_of(segments, st.sampled_from(["idle", "busy", "exited", "", "10000"]))


@contextlib.asynccontextmanager
async def started() -> AsyncIterator[tuple[OperatorApp, httpx.AsyncClient]]:
    app = create_app(token="test-token", pages=[observer_page()])
    await app.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client
    finally:
        await app.stop()


def check(response: httpx.Response, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.request.url, response.text)
    if response.status_code != 200 or response.headers["content-type"] == "application/json":
        body = response.json()
        if response.status_code >= 400:
            assert isinstance(body["error"], str) and body["error"]


_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.anyio
@_settings
@given(segment=segments, params=st.lists(st.tuples(param_names, param_values), max_size=4))
async def test_get_actor_with_any_id_and_query(segment: str, params: list[tuple[str, str]]) -> None:
    async with started() as (_, client):
        url = "/actors/" + quote(segment, safe="")
        response = await client.get(url, params=params)
        check(response, {200, 400, 404})


@pytest.mark.anyio
@_settings
@given(params=st.lists(st.tuples(param_names, param_values), max_size=5))
async def test_tree_with_any_query(params: list[tuple[str, str]]) -> None:
    async with started() as (_, client):
        response = await client.get("/system/tree", params=params)
        check(response, {200, 400, 404})
        if response.status_code == 400:
            assert response.json()["field"] in {name for name, _ in params} | {"query"}


@pytest.mark.anyio
@_settings
@given(
    segment=segments,
    action=st.sampled_from(["stop", "restart", "kill"]),
    body=st.one_of(st.binary(max_size=100), st.just(b'{"timeout": 0.5}')),
    headers=st.dictionaries(
        st.sampled_from(["Authorization", "Origin", "Content-Type"]),
        st.sampled_from(["Bearer test-token", "Bearer nope", "", "http://evil", "text/plain"]),
        max_size=3,
    ),
)
@example(segment="", action="stop", body=b"", headers={"Authorization": "Bearer test-token"})
async def test_actions_with_any_id_body_and_headers(
    segment: str, action: str, body: bytes, headers: dict[str, str]
) -> None:
    async with started() as (app, client):
        before = app.system.actor_count()
        url = f"/actors/{quote(segment, safe='')}/{action}"
        response = await client.post(url, content=body, headers=headers)
        allowed = {200, 400, 401, 403, 404, 409}
        if segment == "":
            # "/actors//stop" reaches the app as "/actors/stop": the GET route of an actor
            # whose id is the action's name, so a POST is told which methods it takes
            allowed.add(405)
        check(response, allowed)
        if response.status_code == 405:
            assert "POST is not allowed" in response.json()["error"]
        if response.status_code in (401, 403):
            assert app.system.actor_count() == before


@pytest.mark.anyio
@_settings
@given(header=st.text(max_size=40))
async def test_event_stream_refuses_bad_last_event_ids(header: str) -> None:
    async with started() as (_, client):
        text = header.strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:
            return  # a valid id opens an endless stream; test_events covers it
        try:
            headers = {**AUTH, "Last-Event-ID": header}
            response = await client.get("/system/events", headers=headers)
        except (UnicodeEncodeError, httpx.LocalProtocolError):
            return  # not sendable as an HTTP header at all
        check(response, {400})
        assert response.json()["field"] == "Last-Event-ID"
