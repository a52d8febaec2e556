"""Providers: the actors that answer requests (a callable, typed tool functions, a subprocess
tool, an HTTP channel)."""

from ._callable import (
    SLOW_CALL_S,
    AsyncCallableWorker,
    CallableWorker,
    LoopCalls,
    ProviderFn,
    callable_provider,
)
from ._host import ProviderHost, Serve, Served, slot_id
from ._openai import (
    ANTHROPIC,
    OPENAI,
    Dialect,
    HttpChannelWorker,
    OpenAIWorker,
    anthropic_channel,
    openai_channel,
    send_channel_request,
)
from ._protocol import (
    Answer,
    Failure,
    Outcome,
    ProviderRequest,
    ProviderSpec,
    Reply,
    Work,
    WorkDone,
    idempotency_key,
)
from ._subprocess import SubprocessWorker, ToolInvocation, ToolMode, ToolResult, subprocess_tool
from ._tools import ToolFunction, tool_function, tools_provider

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "SLOW_CALL_S",
    "Answer",
    "AsyncCallableWorker",
    "CallableWorker",
    "Dialect",
    "Failure",
    "HttpChannelWorker",
    "LoopCalls",
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
    "anthropic_channel",
    "callable_provider",
    "idempotency_key",
    "openai_channel",
    "send_channel_request",
    "slot_id",
    "subprocess_tool",
    "tool_function",
    "tools_provider",
]
