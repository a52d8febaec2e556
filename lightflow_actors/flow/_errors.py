"""Typed errors of the flow layer, each carrying the HTTP status the adapters answer with.

The CLI and the HTTP gateway map any `FlowError` to `{"error": str(exc)}` with
`exc.http_status`; usage-level mistakes are `Invalid` (400), unknown runs/assets/steps
are `NotFound` (404), and state clashes (existing run id, submit from a non-planned
step, cancelling a finished run) are `Conflict` (409).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class FlowError(Exception):
    """Base class of every flow error; `http_status` is what the HTTP adapter answers."""

    http_status: ClassVar[int] = 500


class Invalid(FlowError):
    """The caller sent something malformed (400)."""

    http_status: ClassVar[int] = 400


class NotFound(FlowError):
    """The named run, asset or step does not exist (404)."""

    http_status: ClassVar[int] = 404


class Conflict(FlowError):
    """The request clashes with the current state (409)."""

    http_status: ClassVar[int] = 409


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
    """A run's files on disk cannot be decoded (500): not produced by this store."""


class MalformedResponse(FlowError):
    """A provider/tool response that does not decode (502: the upstream misbehaved)."""

    http_status: ClassVar[int] = 502
