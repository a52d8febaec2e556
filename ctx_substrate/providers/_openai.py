"""Providers that forward requests to an HTTP model endpoint (httpx, no streaming):
OpenAI-compatible (`openai.chat`, `openai.responses`) and Anthropic Messages
(`anthropic.messages`).

Each is configured by a channel folder (`/ctx/chan/<id>/`): the endpoint is `localurl` or
`url` (the base URL, `/v1` included: `https://api.openai.com/v1`,
`https://api.anthropic.com/v1`, `http://127.0.0.1:8080/v1` for llama.cpp or vLLM), the API
key is read from the environment variable its `keyref` names at each request (the key
never enters the tree), `mod` is the default model, `enabled` switches it off. The
channel's `status` file records the last outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from lightflow_actors.cortex import DECODE_ERRORS
from lightflow_actors.kernel import Actor, handler

from .._channel import read_channel, resolve_keyref, write_channel_status
from .._errors import ChannelError
from ._protocol import Answer, Failure, ProviderSpec, Work, WorkDone

__all__ = [
    "ANTHROPIC",
    "ANTHROPIC_VERSION",
    "HTTP_CONCURRENCY",
    "OPENAI",
    "Dialect",
    "HttpChannelWorker",
    "OpenAIWorker",
    "anthropic_channel",
    "openai_channel",
    "send_channel_request",
]

HTTP_CONCURRENCY = 16
"""Default number of requests an HTTP channel provider has on the wire at once."""

ANTHROPIC_VERSION = "2023-06-01"
"""The `anthropic-version` header sent with every Messages request."""

_ANTHROPIC_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Dialect:
    """What differs between HTTP model APIs: the path of each format, the key header,
    fixed headers, and fields a request must carry."""

    name: str
    paths: Mapping[str, str]
    key_header: str
    key_prefix: str
    headers: Mapping[str, str]
    required: Mapping[str, object]


OPENAI = Dialect(
    "openai",
    {"openai.chat": "/chat/completions", "openai.responses": "/responses"},
    "authorization",
    "Bearer ",
    {},
    {},
)
ANTHROPIC = Dialect(
    "anthropic",
    {"anthropic.messages": "/messages"},
    "x-api-key",
    "",
    {"anthropic-version": ANTHROPIC_VERSION},
    {"max_tokens": _ANTHROPIC_MAX_TOKENS},
)


async def send_channel_request(
    client: httpx.AsyncClient,
    dialect: Dialect,
    channel_dir: Path,
    kind: str,
    target: str,
    body: Mapping[str, object],
    *,
    timeout_s: float,
    environ: Mapping[str, str] | None = None,
    pin_model: bool = False,
    idempotency_key: str = "",
) -> Answer | Failure:
    """Send one request through the channel folder `channel_dir`: the answer (the
    endpoint's JSON body) or a failure naming the problem (missing file, unset key
    variable, disabled channel, unreachable URL, HTTP status, a body that is not JSON).

    The channel's `mod` is the model of a request that names none; with `pin_model` (and
    a non-empty `mod`) it replaces the model every request names. `idempotency_key` goes
    out as the `Idempotency-Key` header (the same for a call made again after a restart)."""
    path = dialect.paths.get(target) if kind == "api" else None
    if path is None:
        return Failure(
            "provider_error",
            f"channel {channel_dir.name!r} speaks {'/'.join(dialect.paths)}, not {kind} {target!r}",
        )
    try:
        channel = read_channel(channel_dir)
        key = resolve_keyref(channel, environ)
    except ChannelError as exc:
        return Failure("provider_error", str(exc))
    if not channel.enabled:
        return Failure("provider_error", f"channel {channel.id!r} is disabled")
    sent = dict(body)
    model = sent.get("model")
    if pin_model and channel.mod:
        model = channel.mod
        sent["model"] = model
    elif not isinstance(model, str) or not model:
        model = channel.mod
        if model:
            sent["model"] = model
    for field, value in dialect.required.items():
        sent.setdefault(field, value)
    sent["stream"] = False
    headers = {"content-type": "application/json", **dialect.headers}
    if key is not None:
        headers[dialect.key_header] = dialect.key_prefix + key
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    url = channel.endpoint.rstrip("/") + path
    try:
        response = await client.post(url, content=msgspec.json.encode(sent), headers=headers)
    except httpx.TimeoutException:
        return Failure("timeout", f"{url} did not answer within {timeout_s}s")
    except httpx.HTTPError as exc:
        return Failure("provider_error", f"{url}: {type(exc).__name__}: {exc}")
    if response.status_code // 100 != 2:
        return Failure(
            "provider_error",
            f"{url} answered HTTP {response.status_code}: {response.text[:300]}",
        )
    try:
        msgspec.json.decode(response.content)
    except DECODE_ERRORS:
        return Failure("provider_error", f"{url} answered with a body that is not JSON")
    return Answer(response.content, model or "")


class HttpChannelWorker(Actor[Work]):
    def __init__(
        self,
        dialect: Dialect,
        channel_dir: Path,
        timeout_s: float,
        environ: Mapping[str, str] | None,
        pin_model: bool = False,
    ) -> None:
        self._dialect = dialect
        self._pin_model = pin_model
        self._channel_dir = channel_dir
        self._timeout_s = timeout_s
        self._environ = environ
        self._client: httpx.AsyncClient | None = None

    def on_start(self) -> None:
        # Streaming off, no proxies from the environment: requests go exactly where the
        # channel says (tests point it at 127.0.0.1).
        self._client = httpx.AsyncClient(timeout=self._timeout_s, trust_env=False)

    async def on_stop(self, reason: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    @handler
    async def work(self, msg: Work) -> None:
        assert self._client is not None
        request = msg.request
        outcome = await send_channel_request(
            self._client,
            self._dialect,
            self._channel_dir,
            request.kind,
            request.target,
            request.body,
            timeout_s=self._timeout_s,
            environ=self._environ,
            pin_model=self._pin_model,
            idempotency_key=request.idempotency_key,
        )
        status = "ok" if isinstance(outcome, Answer) else f"error: {outcome.kind}"
        # The status file is informative; an unwritable one must not fail the answer.
        with contextlib.suppress(OSError):
            write_channel_status(self._channel_dir, status)
        msg.reply_to.tell(WorkDone(msg.token, outcome))


class OpenAIWorker(HttpChannelWorker):
    def __init__(
        self, channel_dir: Path, timeout_s: float, environ: Mapping[str, str] | None
    ) -> None:
        super().__init__(OPENAI, channel_dir, timeout_s, environ)


def openai_channel(
    name: str,
    channel_dir: Path,
    *,
    timeout_s: float = 60.0,
    environ: Mapping[str, str] | None = None,
    concurrency: int = HTTP_CONCURRENCY,
    pin_model: bool = False,
) -> ProviderSpec:
    """A provider forwarding `openai.chat`/`openai.responses` requests through the channel
    folder `channel_dir` (an OpenAI-compatible server: OpenAI, llama.cpp, vLLM, ...).

    `environ` (default: the process environment) is where `keyref` names are looked up;
    `concurrency` is how many requests are on the wire at once; `pin_model` sends the
    channel's `mod` instead of the model a request names.
    """
    return _http_channel(OPENAI, name, channel_dir, timeout_s, environ, concurrency, pin_model)


def anthropic_channel(
    name: str,
    channel_dir: Path,
    *,
    timeout_s: float = 60.0,
    environ: Mapping[str, str] | None = None,
    concurrency: int = HTTP_CONCURRENCY,
    pin_model: bool = False,
) -> ProviderSpec:
    """A provider forwarding `anthropic.messages` requests to `<url>/messages` of the
    channel folder `channel_dir` (key in `x-api-key`, `anthropic-version` header,
    `max_tokens` defaulted to 1024 when the request has none)."""
    return _http_channel(ANTHROPIC, name, channel_dir, timeout_s, environ, concurrency, pin_model)


def _http_channel(
    dialect: Dialect,
    name: str,
    channel_dir: Path,
    timeout_s: float,
    environ: Mapping[str, str] | None,
    concurrency: int,
    pin_model: bool,
) -> ProviderSpec:
    return ProviderSpec(
        name,
        lambda: HttpChannelWorker(dialect, channel_dir, timeout_s, environ, pin_model),
        concurrency=concurrency,
    )
