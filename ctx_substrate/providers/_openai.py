"""A provider that forwards requests to an OpenAI-compatible HTTP endpoint (httpx, no streaming).

It is configured by a channel folder (`/ctx/chan/<id>/`): the endpoint is `localurl` or
`url`, the API key is read from the environment variable its `keyref` names at each request
(the key never enters the tree), `mod` is the default model, `enabled` switches it off.
The channel's `status` file records the last outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

import httpx
import msgspec

from lightflow_actors.cortex import DECODE_ERRORS
from lightflow_actors.kernel import Actor, handler

from .._channel import read_channel, resolve_keyref, write_channel_status
from .._errors import ChannelError
from ._protocol import Answer, Failure, ProviderSpec, Work, WorkDone

__all__ = ["HTTP_CONCURRENCY", "OpenAIWorker", "openai_channel"]

HTTP_CONCURRENCY = 16
"""Default number of requests an HTTP channel provider has on the wire at once."""

_PATHS = {"openai.chat": "/chat/completions", "openai.responses": "/responses"}


class OpenAIWorker(Actor[Work]):
    def __init__(
        self, channel_dir: Path, timeout_s: float, environ: Mapping[str, str] | None
    ) -> None:
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
        outcome = await self._send(msg)
        status = "ok" if isinstance(outcome, Answer) else f"error: {outcome.kind}"
        # The status file is informative; an unwritable one must not fail the answer.
        with contextlib.suppress(OSError):
            write_channel_status(self._channel_dir, status)
        msg.reply_to.tell(WorkDone(msg.token, outcome))

    async def _send(self, msg: Work) -> Answer | Failure:
        request = msg.request
        path = _PATHS.get(request.target) if request.kind == "api" else None
        if path is None:
            return Failure(
                "provider_error",
                f"channel {self._channel_dir.name!r} speaks openai.chat/openai.responses, "
                f"not {request.kind} {request.target!r}",
            )
        try:
            channel = read_channel(self._channel_dir)
            key = resolve_keyref(channel, self._environ)
        except ChannelError as exc:
            return Failure("provider_error", str(exc))
        if not channel.enabled:
            return Failure("provider_error", f"channel {channel.id!r} is disabled")
        body = dict(request.body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            model = channel.mod
            if model:
                body["model"] = model
        body["stream"] = False
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        assert self._client is not None
        url = channel.endpoint.rstrip("/") + path
        try:
            response = await self._client.post(
                url, content=msgspec.json.encode(body), headers=headers
            )
        except httpx.TimeoutException:
            return Failure("timeout", f"{url} did not answer within {self._timeout_s}s")
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


def openai_channel(
    name: str,
    channel_dir: Path,
    *,
    timeout_s: float = 60.0,
    environ: Mapping[str, str] | None = None,
    concurrency: int = HTTP_CONCURRENCY,
) -> ProviderSpec:
    """A provider forwarding api requests through the channel folder `channel_dir`.

    `environ` (default: the process environment) is where `keyref` names are looked up;
    `concurrency` is how many requests are on the wire at once.
    """
    return ProviderSpec(
        name, lambda: OpenAIWorker(channel_dir, timeout_s, environ), concurrency=concurrency
    )
