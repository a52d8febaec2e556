"""Providers: the actors that answer requests (a callable, typed tool functions, a subprocess
tool, an HTTP channel)."""

from ._callable import AsyncCallableWorker, CallableWorker, ProviderFn, callable_provider
from ._host import ProviderHost, Serve, Served, slot_id
from ._openai import OpenAIWorker, openai_channel
from ._protocol import (
    Answer,
    Failure,
    Outcome,
    ProviderRequest,
    ProviderSpec,
    Reply,
    Work,
    WorkDone,
)
from ._subprocess import SubprocessWorker, ToolInvocation, ToolMode, ToolResult, subprocess_tool
from ._tools import ToolFunction, tool_function, tools_provider

__all__ = [
    "Answer",
    "AsyncCallableWorker",
    "CallableWorker",
    "Failure",
    "OpenAIWorker",
    "Outcome",
    "ProviderFn",
    "ProviderHost",
    "ProviderRequest",
    "ProviderSpec",
    "Reply",
    "Serve",
    "Served",
    "SubprocessWorker",
    "ToolFunction",
    "ToolInvocation",
    "ToolMode",
    "ToolResult",
    "Work",
    "WorkDone",
    "callable_provider",
    "openai_channel",
    "slot_id",
    "subprocess_tool",
    "tool_function",
    "tools_provider",
]
