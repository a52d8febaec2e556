"""Typed errors of the flow layer: refusals with a kernel reason, and failures.

Most flow errors refuse a request and are kernel `Refused`s with a fixed `reason`:
usage-level mistakes are `Invalid` (`invalid`), unknown runs/assets/steps are `NotFound`
(`not_found`), and state clashes (existing run id, submit from a non-planned step,
cancelling a finished run) are `Conflict` (`conflict`). Raised in a handler they answer
the ask without crashing the actor. The rest (`CorruptRun`, `MalformedResponse`,
`RunInvariantBroken`) are failures: raised in a handler they crash the actor. Each edge
maps a reason once (HTTP: `adapters/_refusals.py`; MCP; the CLI); no status lives here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lightflow_actors.kernel import Refused


class FlowError(Exception):
    """Base class of every flow error."""


class Invalid(FlowError, Refused):
    """The caller sent something malformed."""

    reason = "invalid"


class NotFound(FlowError, Refused):
    """The named run, asset or step does not exist."""

    reason = "not_found"


class Conflict(FlowError, Refused):
    """The request clashes with the current state."""

    reason = "conflict"


class InvalidRunId(Invalid):
    """A run id that could escape or break the runs folder."""


class InvalidInputs(Invalid):
    """Run inputs that are not a JSON object matching the workflow's input schema."""


class TemplateError(Invalid):
    """A template references an unknown field, or a field of the wrong type."""


class WorkflowError(Invalid):
    """A workflow definition is inconsistent: cycle, unknown dependency, duplicate step."""


class MissingModel(WorkflowError):
    """A step names a model that no model asset provides (or not for its format)."""


AssetFailure = Literal[
    "syntax",
    "metadata",
    "kind_mismatch",
    "duplicate",
    "exception",
    "definition",
    "timeout",
    "memory",
    "exit",
]
"""What went wrong with an asset file (`AssetError.failure`; specs/flow.md §Evaluation):
read statically (`syntax`, `metadata`, `kind_mismatch`, `duplicate` id) or while the
evaluator executed it (`exception`, a bad `definition`, `timeout`, `memory`, `exit`)."""


class AssetError(Invalid):
    """An asset file is unusable; the message names the file, the line and the failure."""

    failure: AssetFailure = "exception"

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem} (failure: {self.failure})")


class AssetSyntaxError(AssetError):
    """The asset file is not valid Python."""

    failure: AssetFailure = "syntax"


class MalformedMetadata(AssetError):
    """`METADATA` is missing, not a literal, or does not match the metadata schema."""

    failure: AssetFailure = "metadata"


class AssetKindMismatch(AssetError):
    """The metadata `kind` does not match the folder the file lives in."""

    failure: AssetFailure = "kind_mismatch"


class DuplicateAssetId(AssetError):
    """Two asset files declare the same id."""

    failure: AssetFailure = "duplicate"


class AssetLoadError(AssetError):
    """Executing the asset file raised."""

    failure: AssetFailure = "exception"


class AssetDefinitionError(AssetLoadError):
    """The asset file ran but bound no `DEFINITION`, or one of the wrong type."""

    failure: AssetFailure = "definition"


class AssetTimeout(AssetLoadError):
    """Evaluating the asset file took longer than the evaluator's time limit."""

    failure: AssetFailure = "timeout"


class AssetMemoryExceeded(AssetLoadError):
    """Evaluating the asset file needed more memory than the evaluator's limit."""

    failure: AssetFailure = "memory"


class AssetExited(AssetLoadError):
    """The asset file ended the evaluator process (`os._exit`, a signal, a crash)."""

    failure: AssetFailure = "exit"


class UnknownAsset(NotFound):
    """No asset with this id (of this kind) exists."""


class RunNotFound(NotFound):
    """No run with this id exists under the runs folder."""


class StepNotFound(NotFound):
    """The run's workflow has no step with this id."""


class RunExists(Conflict):
    """A run with this id already exists."""


class StepTransitionError(Conflict):
    """A step or run state change that the lifecycle forbids."""


class CorruptRun(FlowError):
    """A run's files on disk cannot be decoded: not produced by this store (a failure)."""


class MalformedResponse(FlowError):
    """A provider/tool response that does not decode: the upstream misbehaved (a failure;
    the HTTP edge answers it 502, other failures 500)."""


class RunFenced(FlowError):
    """This node no longer owns the run: in a cluster another node took its lease over
    (specs/cluster.md §Runs). The run actor makes nothing more visible (no request is
    committed, no answer recorded) and stops with `("shutdown", "fenced")`: not a crash,
    so it is not restarted here; the new owner drives the run."""

    def __init__(self, run_id: str, detail: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id!r} is owned by another node now: {detail}")


class RunInvariantBroken(FlowError):
    """Interpreting a run raised where nothing may: the manifest on disk refused a
    transition the run's program made, or the program itself raised.

    A failure, never a refusal, even when its cause is one (a `StepTransitionError`): the
    run actor crashes, its supervisor restarts it, and the run resumes from its manifest.
    Were the cause raised as it is, the kernel would answer an asker "conflict" (or drop
    a notice's refusal at debug level) and the actor would go on with a program that
    disagrees with the manifest. Raised `from` the cause (`__cause__`).
    """

    def __init__(self, run_id: str, doing: str, cause: Exception) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r}: {doing} broke an invariant ({type(cause).__name__}: {cause}); "
            "the run actor crashes and its supervisor resumes the run from its manifest. "
            "If this recurs, the run folder was changed outside this run: check manifest.json"
        )
