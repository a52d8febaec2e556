"""The instruction set: six instructions, their lifecycle, interpreters and codecs.

Mount, Render, Patch, Subscribe, Submit and Shutdown form one tagged union
(``Instruction``). The same stream is read by the pure interpreter
(``PureInterpreter``), the typed facade (``Session[Phase]``), the tracer (JSONL), the
wire codecs and connection state machine, and the actors that interpret it through
``execute_or_reject`` (``live.LiveSession``, ``flow.RunActor``). See specs/isa.md and
specs/wire.md.
"""

from ._actor import exit_reason_of
from ._codec import DEFAULT_MAX_FRAME_BYTES, JsonCodec, MsgpackCodec, WireCodec
from ._connection import (
    CloseCode,
    CloseDecision,
    Connection,
    ConnectionState,
    Outcome,
    Role,
)
from ._effects import (
    Effect,
    Patched,
    Published,
    Rejected,
    Rendered,
    Replied,
    Stopped,
    Subscribed,
    Unsubscribed,
)
from ._errors import (
    ConnectionStateError,
    FrameDecodeError,
    FrameEncodeError,
    IsaError,
    LifecycleError,
    PayloadError,
    RuntimeFrameError,
    TraceDecodeError,
    WireError,
)
from ._frames import (
    PROTOCOL_VERSION,
    Ack,
    Close,
    ErrorCode,
    ErrorFrame,
    Frame,
    Hello,
    InstructionFrame,
    Ping,
    Pong,
    Welcome,
)
from ._instructions import (
    OPS,
    Instruction,
    Mount,
    Op,
    Patch,
    Render,
    Shutdown,
    ShutdownReason,
    Submit,
    Subscribe,
    op_of,
)
from ._interpreter import PureInterpreter
from ._json import JSONValue, check_json_value, from_json_value, to_json_value
from ._lifecycle import PHASES, Phase, next_phase
from ._program import Program, execute, execute_or_reject, rejection
from ._reference import ReferenceProgram, merge_patch
from ._trace import Tracer, TraceRecord, read_trace
from ._typestate import (
    Closed,
    Disconnected,
    Joined,
    Live,
    Mounted,
    Open,
    Session,
    Unmounted,
    Viewable,
)

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "OPS",
    "PHASES",
    "PROTOCOL_VERSION",
    "Ack",
    "Close",
    "CloseCode",
    "CloseDecision",
    "Closed",
    "Connection",
    "ConnectionState",
    "ConnectionStateError",
    "Disconnected",
    "Effect",
    "ErrorCode",
    "ErrorFrame",
    "Frame",
    "FrameDecodeError",
    "FrameEncodeError",
    "Hello",
    "Instruction",
    "InstructionFrame",
    "IsaError",
    "JSONValue",
    "Joined",
    "JsonCodec",
    "LifecycleError",
    "Live",
    "Mount",
    "Mounted",
    "MsgpackCodec",
    "Op",
    "Open",
    "Outcome",
    "Patch",
    "Patched",
    "PayloadError",
    "Phase",
    "Ping",
    "Pong",
    "Program",
    "Published",
    "PureInterpreter",
    "ReferenceProgram",
    "Rejected",
    "Render",
    "Rendered",
    "Replied",
    "Role",
    "RuntimeFrameError",
    "Session",
    "Shutdown",
    "ShutdownReason",
    "Stopped",
    "Submit",
    "Subscribe",
    "Subscribed",
    "TraceDecodeError",
    "TraceRecord",
    "Tracer",
    "Unmounted",
    "Unsubscribed",
    "Viewable",
    "Welcome",
    "WireCodec",
    "WireError",
    "check_json_value",
    "execute",
    "execute_or_reject",
    "exit_reason_of",
    "from_json_value",
    "merge_patch",
    "next_phase",
    "op_of",
    "read_trace",
    "rejection",
    "to_json_value",
]
