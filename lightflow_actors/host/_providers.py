"""The providers the runs host gives its embedded substrate, built from `RunsConfig`.

`local-echo` is the development default: deterministic, offline, and it answers each api
format in that format's own response shape so runs go through the whole pipeline
(`reply_text` reads it back) without a model; `local-tools` (kind `builtin`) serves the
built-in tools of `_tools.py` the same way. A `python` provider imports a callable named
by the config; `openai` forwards to an OpenAI-compatible channel and `anthropic` to an Anthropic
Messages one (opt-in); `subprocess`
runs a tool program.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path

import msgspec

from ctx_substrate import (
    ProviderFailure,
    ProviderRequest,
    ProviderSpec,
    anthropic_channel,
    callable_provider,
    subprocess_tool,
)
from ctx_substrate import openai_channel as openai_channel_provider
from lightflow_actors.cortex import CtxLayout
from lightflow_actors.flow import provider_decl
from lightflow_actors.runs import RunsConfigError

from ._config import (
    AnthropicProvider,
    BuiltinToolsProvider,
    EchoProvider,
    OpenAIProvider,
    ProviderConfig,
    PythonProvider,
)
from ._tools import builtin_tools

__all__ = ["build_providers", "echo_reply", "load_callable"]

JsonObject = dict[str, object]
_FIELD = re.compile(r"\{(user|system|model|format)\}")


def build_providers(configs: tuple[ProviderConfig, ...], layout: CtxLayout) -> list[ProviderSpec]:
    """One `ProviderSpec` per configured provider (imports `python` targets now)."""
    specs: list[ProviderSpec] = []
    for config in configs:
        if isinstance(config, EchoProvider):
            specs.append(_echo_spec(config))
        elif isinstance(config, PythonProvider):
            fn = load_callable(config.target, f"providers[{config.name}].target")
            specs.append(
                callable_provider(
                    config.name,
                    fn,
                    model=config.model,
                    blocking=config.blocking,
                    concurrency=config.concurrency,
                )
            )
        elif isinstance(config, OpenAIProvider | AnthropicProvider):
            try:
                channel_dir = layout.chan_dir(config.channel)
            except ValueError as exc:
                raise RunsConfigError(f"providers[{config.name}].channel", str(exc)) from None
            factory = (
                openai_channel_provider if isinstance(config, OpenAIProvider) else anthropic_channel
            )
            specs.append(
                factory(
                    config.name,
                    channel_dir,
                    timeout_s=config.timeout_s,
                    concurrency=config.concurrency,
                    pin_model=config.pin_model,
                )
            )
        elif isinstance(config, BuiltinToolsProvider):
            specs.append(builtin_tools(config.name, config.served()))
        else:
            specs.append(
                subprocess_tool(
                    config.name,
                    config.argv,
                    mode=config.mode,
                    timeout_s=config.timeout_s,
                    output_limit=config.output_limit,
                    concurrency=config.concurrency,
                )
            )
    return specs


def _echo_spec(config: EchoProvider) -> ProviderSpec:
    template, model = config.template, config.model
    return callable_provider(
        config.name, lambda request: echo_reply(request, template, model), model=model
    )


def echo_reply(request: ProviderRequest, template: str, model: str) -> JsonObject:
    """The echo answer to `request`, shaped like its format's real response (a tool gets
    its input back).

    >>> req = ProviderRequest("thread", "t", "0", "r1", {"text": "hi"}, b"")
    >>> echo_reply(req, "echo: {user}", "echo")
    {'text': 'echo: hi'}
    """
    body = request.body
    if request.kind == "tool":
        return dict(body)
    if request.kind == "thread":
        return {"text": _fill(template, _text(body.get("text")), "", model, "thread")}
    name = body.get("model")
    used = name if isinstance(name, str) and name else model
    fmt = request.target
    system, user = _prompt(fmt, body)
    text = _fill(template, user, system, used, fmt)
    reply_id = f"echo-{request.id}"
    if fmt == "openai.chat":
        return {
            "id": reply_id,
            "object": "chat.completion",
            "model": used,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    if fmt == "openai.responses":
        return {
            "id": reply_id,
            "object": "response",
            "model": used,
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }
            ],
            "output_text": text,
        }
    if fmt == "anthropic.messages":
        return {
            "id": reply_id,
            "type": "message",
            "role": "assistant",
            "model": used,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
        }
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "modelVersion": used,
    }


def _fill(template: str, user: str, system: str, model: str, fmt: str) -> str:
    # One pass of a fixed pattern, not str.format: braces in prompts (JSON) stay as they
    # are, and substituted text is never scanned again.
    values = {"user": user, "system": system, "model": model, "format": fmt}
    return _FIELD.sub(lambda m: values[m.group(1)], template)


def _prompt(fmt: str, body: JsonObject) -> tuple[str, str]:
    """(system, last user text) of a request body of `fmt`."""
    if fmt == "openai.responses":
        return _text(body.get("instructions")), _text(body.get("input"))
    if fmt == "google.generate_content":
        system = body.get("systemInstruction")
        parts = system.get("parts") if isinstance(system, dict) else None
        return _parts(parts), _parts(_last(body.get("contents"), "parts"))
    messages = body.get("messages")
    system_text = _text(body.get("system"))
    user_text = ""
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            if message.get("role") == "system":
                system_text = _text(message.get("content"))
            elif message.get("role") == "user":
                user_text = _text(message.get("content"))
    return system_text, user_text


def _last(items: object, key: str) -> object:
    if isinstance(items, list) and items and isinstance(items[-1], dict):
        return items[-1].get(key)
    return None


def _parts(parts: object) -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(_text(p.get("text")) for p in parts if isinstance(p, dict))


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content blocks: [{"type": "text", "text": ...}]
        return "".join(_text(v.get("text")) for v in value if isinstance(v, dict))
    return ""


def load_callable(target: str, where: str) -> Callable[[ProviderRequest], object]:
    """Import `package.module:attr` or `/path/file.py:attr` and return the callable."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise RunsConfigError(where, f"{target!r} is not `module:function` or `file.py:function`")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
            name = f"lightflow_providers.{path.stem.replace('-', '_')}_{digest}"
            loaded = sys.modules.get(name)  # two providers of one file: import it once
            if loaded is not None:
                module = loaded
            else:
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None:
                    raise RunsConfigError(where, f"cannot import {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
        else:
            module = importlib.import_module(module_name)
    except RunsConfigError:
        raise
    except Exception as exc:  # the operator's code: report, do not crash the host
        raise RunsConfigError(where, f"importing {module_name!r} failed: {exc!r}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise RunsConfigError(where, f"{module_name!r} has no callable {attr!r}")
    checked: Callable[[ProviderRequest], object] = fn
    decl = provider_decl(fn)
    return checked if decl is None else typed_provider(checked)


def typed_provider(fn: Callable[..., object]) -> Callable[[ProviderRequest], object]:
    """`fn` taking a `msgspec.Struct` request (the body converted, a mismatch answered as
    a `malformed` error naming the field) and answering a Struct (sent as JSON);
    an `async def` stays one, so it is awaited side by side."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: take the request as is
        hints = {}
    params = [p for p in inspect.signature(fn).parameters.values() if p.name in hints]
    first = next(iter(inspect.signature(fn).parameters.values()), None)
    shape = hints.get(first.name) if first is not None and params else None
    if not (isinstance(shape, type) and issubclass(shape, msgspec.Struct)):
        shape = None

    def argument(request: ProviderRequest) -> object:
        if shape is None:
            return request
        try:
            return msgspec.convert(request.body, shape)
        except msgspec.ValidationError as exc:
            raise ProviderFailure("malformed", f"request body: {exc}") from None

    def answer(value: object) -> object:
        return msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else value

    if inspect.iscoroutinefunction(fn):

        async def run_async(request: ProviderRequest) -> object:
            return answer(await fn(argument(request)))

        return run_async

    def run(request: ProviderRequest) -> object:
        return answer(fn(argument(request)))

    return run
