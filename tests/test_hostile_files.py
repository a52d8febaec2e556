"""Every reader of bytes it did not write raises only its typed error on any input.

msgspec raises `UnicodeDecodeError` for a string that is not UTF-8 and `RecursionError`
for about a thousand levels of nesting, besides `DecodeError`; a reader that catches only
the last one crashes its actor on the first two, and a crash loop on a file that is still
there escalates. Covered here (the boundary and substrate decoders have their own suites
under tests/adapters and tests/ctx_substrate): the runs config, the run store's files
(manifest, request, journals, outputs, the output cache), provider answers (every api
format, threads, tools), the CortexFS client's route and error files, and remote pubsub
payloads.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.cortex import _client as cortex_client
from lightflow_actors.flow import CorruptRun, MalformedResponse, RunStore
from lightflow_actors.flow._formats import api_format, reply_text
from lightflow_actors.flow._outputs import step_output
from lightflow_actors.flow._resolved import ResolvedStep
from lightflow_actors.host import decode_runs_config
from lightflow_actors.live import CountSubscribers, PubSubServer, SubscribeTopic
from lightflow_actors.live._pubsub import RemoteDelivery
from lightflow_actors.runs import RunsConfigError

DEEP = b"[" * 5000 + b"]" * 5000
HOSTILE: list[bytes] = [
    b"",
    b"\xff\xfe\xfd",
    b'{"state_dir": "\xff"}',
    b'{"text": "\xc3"}',
    DEEP,
    b'{"a": ' + DEEP + b"}",
    b'{"choices": [{"message": {"content": "\xff"}}]}',
    b'{"content": [{"type": "text", "text": "\xed\xa0\x80"}]}',  # an encoded surrogate
    b"\x00" * 64,
    b'"' + b"\\" * 3,
]
bytes_or_hostile = st.one_of(st.binary(max_size=512), st.sampled_from(HOSTILE))
FORMATS = ("openai.chat", "openai.responses", "anthropic.messages", "google.generate_content")
RUN_FILES = ("manifest.json", "request.json", "resolved_workflow.json")

settle = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settle
@given(data=bytes_or_hostile)
def test_runs_config(data: bytes) -> None:
    try:
        decode_runs_config(data, "runs.json")
    except RunsConfigError as exc:
        assert "runs.json" in str(exc)


@settle
@given(data=bytes_or_hostile, fmt=st.sampled_from(FORMATS))
def test_provider_answers_in_every_api_format(data: bytes, fmt: str) -> None:
    with contextlib.suppress(MalformedResponse):
        reply_text(api_format(fmt), data)


def steps() -> list[ResolvedStep]:
    return [
        ResolvedStep(id="chat", target="api", address="openai.chat", request={}),
        ResolvedStep(
            id="plan", target="api", address="anthropic.messages", request={}, output_mode="json"
        ),
        ResolvedStep(id="ask", target="thread", address="t", request={}),
        ResolvedStep(id="count", target="tool", address="wordcount", request={}),
    ]


@settle
@given(data=bytes_or_hostile, index=st.integers(0, 3))
def test_step_outputs(data: bytes, index: int) -> None:
    with contextlib.suppress(MalformedResponse):
        step_output(steps()[index], data)


def test_a_json_reply_nested_too_deeply_is_malformed_not_a_crash() -> None:
    step = steps()[3]
    with pytest.raises(MalformedResponse, match="nests too deeply"):
        step_output(step, DEEP)
    with pytest.raises(MalformedResponse, match="not JSON"):
        step_output(step, b'{"text": "\xff"}')


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("state"))


@settle
@given(data=bytes_or_hostile, name=st.sampled_from(RUN_FILES))
def test_run_files(store: RunStore, data: bytes, name: str) -> None:
    run = store.runs / "r1"
    run.mkdir(parents=True, exist_ok=True)
    (run / name).write_bytes(data)
    read = {"manifest.json": store.manifest, "request.json": store.request}.get(
        name, store.resolved
    )
    try:
        read("r1")
    except CorruptRun as exc:
        assert name in str(exc)


@settle
@given(lines=st.lists(bytes_or_hostile, max_size=4))
def test_journal_lines(store: RunStore, lines: list[bytes]) -> None:
    run = store.runs / "r2"
    run.mkdir(parents=True, exist_ok=True)
    body = b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines)
    (run / "events.jsonl").write_bytes(body)
    (run / "trace.jsonl").write_bytes(body)
    for read in (store.events, store.trace):
        try:
            read("r2")
        except CorruptRun as exc:
            assert "r2" in str(exc)


@settle
@given(data=bytes_or_hostile)
def test_step_output_files(store: RunStore, data: bytes) -> None:
    outputs = store.runs / "r3" / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "s.json").write_bytes(data)
    try:
        store.output("r3", "s")
    except CorruptRun as exc:
        assert "s.json" in str(exc)


@settle
@given(data=bytes_or_hostile)
def test_cached_output_records(store: RunStore, data: bytes) -> None:
    """A damaged cache record is a cache miss, never an error."""
    fingerprint = "sha256:" + "ab" * 32
    path = store._cache_path(fingerprint)
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    cached = store.cached_output(fingerprint)
    assert cached is None or cached.step


@settle
@given(data=bytes_or_hostile)
def test_cortex_client_route_and_error_files(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """What another ABI implementation wrote next to an answer: a route file we cannot
    read names no route; an error file we cannot decode is kept as its text."""
    folder = tmp_path_factory.mktemp("outbox")
    (folder / "x.route.json").write_bytes(data)
    (folder / "x.error").write_bytes(data)
    route = cortex_client._route(folder / "x.route.json")
    error = cortex_client._error("x", folder / "x.error")
    assert route is None or route.provider is not None
    assert error.message is not None


def test_remote_pubsub_payloads_are_dropped_and_the_server_goes_on() -> None:
    payloads = [
        b"\xa3\xff\xfe\xfd",  # msgpack str of three bytes that are not UTF-8
        b"\x91" * 5000 + b"\xc0",  # arrays nested 5 000 deep
        msgspec.msgpack.encode({"a": [1, 2]})[:-1],  # truncated
        b"\xc1",
    ]

    async def main() -> int:
        async with ActorSystem() as system:
            pubsub = system.spawn(PubSubServer)
            sink = system.spawn(PubSubServer)  # any actor ref will do as a subscriber
            pubsub.tell(SubscribeTopic("room", sink))  # type: ignore[arg-type]
            for payload in payloads:
                pubsub.tell(RemoteDelivery("room", payload))
            return await pubsub.ask(CountSubscribers("room"))

    assert asyncio.run(main()) == 1


def test_the_runs_config_names_the_problem() -> None:
    with pytest.raises(RunsConfigError, match="not UTF-8"):
        decode_runs_config(b'{"state_dir": "\xff"}', "runs.json")
