"""Our CortexFS substrate: the `/ctx` tree served from a plain folder or a FUSE mount.

Pure parts (policy, audit log, request intake, channels, job/hook specs) are importable
without a running actor system; the substrate actors build on them.
"""

from ._answers import answered, close_claim, write_error, write_response
from ._audit import AuditEvent, AuditEventName, AuditLog, iter_audit, read_audit
from ._channel import Channel, read_channel, resolve_keyref, write_channel, write_channel_status
from ._errors import (
    ChannelError,
    ConfigError,
    PolicyError,
    ProviderFailure,
    RequestRefused,
    SubstrateError,
)
from ._intake import Location, ToolInvocation, check_location, decode_body, locate, read_request
from ._policy import Decision, Policy, PolicyRule, decode_policy, load_policy
from ._specs import HookTrigger, JobSpec, JobStatus, SpecError, decode_job_spec, decode_trigger
from ._tree import ensure_tree

__all__ = [
    "AuditEvent",
    "AuditEventName",
    "AuditLog",
    "Channel",
    "ChannelError",
    "ConfigError",
    "Decision",
    "HookTrigger",
    "JobSpec",
    "JobStatus",
    "Location",
    "Policy",
    "PolicyError",
    "PolicyRule",
    "ProviderFailure",
    "RequestRefused",
    "SpecError",
    "SubstrateError",
    "ToolInvocation",
    "answered",
    "check_location",
    "close_claim",
    "decode_body",
    "decode_job_spec",
    "decode_policy",
    "decode_trigger",
    "ensure_tree",
    "iter_audit",
    "load_policy",
    "locate",
    "read_audit",
    "read_channel",
    "read_request",
    "resolve_keyref",
    "write_channel",
    "write_channel_status",
    "write_error",
    "write_response",
]
