"""The CortexFS ABI as data: the tree's layout, id rules, wire records, `ctx` verbs, errors.

No actors live here: the run domain, the client adapter and the substrate all speak this
ABI (specs/cortexfs-abi.md), and this package depends on nothing but the kernel's message
types.

>>> layout = CtxLayout(root="/tmp/ctx", uid="1000")
>>> ctx_api(layout, "openai.chat", "step-1").files.request
'/tmp/ctx/home/1000/api/openai.chat/inbox/step-1.req.json'
"""

from ._errors import (
    CortexError,
    InvalidIdError,
    PathEscapeError,
    RequestConflictError,
    ResponseTimeoutError,
    UnknownFormatError,
)
from ._files import atomic_write, commit_request, fsync_dir, write_tmp_request
from ._ids import MAX_SEGMENT_BYTES, check_segment_id, check_short_id, is_segment_id, is_short_id
from ._layout import (
    API_FORMATS,
    DEFAULT_MOUNT,
    ApiFormat,
    CtxLayout,
    Suffix,
    TargetKind,
    check_format,
)
from ._messages import (
    Call,
    Commit,
    CommitFailed,
    CommitFailure,
    CortexNotice,
    CortexOutcome,
    ErrorObserved,
    Observe,
    ObserveTimedOut,
    RequestCommitted,
    ResponseObserved,
)
from ._verbs import (
    AbiRecord,
    ApiRecord,
    ChannelRecord,
    ExchangeFiles,
    HookRecord,
    JobRecord,
    ThreadRecord,
    ToolRecord,
    ctx_abi,
    ctx_api,
    ctx_chan,
    ctx_hook,
    ctx_job,
    ctx_thread,
    ctx_tool,
)
from ._wire import (
    ErrorKind,
    ErrorRecord,
    RouteRecord,
    decode_error,
    decode_route,
    encode_record,
    fingerprint,
)

__all__ = [
    "API_FORMATS",
    "DEFAULT_MOUNT",
    "MAX_SEGMENT_BYTES",
    "AbiRecord",
    "ApiFormat",
    "ApiRecord",
    "Call",
    "ChannelRecord",
    "Commit",
    "CommitFailed",
    "CommitFailure",
    "CortexError",
    "CortexNotice",
    "CortexOutcome",
    "CtxLayout",
    "ErrorKind",
    "ErrorObserved",
    "ErrorRecord",
    "ExchangeFiles",
    "HookRecord",
    "InvalidIdError",
    "JobRecord",
    "Observe",
    "ObserveTimedOut",
    "PathEscapeError",
    "RequestCommitted",
    "RequestConflictError",
    "ResponseObserved",
    "ResponseTimeoutError",
    "RouteRecord",
    "Suffix",
    "TargetKind",
    "ThreadRecord",
    "ToolRecord",
    "UnknownFormatError",
    "atomic_write",
    "check_format",
    "check_segment_id",
    "check_short_id",
    "commit_request",
    "ctx_abi",
    "ctx_api",
    "ctx_chan",
    "ctx_hook",
    "ctx_job",
    "ctx_thread",
    "ctx_tool",
    "decode_error",
    "decode_route",
    "encode_record",
    "fingerprint",
    "fsync_dir",
    "is_segment_id",
    "is_short_id",
    "write_tmp_request",
]
