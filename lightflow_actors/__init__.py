"""lightflow-actors: an asyncio actor runtime modelled on Erlang/OTP supervision.

The public API is re-exported here; see ``lightflow_actors.kernel`` for the actor kernel.
``ActorSystem`` here is the supervised one (a root supervisor at the top of the tree);
``lightflow_actors.kernel.ActorSystem`` is the bare kernel it extends.
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
    RefusalReason,
    Refused,
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
from .kernel._reply import Reply
from .kernel._system import BlockingRunner, RootStarter, run_in_thread
from .kernel._timers import Timer
from .supervision import (  # after the kernel: supervision is built on it
    ActorSystem,
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    SupervisionError,
    Supervisor,
    SupervisorRef,
    SystemTree,
    TreeNode,
    count_children,
    delete_child,
    restart_child,
    start_child,
    system_tree,
    terminate_child,
    which_children,
)

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
    "Backoff",
    "BlockingRunner",
    "ChildSpec",
    "Clock",
    "Down",
    "DynamicSupervisor",
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
    "SupervisionError",
    "Supervisor",
    "SupervisorRef",
    "SystemNotRunning",
    "SystemTree",
    "Timer",
    "TreeNode",
    "UnhandledMessage",
    "WrongActorType",
    "count_children",
    "delete_child",
    "format_reason",
    "format_traceback",
    "handler",
    "is_crash",
    "is_normal_exit",
    "restart_child",
    "run_in_thread",
    "start_child",
    "system_tree",
    "terminate_child",
    "which_children",
]
