"""lightflow-actors: an asyncio actor runtime modelled on Erlang/OTP supervision.

The public API is re-exported here; see ``lightflow_actors.kernel`` for the actor kernel.
"""

from .kernel._actor import Actor, handler
from .kernel._clock import Clock, LoopClock
from .kernel._errors import (
    ActorExited,
    ActorNotAlive,
    AskTimeout,
    InvalidActorDefinition,
    LightflowError,
    MailboxFull,
    MessageDropped,
    NameNotRegistered,
    NameTaken,
    NotInActor,
    StartFailed,
    SystemNotRunning,
    UnhandledMessage,
    WrongActorType,
)
from .kernel._introspect import ActorInfo, ActorStatus, LifecycleEvent, LifecycleKind
from .kernel._mailbox import Mailbox, Overflow
from .kernel._messages import Ask, Down, Exit
from .kernel._reasons import (
    KILL,
    KILLED,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    ExitReason,
    format_reason,
    format_traceback,
    is_crash,
    is_normal_exit,
)
from .kernel._ref import ActorRef, AnyRef
from .kernel._registry import RegistryKey
from .kernel._system import ActorSystem, BlockingRunner, run_in_thread
from .kernel._timers import Timer

__all__ = [
    "KILL",
    "KILLED",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "Actor",
    "ActorExited",
    "ActorInfo",
    "ActorNotAlive",
    "ActorRef",
    "ActorStatus",
    "ActorSystem",
    "AnyRef",
    "Ask",
    "AskTimeout",
    "BlockingRunner",
    "Clock",
    "Down",
    "Exit",
    "ExitReason",
    "InvalidActorDefinition",
    "LifecycleEvent",
    "LifecycleKind",
    "LightflowError",
    "LoopClock",
    "Mailbox",
    "MailboxFull",
    "MessageDropped",
    "NameNotRegistered",
    "NameTaken",
    "NotInActor",
    "Overflow",
    "RegistryKey",
    "StartFailed",
    "SystemNotRunning",
    "Timer",
    "UnhandledMessage",
    "WrongActorType",
    "format_reason",
    "format_traceback",
    "handler",
    "is_crash",
    "is_normal_exit",
    "run_in_thread",
]
