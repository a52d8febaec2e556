"""What a run receives: the params of its `Mount` and the payloads of its `Submit`s.

A run is mounted to start (`StartRun`: the workflow's inputs) or to resume
(`ResumeRun`: the manifest, the outputs already written, the next trace `seq`). Both
carry the `seed` of the run's retry jitter, so the program draws no randomness of its
own and a trace replays exactly.

Every input that arrives later is a `Submit` (DESIGN §4: "input arrives") whose
`payload` is one `RunInput`, tagged by `kind`, and whose `event` is the step it is
about, or the run id for an input about the whole run (`wake`, `cache`):

| kind | arrives when | event |
|---|---|---|
| `request` | `run submit <run> <step> [body]`: submit this step now, backoff or not | step |
| `retry` | `run retry <run>`: a failed run goes on from its failure frontier | run |
| `wake` | a backoff ended, a refresh was asked for, the run was just mounted | run |
| `committed` | the request file of a step is in its inbox | step |
| `commit_failed` | CortexFS refused the commit (`cause` says why) | step |
| `cache` | the output cache answered a `LookUpCache` | run |
| `answer` | a step's response file appeared (`body` is its text) | step |
| `error` | a step's `.error` file appeared | step |
| `timeout` | no answer came within the step timeout | step |

Hosts build payloads with `to_json_value(...)`; the program decodes them once with
`from_json_value(payload, RunInput)`.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.cortex import CommitFailure
from lightflow_actors.isa import JSONValue, Mount

from ._manifest import RunManifest
from ._store import CachedOutput

__all__ = [
    "Answer",
    "AnswerError",
    "AnswerTimeout",
    "CacheAnswer",
    "CacheEntry",
    "CommitRefused",
    "Committed",
    "ResumeRun",
    "Retry",
    "RunInput",
    "RunMountParams",
    "StartRun",
    "StepRequest",
    "Wake",
    "json_form",
    "run_mount",
]

_encoder = msgspec.json.Encoder()


class _MountParams(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="mode", forbid_unknown_fields=True
):
    """Shared options: frozen, keyword-only, tagged by `mode`, strict fields."""


class StartRun(_MountParams, frozen=True, tag="start"):
    """Start a new run with `inputs` (those the workflow was resolved with)."""

    inputs: dict[str, JSONValue]
    seed: int = 0


class ResumeRun(_MountParams, frozen=True, tag="resume"):
    """Resume from `manifest`; `outputs` holds the output of every succeeded step and
    `trace_seq` the `seq` of the next `trace.jsonl` record."""

    manifest: RunManifest
    outputs: dict[str, JSONValue] = {}
    trace_seq: int = 1
    seed: int = 0


RunMountParams = StartRun | ResumeRun


def run_mount(run_id: str, workflow: str, params: RunMountParams) -> Mount:
    """The Mount of run `run_id` of `workflow` with `params` (in their JSON form)."""
    value = json_form(params)
    assert isinstance(value, dict)  # a struct's JSON form is an object
    return Mount(id=run_id, target=workflow, params=value)


def json_form(value: object) -> JSONValue:
    """`value` (a run struct: a manifest, an event, an input) as the JSON value an
    instruction or effect carries. Through the JSON codec, not `isa.to_json_value`: run
    structs hold tuples, which `msgspec.to_builtins` keeps as tuples."""
    form: JSONValue = msgspec.json.decode(_encoder.encode(value))
    return form


class _Input(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", forbid_unknown_fields=True
):
    """Shared options: frozen, keyword-only, tagged by `kind`, strict fields."""


class StepRequest(_Input, frozen=True, tag="request"):
    """Submit the step named by the `Submit`'s event now (it must be ready and planned).
    `body`, when given (a JSON object), is committed as the step's request instead of the
    one its templates render (`run submit <run> <step> '{...}'`)."""

    body: dict[str, JSONValue] | None = None


class Retry(_Input, frozen=True, tag="retry"):
    """Retry the failed run from its failure frontier: failed steps run again, succeeded
    ones keep their outputs. `seq` is the run's `sequence` the retry was asked for at: a
    run that moved since (retried by another process meanwhile) refuses it."""

    seq: int


class Wake(_Input, frozen=True, tag="wake"):
    """Look at the run again: start whatever is ready now, arm the next wake."""


class Committed(_Input, frozen=True, tag="committed"):
    """Request `request_id` was renamed into its inbox as `path`."""

    request_id: str
    path: str


class CommitRefused(_Input, frozen=True, tag="commit_failed"):
    """CortexFS refused to commit `request_id`; `reason` is for people."""

    request_id: str
    cause: CommitFailure
    reason: str


class CacheEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One looked-up fingerprint: the earlier output and its value, or a miss."""

    fingerprint: str
    cached: CachedOutput | None = None
    value: JSONValue = None


class CacheAnswer(_Input, frozen=True, tag="cache"):
    """The answer to a `LookUpCache`: one entry per fingerprint asked for."""

    entries: tuple[CacheEntry, ...]


class Answer(_Input, frozen=True, tag="answer"):
    """The response file `path` of request `request_id`: `body` is its text (None when
    the bytes are not UTF-8, which no JSON answer can be); `route` is its route record."""

    request_id: str
    path: str
    body: str | None
    route: dict[str, JSONValue] | None = None


class AnswerError(_Input, frozen=True, tag="error"):
    """The error file `path` of request `request_id`: `error` is `<kind>: <message>`."""

    request_id: str
    path: str
    error: str


class AnswerTimeout(_Input, frozen=True, tag="timeout"):
    """No answer to `request_id` within `timeout_s`; `path` is where it was awaited."""

    request_id: str
    path: str
    timeout_s: float


RunInput = (
    StepRequest
    | Retry
    | Wake
    | Committed
    | CommitRefused
    | CacheAnswer
    | Answer
    | AnswerError
    | AnswerTimeout
)
