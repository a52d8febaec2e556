"""Set up real model providers: `lightflow provider add|list|test|remove` (specs/runs-http.md
§1.1).

`add_provider` writes, in one step, what the runs config needs to send a model format to an
HTTP endpoint: the channel folder `/ctx/chan/<name>/` (`url`, `keyref` = `env:<NAME>`,
`fmt`, `mod`) and, in the runs config file, a provider entry of kind `openai` or `anthropic`
plus the api routes of the formats it speaks. The key itself never enters a file: only the
name of the environment variable holding it. `list_providers` shows what is configured and
whether each channel is usable; `test_provider` sends one real request through a channel;
`remove_provider` takes a provider out of the config file (its routes go back to the
default provider) and deletes its channel folder when no other provider uses it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx
import msgspec
import platformdirs

from ctx_substrate import Channel, ChannelError, read_channel, write_channel
from ctx_substrate.providers import ANTHROPIC, OPENAI, Answer, send_channel_request
from lightflow_actors.cortex import atomic_write
from lightflow_actors.flow import ProviderProblem
from lightflow_actors.runs import RunsConfigError

from ._config import (
    AnthropicProvider,
    OpenAIProvider,
    RunsConfig,
    _default_routes,
    config_path,
    decode_runs_config,
)

__all__ = [
    "KINDS",
    "AddedProvider",
    "ProviderInputError",
    "ProviderListing",
    "ProviderSetupError",
    "ProviderStatus",
    "ProviderTest",
    "RemovedProvider",
    "SetupKind",
    "add_provider",
    "list_providers",
    "remove_provider",
    "test_provider",
]

SetupKind = Literal["openai", "anthropic", "openai-compatible"]

KINDS: dict[str, tuple[Literal["openai", "anthropic"], tuple[str, ...]]] = {
    "openai": ("openai", ("openai.chat", "openai.responses")),
    "anthropic": ("anthropic", ("anthropic.messages",)),
    "openai-compatible": ("openai", ("openai.chat",)),
}
"""Each `provider add` kind: the config kind it writes and the api formats routed to it
(an OpenAI-compatible server such as llama.cpp or vLLM: chat completions only)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_MAX_URL = 2048
_MAX_MODEL = 256
_MAX_CONFIG = 1 << 20
_TEST_PROMPT = "Reply with the single word: ok"


