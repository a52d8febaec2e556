"""The actor kernel: actors, refs, mailboxes, exit signals, registry, timers, the system."""

from ._actor import Actor, handler
from ._clock import Clock, LoopClock
from ._errors import (
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
    RefusalReason,
    Refused,
    StartFailed,
    SystemNotRunning,
    UnhandledMessage,
    WrongActorType,
)
from ._introspect import ActorInfo, ActorStatus, LifecycleEvent, LifecycleKind
from ._mailbox import Mailbox, Overflow
from ._messages import Ask, Down, Exit
from ._reasons import (
    KILL,
    KILLED,
    NOCONNECTION,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    ExitReason,
    format_reason,
    format_traceback,
    is_crash,
    is_normal_exit,
)
from ._ref import ActorRef, AnyRef, ask_now
from ._registry import RegistryKey
from ._reply import Reply
from ._system import ActorSystem, BlockingRunner, RootStarter, run_in_thread
from ._timers import Timer

__all__ = [
    "KILL",
    "KILLED",
    "NOCONNECTION",
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
    "RefusalReason",
    "Refused",
    "RegistryKey",
    "Reply",
    "RootStarter",
    "StartFailed",
    "SystemNotRunning",
    "Timer",
    "UnhandledMessage",
    "WrongActorType",
    "ask_now",
    "format_reason",
    "format_traceback",
    "handler",
    "is_crash",
    "is_normal_exit",
    "run_in_thread",
]
