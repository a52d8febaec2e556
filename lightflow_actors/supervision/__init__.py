"""Supervision trees with OTP semantics: supervisors, dynamic supervisors, child specs.

::

    from lightflow_actors.supervision import ChildSpec, Supervisor, which_children

    sup = await system.start_actor(lambda: Supervisor(
        [ChildSpec(id="db", start=Db), ChildSpec(id="api", start=Api, restart="transient")],
        strategy="rest_for_one", intensity=3, period=10.0,
    ))
    for child in await which_children(sup):
        print(child.id, child.status)

See ``specs/supervision.md`` for the OTP behaviours and the tests that show each one.
"""

from ._base import GAVE_UP, SupervisorBase, shutdown_child
from ._crash import Crash
from ._dynamic import DynamicSupervisor
from ._errors import (
    ChildAlreadyPresent,
    ChildAlreadyStarted,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    ChildStartFailed,
    DuplicateChildId,
    InvalidChildSpec,
    InvalidSupervisorFlags,
    MaxChildrenReached,
    NotSupportedByDynamic,
    SupervisionError,
)
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD, RestartIntensity
from ._messages import (
    ChildCounts,
    ChildInfo,
    ChildStatus,
    CountChildren,
    DeleteChild,
    RestartChild,
    StartChild,
    SupervisorMessage,
    TerminateChild,
    WhichChildren,
)
from ._ops import (
    SupervisorRef,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from ._pykka import (
    GetPykkaRef,
    PykkaActorFailed,
    PykkaChild,
    PykkaExited,
    PykkaRef,
    ask_pykka,
    await_pykka,
    pykka_child_spec,
)
from ._root import ROOT_NAME, RootSupervisor, start_root
from ._spec import DEFAULT_WORKER_SHUTDOWN, Backoff, ChildSpec, ChildType, Restart, Shutdown
from ._subsystem import (
    SUBSYSTEM_BACKOFF,
    Subsystem,
    SubsystemStatus,
    start_subsystem,
    stop_subsystem,
    subsystems,
)
from ._supervisor import Strategy, Supervisor
from ._system import ActorSystem, start_root_supervisor
from ._tree import NodeKind, PendingChild, SystemTree, TreeNode, restart_at_ms, system_tree

__all__ = [
    "DEFAULT_INTENSITY",
    "DEFAULT_PERIOD",
    "DEFAULT_WORKER_SHUTDOWN",
    "GAVE_UP",
    "ROOT_NAME",
    "SUBSYSTEM_BACKOFF",
    "ActorSystem",
    "Backoff",
    "ChildAlreadyPresent",
    "ChildAlreadyStarted",
    "ChildCounts",
    "ChildInfo",
    "ChildNotFound",
    "ChildRestarting",
    "ChildRunning",
    "ChildSpec",
    "ChildStartFailed",
    "ChildStatus",
    "ChildType",
    "CountChildren",
    "Crash",
    "DeleteChild",
    "DuplicateChildId",
    "DynamicSupervisor",
    "GetPykkaRef",
    "InvalidChildSpec",
    "InvalidSupervisorFlags",
    "MaxChildrenReached",
    "NodeKind",
    "NotSupportedByDynamic",
    "PendingChild",
    "PykkaActorFailed",
    "PykkaChild",
    "PykkaExited",
    "PykkaRef",
    "Restart",
    "RestartChild",
    "RestartIntensity",
    "RootSupervisor",
    "Shutdown",
    "StartChild",
    "Strategy",
    "Subsystem",
    "SubsystemStatus",
    "SupervisionError",
    "Supervisor",
    "SupervisorBase",
    "SupervisorMessage",
    "SupervisorRef",
    "SystemTree",
    "TerminateChild",
    "TreeNode",
    "WhichChildren",
    "ask_pykka",
    "await_pykka",
    "count_children",
    "delete_child",
    "pykka_child_spec",
    "restart_at_ms",
    "restart_child",
    "shutdown_child",
    "start_child",
    "start_root",
    "start_root_supervisor",
    "start_subsystem",
    "stop_subsystem",
    "subsystems",
    "system_tree",
    "terminate_child",
    "which_children",
]
