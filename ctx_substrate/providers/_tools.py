"""A provider serving tools written as typed Python functions: `fn(Input) -> Output`.

A tool request's body is the tool's typed input (a JSON object). `tools_provider` decodes
it once into the tool's `input` struct (an input that does not fit is answered `malformed`,
naming the field), calls the function, and answers with its result encoded as JSON. One
provider may serve several tools; it dispatches on the tool name the request was sent to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import msgspec

from .._errors import ProviderFailure
from ._callable import callable_provider
from ._protocol import ProviderRequest, ProviderSpec

__all__ = ["ToolFunction", "tool_function", "tools_provider"]

InputT = TypeVar("InputT", bound=msgspec.Struct)


class ToolFunction:
    """One typed tool, built by `tool_function`: `call(body)` decodes and runs it."""

    __slots__ = ("call", "input_name")

    def __init__(self, input_name: str, call: Callable[[Mapping[str, object]], object]) -> None:
        self.input_name = input_name
        self.call = call


def tool_function(input: type[InputT], fn: Callable[[InputT], object]) -> ToolFunction:
    """A tool whose input decodes into the struct `input` and whose output is `fn(input)`.

    `fn` returns a JSON-encodable value (typically a `msgspec.Struct`); raising
    `ProviderFailure` answers `<id>.error`, raising anything else crashes the provider (its
    host restarts it). An input that does not fit `input` is `malformed`, naming the field.

    >>> class Text(msgspec.Struct):
    ...     text: str
    >>> upper = tool_function(Text, lambda t: {"text": t.text.upper()})
    >>> upper.call({"text": "hi"})
    {'text': 'HI'}
    """

    def call(body: Mapping[str, object]) -> object:
        try:
            value = msgspec.convert(body, input)
        except msgspec.ValidationError as exc:
            raise ProviderFailure(
                "malformed",
                f"the input does not fit {input.__name__}: {exc}; send the tool's input "
                "fields as a JSON object",
            ) from None
        return fn(value)

    return ToolFunction(input.__name__, call)


def tools_provider(
    name: str, tools: Mapping[str, ToolFunction], *, model: str = "", concurrency: int = 1
) -> ProviderSpec:
    """A provider answering tool requests with the typed `tools` (tool name → function).

    A request for a tool it does not have is a `provider_error` naming the ones it has.
    `model` is what route files report (default: the provider's name).

    >>> class Text(msgspec.Struct):
    ...     text: str
    >>> spec = tools_provider("local", {"upper": tool_function(Text, lambda t: t.text.upper())})
    >>> spec.name
    'local'
    """
    table = dict(tools)

    def serve(request: ProviderRequest) -> object:
        tool = table.get(request.target) if request.kind == "tool" else None
        if tool is None:
            raise ProviderFailure(
                "provider_error",
                f"provider {name!r} serves the tools {sorted(table)}, not {request.kind} "
                f"{request.target!r}; fix the routes",
            )
        return tool.call(request.body)

    return callable_provider(name, serve, model=model or name, concurrency=concurrency)
