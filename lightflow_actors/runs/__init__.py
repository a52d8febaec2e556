"""The runs service: `RunsHost`, the actor every runs surface (HTTP, MCP, CLI) asks, the
run actors it hosts, and its mailbox protocol. It knows the run domain (`flow`) and the
CortexFS ABI; which substrate answers, and how, is the composition root's business (`host`).
"""

from ._catalog import CatalogCache
from ._cluster import Forwarded, RunCopy, RunsCluster, install_copy, read_copy, read_new_run
from ._errors import (
    HostNotRunning,
    RunActorRestarting,
    RunEndedFirst,
    RunHostedElsewhere,
    RunsConfigError,
    RunsError,
    StorageUnavailable,
)
from ._host import HostedRun, HostNames, RunsHost, RunStartFailed
from ._leases import Lease, run_lease_path, tree_lease_path
from ._messages import (
    AwaitSettled,
    CancelRun,
    CloseTail,
    CreateRun,
    HostMessage,
    OpenStream,
    Read,
    RefreshRun,
    RetryRun,
    RunEnded,
    StreamHandle,
    StreamMode,
    SubmitStep,
    TakeOver,
)
from ._operations import RunsOperations
from ._port import RunsPort
from ._settings import HostSettings
from ._tail import RunTail, read_complete_lines

__all__ = [
    "AwaitSettled",
    "CancelRun",
    "CatalogCache",
    "CloseTail",
    "CreateRun",
    "Forwarded",
    "HostMessage",
    "HostNames",
    "HostNotRunning",
    "HostSettings",
    "HostedRun",
    "Lease",
    "OpenStream",
    "Read",
    "RefreshRun",
    "RetryRun",
    "RunActorRestarting",
    "RunCopy",
    "RunEnded",
    "RunEndedFirst",
    "RunHostedElsewhere",
    "RunStartFailed",
    "RunTail",
    "RunsCluster",
    "RunsConfigError",
    "RunsError",
    "RunsHost",
    "RunsOperations",
    "RunsPort",
    "StorageUnavailable",
    "StreamHandle",
    "StreamMode",
    "SubmitStep",
    "TakeOver",
    "install_copy",
    "read_complete_lines",
    "read_copy",
    "read_new_run",
    "run_lease_path",
    "tree_lease_path",
]
