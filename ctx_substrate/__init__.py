"""Our CortexFS substrate: the `/ctx` tree served from a plain folder or a FUSE mount.

Pure parts (policy, audit log, request intake, channels, job/hook specs) are importable
without a running actor system; the substrate actors build on them.
"""

from ._answers import answered, close_claim, write_error, write_response
from ._audit import AuditEvent, AuditEventName, AuditLog, iter_audit, read_audit
from ._channel import Channel, read_channel, resolve_keyref, write_channel, write_channel_status
from ._config import SubstrateConfig
from ._dead import QUARANTINED, quarantine
from ._errors import (
    AuditError,
    ChannelError,
    ConfigError,
    PolicyError,
    ProviderFailure,
    RequestRefused,
    SubstrateError,
)
from ._fuse_probe import FuseUnavailable, clean_stale_mount, fuse_available
from ._intake import Location, check_location, decode_body, locate, read_request
from ._policy import Decision, Policy, PolicyRule, decode_policy, load_policy
from ._router import Routes
from ._specs import HookTrigger, JobSpec, JobStatus, SpecError, decode_job_spec, decode_trigger
from ._substrate import Stats, Substrate, SubstrateMessage, SubstrateStats
from ._tree import ensure_tree
from ._watcher import Committed, DirectoryWatcher, Rescan, WatchMode, WrittenInPlace
from .providers import (
    Answer,
    Failure,
    ProviderRequest,
    ProviderSpec,
    Reply,
    ToolFunction,
    ToolInvocation,
    ToolMode,
    ToolResult,
    anthropic_channel,
    callable_provider,
    openai_channel,
    send_channel_request,
    subprocess_tool,
    tool_function,
    tools_provider,
)

__all__ = [
    "QUARANTINED",
    "Answer",
    "AuditError",
    "AuditEvent",
    "AuditEventName",
    "AuditLog",
    "Channel",
    "ChannelError",
    "Committed",
    "ConfigError",
    "Decision",
    "DirectoryWatcher",
    "Failure",
    "FuseUnavailable",
    "HookTrigger",
    "JobSpec",
    "JobStatus",
    "Location",
    "Policy",
    "PolicyError",
    "PolicyRule",
    "ProviderFailure",
    "ProviderRequest",
    "ProviderSpec",
    "Reply",
    "RequestRefused",
    "Rescan",
    "Routes",
    "SpecError",
    "Stats",
    "Substrate",
    "SubstrateConfig",
    "SubstrateError",
    "SubstrateMessage",
    "SubstrateStats",
    "ToolFunction",
    "ToolInvocation",
    "ToolMode",
    "ToolResult",
    "WatchMode",
    "WrittenInPlace",
    "answered",
    "anthropic_channel",
    "callable_provider",
    "check_location",
    "clean_stale_mount",
    "close_claim",
    "decode_body",
    "decode_job_spec",
    "decode_policy",
    "decode_trigger",
    "ensure_tree",
    "fuse_available",
    "iter_audit",
    "load_policy",
    "locate",
    "openai_channel",
    "quarantine",
    "read_audit",
    "read_channel",
    "read_request",
    "resolve_keyref",
    "send_channel_request",
    "subprocess_tool",
    "tool_function",
    "tools_provider",
    "write_channel",
    "write_channel_status",
    "write_error",
    "write_response",
]