class ProviderInputError(ValueError):
    """An argument of `provider add|test` is wrong (the input must change)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class ProviderSetupError(Exception):
    """The setup could not be done: a file cannot be read or written, a request failed."""


class ProviderStatus(msgspec.Struct, frozen=True):
    """One configured provider as `provider list` shows it."""

    name: str
    kind: str
    routes: tuple[str, ...]
    channel: str | None = None
    url: str | None = None
    keyref: str | None = None
    key_set: bool | None = None
    model: str | None = None
    pin_model: bool | None = None
    status: str | None = None
    problem: str | None = None


class ProviderListing(msgspec.Struct, frozen=True):
    config: str | None  # the config file in force (None: the embedded defaults)
    providers: tuple[ProviderStatus, ...]
    problems: tuple[ProviderProblem, ...] = ()  # `@provider` assets not taken (ADR 0102)


class AddedProvider(msgspec.Struct, frozen=True):
    config: str
    channel_dir: str
    provider: ProviderStatus
    warnings: tuple[str, ...] = ()


class RemovedProvider(msgspec.Struct, frozen=True):
    """What `provider remove` did: the config file it rewrote, where each route of the
    removed provider goes now (None: unrouted), the channel folder it deleted (if any)."""

    config: str
    name: str
    routes: dict[str, str | None]
    channel_removed: str | None = None


class ProviderTest(msgspec.Struct, frozen=True):
    name: str
    url: str
    model: str
    text: str


def check_base_url(url: str) -> str:
    """An http(s) base URL with a host, without credentials, query or fragment."""
    if len(url) > _MAX_URL:
        raise ProviderInputError("--base-url", f"longer than {_MAX_URL} characters")
    if not url or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise ProviderInputError("--base-url", f"{url!r} is empty or holds spaces/controls")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ProviderInputError("--base-url", f"{url!r} is not a URL ({exc})") from None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderInputError(
            "--base-url",
            f"{url!r} must be http:// or https:// with a host, e.g. "
            "https://api.openai.com/v1 or http://127.0.0.1:8080/v1",
        )
    if parts.username is not None or parts.password is not None:
        raise ProviderInputError(
            "--base-url",
            "holds credentials; put the key in an environment variable and name it with --key-env",
        )
    if parts.query or parts.fragment:
        raise ProviderInputError("--base-url", f"{url!r} must not have a query or fragment")
    return url.rstrip("/")


def check_key_env(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise ProviderInputError(
            "--key-env",
            f"{name[:20]!r}... is not an environment variable name; give the variable's "
            "name (e.g. OPENAI_API_KEY), never the key itself",
        )
    return name


def check_model(model: str) -> str:
    if len(model) > _MAX_MODEL or not model.isprintable() or model != model.strip():
        raise ProviderInputError(
            "--model", f"must be printable, without surrounding spaces, at most {_MAX_MODEL}"
        )
    return model


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ProviderInputError(
            "--name", f"{name!r} must be 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)"
        )
    return name


def _config_file(environ: Mapping[str, str]) -> Path:
    return config_path(environ) or platformdirs.user_config_path("lightflow") / "runs.json"


def _read_raw(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_CONFIG + 1)
    except (FileNotFoundError, NotADirectoryError):  # not there yet: `add` creates it
        return {}
    except OSError as exc:
        raise ProviderSetupError(f"cannot read the runs config {path} ({exc.strerror})") from None
    if len(data) > _MAX_CONFIG:
        raise ProviderSetupError(f"the runs config {path} is larger than {_MAX_CONFIG} bytes")
    decode_runs_config(data, str(path))  # a broken file is named, never overwritten
    raw = msgspec.json.decode(data)
    if not isinstance(raw, dict):  # pragma: no cover - decode_runs_config refuses it
        raise RunsConfigError(str(path), "is not a JSON object")
    return raw


def add_provider(
    kind: str,
    *,
    base_url: str,
    key_env: str | None,
    model: str = "",
    name: str | None = None,
    replace: bool = False,
    environ: Mapping[str, str] | None = None,
) -> AddedProvider:
    """Write the channel folder and the runs config entry + routes of a new provider.

    Raises `ProviderInputError` for a bad argument (nothing written), `RunsConfigError`
    for a config file that is already broken, `ProviderSetupError` for a file that
    cannot be written.
    """
    env = os.environ if environ is None else environ
    if kind not in KINDS:
        raise ProviderInputError("KIND", f"{kind!r} is not one of {sorted(KINDS)}")
    config_kind, formats = KINDS[kind]
    url = check_base_url(base_url)
    if key_env is not None:
        check_key_env(key_env)
    elif kind != "openai-compatible":
        raise ProviderInputError(
            "--key-env", f"{kind} needs the name of the variable holding its API key"
        )
    check_model(model)
    chosen = check_name(name or kind)
    path = _config_file(env)
    raw = _read_raw(path)
    current = decode_runs_config(msgspec.json.encode(raw), str(path))
    settings = current.settings(env)
    providers = [p for p in msgspec.to_builtins(current.providers)]
    if any(p["name"] == chosen for p in providers):
        if not replace:
            raise ProviderInputError(
                "--name", f"a provider {chosen!r} exists in {path}; give --replace or --name"
            )
        providers = [p for p in providers if p["name"] != chosen]
    entry: dict[str, object] = {"kind": config_kind, "name": chosen, "channel": chosen}
    if model:  # the model asked for is the one sent, whatever model asset a step names
        entry["pin_model"] = True
    providers.append(entry)
    routes = msgspec.to_builtins(settings.routes)
    assert isinstance(routes, dict)
    for table in ("api", "tool", "thread"):
        entries = routes.setdefault(table, {})
        for key in [k for k, v in entries.items() if v == chosen]:
            del entries[key]
    routes["limits"] = {
        k: v
        for k, v in routes.get("limits", {}).items()
        if k.partition("/")[2] in routes[k.partition("/")[0]]
    }
    for fmt in formats:
        routes["api"][fmt] = chosen
    raw["providers"] = providers
    raw["routes"] = routes
    if isinstance(raw.get("policy"), dict):
        policy = raw["policy"]
        assert isinstance(policy, dict)
        rules = [r for r in policy.get("rules", []) if r.get("provider") != chosen]
        rules.append({"provider": chosen, "api": list(formats)})
        policy["rules"] = rules
    encoded = msgspec.json.format(msgspec.json.encode(raw), indent=2) + b"\n"
    decode_runs_config(encoded, str(path)).settings(env)  # the result must be valid
    try:
        channel_dir = settings.layout.chan_dir(chosen)
    except ValueError as exc:
        raise ProviderInputError("--name", str(exc)) from None
    channel = Channel(
        id=chosen,
        url=url,
        keyref=f"env:{key_env}" if key_env else "",
        fmt=formats[0],
        mod=model,
    )
    try:  # the config's folder first: a channel is never written for a config that cannot be
        path.parent.mkdir(parents=True, exist_ok=True)
        write_channel(channel_dir, channel)
        atomic_write(path, encoded)
    except OSError as exc:
        where = exc.filename or path
        raise ProviderSetupError(f"cannot write {where} ({exc.strerror})") from None
    warnings = []
    if key_env and not env.get(key_env):
        warnings.append(
            f"${key_env} is unset here; export it where lightflow runs (serve, run create)"
        )
    status = _status(
        decode_runs_config(encoded).settings(env).providers[-1],
        settings_routes(raw),
        env,
        settings.layout.chan_dir,
    )
    return AddedProvider(str(path), str(channel_dir), status, tuple(warnings))


def remove_provider(
    name: str, *, keep_channel: bool = False, environ: Mapping[str, str] | None = None
) -> RemovedProvider:
    """Take provider `name` out of the runs config file: its entry, its policy rules and
    the limits of its routes; each route it served goes to what the remaining providers'
    defaults route there (`local-echo` for api formats, by default), else is dropped. Its
    channel folder is deleted unless `keep_channel` or another provider uses it.

    Raises `ProviderInputError` when no provider of that name is in the file (the embedded
    defaults are not a file: there is nothing to remove), `RunsConfigError` for a broken
    file (never overwritten), `ProviderSetupError` for a file that cannot be written.
    """
    env = os.environ if environ is None else environ
    path = config_path(env)
    raw = _read_raw(path) if path is not None else {}
    listed = raw.get("providers")
    entries = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    names = [str(p.get("name", "")) for p in entries]
    if path is None or name not in names:
        where = (
            f"in {path}" if path is not None else "(no runs config file; the defaults are in force)"
        )
        raise ProviderInputError("NAME", f"no provider {name!r} {where}; configured: {names}")
    current = decode_runs_config(msgspec.json.encode(raw), str(path))
    before = current.settings(env)
    removed = next(p for p in before.providers if p.name == name)
    remaining = [p for p in entries if p.get("name") != name]
    raw["providers"] = remaining
    moved: dict[str, str | None] = {}
    if isinstance(raw.get("routes"), dict):
        routes = msgspec.to_builtins(before.routes)
        assert isinstance(routes, dict)
        others = decode_runs_config(
            msgspec.json.encode({"providers": remaining}), str(path)
        ).providers
        fallback = msgspec.to_builtins(_default_routes(others))
        assert isinstance(fallback, dict)
        for table in ("api", "tool", "thread"):
            table_routes = routes.setdefault(table, {})
            defaults = fallback.get(table, {})
            for key in [k for k, v in table_routes.items() if v == name]:
                del table_routes[key]
                target: str | None
                if "*" in table_routes:  # another provider's wildcard covers it now
                    target = table_routes["*"]
                else:
                    target = defaults.get(key) or defaults.get("*")
                    if target is not None:
                        table_routes[key] = target
                moved[f"{table}/{key}"] = target
        routes["limits"] = {
            k: v
            for k, v in routes.get("limits", {}).items()
            if k.partition("/")[2] in routes.get(k.partition("/")[0], {})
        }
        raw["routes"] = routes
    if isinstance(raw.get("policy"), dict):
        policy = raw["policy"]
        assert isinstance(policy, dict)
        policy["rules"] = [r for r in policy.get("rules", []) if r.get("provider") != name]
    encoded = msgspec.json.format(msgspec.json.encode(raw), indent=2) + b"\n"
    decode_runs_config(encoded, str(path)).settings(env)  # the result must be valid
    channel = getattr(removed, "channel", None)
    still_used = any(
        getattr(p, "channel", None) == channel for p in before.providers if p is not removed
    )
    folder: Path | None = None
    if isinstance(channel, str) and not keep_channel and not still_used:
        folder = before.layout.chan_dir(channel)
    try:
        atomic_write(path, encoded)
        if folder is not None:
            shutil.rmtree(folder)
    except FileNotFoundError:
        folder = None  # no channel folder to delete
    except OSError as exc:
        raise ProviderSetupError(f"cannot write {exc.filename or path} ({exc.strerror})") from None
    return RemovedProvider(str(path), name, moved, None if folder is None else str(folder))


def settings_routes(raw: Mapping[str, object]) -> dict[str, str]:
    """`kind/name -> provider` of the `routes` of a raw config."""
    routes = raw.get("routes")
    out: dict[str, str] = {}
    if isinstance(routes, dict):
        for table in ("api", "tool", "thread"):
            entries = routes.get(table)
            if isinstance(entries, dict):
                out.update({f"{table}/{k}": str(v) for k, v in entries.items()})
    return out


def _status(
    provider: object,
    routes: Mapping[str, str],
    env: Mapping[str, str],
    chan_dir: Callable[[str], Path],
) -> ProviderStatus:
    name = getattr(provider, "name", "?")
    kind = type(provider).__struct_config__.tag  # type: ignore[attr-defined]
    served = tuple(sorted(k for k, v in routes.items() if v == name))
    if not isinstance(provider, OpenAIProvider | AnthropicProvider):
        return ProviderStatus(name=name, kind=str(kind), routes=served)
    try:
        folder: Path = chan_dir(provider.channel)
        channel = read_channel(folder)
    except (ValueError, ChannelError) as exc:
        return ProviderStatus(
            name=name, kind=str(kind), routes=served, channel=provider.channel, problem=str(exc)
        )
    key_name = channel.keyref.removeprefix("env:") if channel.keyref else None
    key_set = bool(env.get(key_name)) if key_name else None
    try:
        status = (folder / "status").read_text(errors="replace").strip()[:200] or None
    except OSError:
        status = None
    return ProviderStatus(
        name=name,
        kind=str(kind),
        routes=served,
        channel=channel.id,
        url=channel.endpoint,
        keyref=channel.keyref or None,
        key_set=key_set,
        model=channel.mod or None,
        pin_model=provider.pin_model,
        status=status,
        problem=None if key_set is not False else f"${key_name} is unset",
    )


def _resolved(environ: Mapping[str, str] | None) -> tuple[Path | None, RunsConfig]:
    env = os.environ if environ is None else environ
    path = config_path(env)
    if path is None:
        return None, RunsConfig()
    raw = _read_raw(path)
    return path, decode_runs_config(msgspec.json.encode(raw), str(path))


def list_providers(environ: Mapping[str, str] | None = None) -> ProviderListing:
    """The configured providers, their routes, and whether each channel is usable."""
    env = os.environ if environ is None else environ
    path, config = _resolved(env)
    settings = config.settings(env)
    routes = settings_routes({"routes": msgspec.to_builtins(settings.routes)})
    return ProviderListing(
        None if path is None else str(path),
        tuple(_status(p, routes, env, settings.layout.chan_dir) for p in settings.providers),
        settings.provider_problems,
    )


def test_provider(
    name: str,
    *,
    prompt: str = _TEST_PROMPT,
    timeout_s: float = 30.0,
    environ: Mapping[str, str] | None = None,
) -> ProviderTest:
    """Send one request through the HTTP channel provider `name`; its answer's text.

    Raises `ProviderInputError` for an unknown or non-HTTP provider, `ProviderSetupError`
    naming what failed (channel file, unset key variable, unreachable URL, HTTP status).
    """
    env = os.environ if environ is None else environ
    _, config = _resolved(env)
    settings = config.settings(env)
    found = [p for p in settings.providers if p.name == name]
    if not found:
        known = [p.name for p in settings.providers]
        raise ProviderInputError("NAME", f"no provider {name!r}; configured: {known}")
    provider = found[0]
    if not isinstance(provider, OpenAIProvider | AnthropicProvider):
        raise ProviderInputError(
            "NAME", f"{name!r} is not an HTTP provider (kind openai or anthropic)"
        )
    dialect, target = (
        (OPENAI, "openai.chat")
        if isinstance(provider, OpenAIProvider)
        else (ANTHROPIC, "anthropic.messages")
    )
    folder = settings.layout.chan_dir(provider.channel)
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 16}

    async def send() -> object:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            return await send_channel_request(
                client,
                dialect,
                folder,
                "api",
                target,
                body,
                timeout_s=timeout_s,
                environ=env,
                pin_model=provider.pin_model,
            )

    outcome = asyncio.run(send())
    if not isinstance(outcome, Answer):
        raise ProviderSetupError(f"provider {name!r}: {getattr(outcome, 'message', outcome)}")
    channel = read_channel(folder)
    return ProviderTest(name, channel.endpoint, outcome.model, _answer_text(outcome.body))


def _answer_text(body: bytes) -> str:
    value = msgspec.json.decode(body)
    if not isinstance(value, dict):
        return ""
    choices = value.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return str(message["content"])
    content = value.get("content")
    if isinstance(content, list):
        return "".join(str(c.get("text")) for c in content if isinstance(c, dict) and "text" in c)
    return ""
