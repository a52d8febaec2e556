"""Typed errors of the flow layer: refusals with a kernel reason, and failures.

Most flow errors refuse a request and are kernel `Refused`s with a fixed `reason`:
usage-level mistakes are `Invalid` (`invalid`), unknown runs/assets/steps are `NotFound`
(`not_found`), and state clashes (existing run id, submit from a non-planned step,
cancelling a finished run) are `Conflict` (`conflict`). Raised in a handler they answer
the ask without crashing the actor. The rest (`CorruptRun`, `MalformedResponse`) are
failures. Each edge maps a reason once (HTTP: `adapters/http/_errors.py`; MCP; the CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lightflow_actors.kernel import Refused


class FlowError(Exception):
    """Base class of every flow error."""

    # Transitional, read by nothing but `flow/_run_actor.py` (its `Refused(error, status)`
    # record, which the runs host turns back into the typed refusal) and `tests/flow`: both
    # belong to the run actor's rewrite as an ISA interpreter, which raises the refusal
    # instead. Delete these `http_status` lines then; edges map `Refused.reason`.
    http_status: ClassVar[int] = 500


class Invalid(FlowError, Refused):
    """The caller sent something malformed."""

    reason = "invalid"
    http_status: ClassVar[int] = 400  # transitional, see FlowError


class NotFound(FlowError, Refused):
    """The named run, asset or step does not exist."""

    reason = "not_found"
    http_status: ClassVar[int] = 404  # transitional, see FlowError


class Conflict(FlowError, Refused):
    """The request clashes with the current state."""

    reason = "conflict"
    http_status: ClassVar[int] = 409  # transitional, see FlowError


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


class AssetError(Invalid):
    """An asset file is unusable; the message names the file and line."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem}")


class AssetSyntaxError(AssetError):
    """The asset file is not valid Python."""


class MalformedMetadata(AssetError):
    """`METADATA` is missing, not a literal, or does not match the metadata schema."""


class AssetKindMismatch(AssetError):
    """The metadata `kind` does not match the folder the file lives in."""


class DuplicateAssetId(AssetError):
    """Two asset files declare the same id."""


class AssetLoadError(AssetError):
    """Executing the asset file failed, or its `DEFINITION` has the wrong type."""


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
    """A provider/tool response that does not decode: the upstream misbehaved (a failure)."""

    http_status: ClassVar[int] = 502  # transitional, see FlowError
