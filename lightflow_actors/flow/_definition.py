"""The Python vocabulary asset files use to define models, nodes, compositions and workflows.

An asset file binds `DEFINITION` to one of these structs (`Workflow`, `Composition`,
`Node`, `Model`, `Preset`, `Policy`). They are plain frozen structs holding Python
types (input/output schemas are msgspec `Struct` classes), never serialised as such:
`resolve()` turns a `Workflow` into the JSON-able `ResolvedWorkflow`.

Templates are strings whose `{root.path}` brace expressions are typed field references:
`{inputs.topic}`, `{params.draft}` (inside nodes/compositions), `{steps.plan.output.text}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

from lightflow_actors.isa import JSONValue

ApiFormat = Literal[
    "openai.chat", "openai.responses", "anthropic.messages", "google.generate_content"
]
API_FORMATS: tuple[ApiFormat, ...] = (
    "openai.chat",
    "openai.responses",
    "anthropic.messages",
    "google.generate_content",
)


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-step retries: attempt n (n >= 1) failing waits
    `min(max_backoff_s, initial_backoff_s * multiplier**(n-1))`, scaled by a random factor
    in `[1 - jitter, 1 + jitter]`, before attempt n+1; at most `max_attempts` attempts."""

    max_attempts: int = 3
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2


class ApiText(msgspec.Struct, frozen=True):
    """Default output of an `api` step: the reply text."""

    text: str


class ThreadReply(msgspec.Struct, frozen=True):
    """Output of a `thread` step: the reply posted to the thread."""

    text: str


class ChatPrompt(msgspec.Struct, frozen=True):
    """A chat prompt template: optional system message and the user message."""

    user: str
    system: str | None = None


class ChatParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """Sampling parameters copied into the provider request (omitted when unset)."""

    temperature: float | None = None
    max_tokens: int | None = None


class ApiStep(msgspec.Struct, frozen=True):
    """Call a model through `/ctx` API exchange `format` (e.g. `openai.chat`).

    `output` is `ApiText` (the reply text) or a struct the reply text is decoded into
    as JSON (structured output)."""

    id: str
    format: ApiFormat
    model: str
    prompt: ChatPrompt
    params: ChatParams = ChatParams()
    output: type[msgspec.Struct] = ApiText
    depends_on: Sequence[str] = ()
    policy: str | None = None


class ToolStep(msgspec.Struct, frozen=True):
    """Invoke `/ctx/tool/<tool>`: `request` is a template typed by the `input` struct.

    The rendered `input` (a JSON object) is the tool request's body as is; the tool's answer
    is the step's output, checked against `output` (specs/cortexfs-abi.md §Tool bodies)."""

    id: str
    tool: str
    input: type[msgspec.Struct]
    output: type[msgspec.Struct]
    request: Mapping[str, JSONValue]
    depends_on: Sequence[str] = ()
    policy: str | None = None


class ThreadStep(msgspec.Struct, frozen=True):
    """Post `message` (a template) to thread `thread` and wait for the reply."""

    id: str
    thread: str
    message: str
    depends_on: Sequence[str] = ()
    policy: str | None = None


class Use(msgspec.Struct, frozen=True):
    """Instantiate a node or composition asset; `params` is typed by the asset's params.

    Other steps reference its output as `{steps.<id>.output...}` and may depend on `<id>`.
    A node becomes one step named `<id>`; a composition's steps become `<id>-<local id>`."""

    id: str
    asset: str
    params: Mapping[str, JSONValue] = {}
    depends_on: Sequence[str] = ()
    policy: str | None = None


LeafStep = ApiStep | ToolStep | ThreadStep
Step = ApiStep | ToolStep | ThreadStep | Use


class Workflow(msgspec.Struct, frozen=True):
    """A DAG of steps run with typed `inputs`; `policy` names the default policy asset."""

    inputs: type[msgspec.Struct]
    steps: Sequence[Step]
    policy: str | None = None


class Composition(msgspec.Struct, frozen=True):
    """A reusable group of steps with typed `params`; `output` names the step whose
    output is the composition's output."""

    params: type[msgspec.Struct]
    steps: Sequence[Step]
    output: str


class Node(msgspec.Struct, frozen=True):
    """A reusable single step with typed `params`; the step's own id is replaced by the
    id of the `Use` that instantiates it."""

    params: type[msgspec.Struct]
    step: LeafStep


class Model(msgspec.Struct, frozen=True):
    """A model a step may name: `name` is what the provider calls it."""

    provider: str
    name: str
    formats: Sequence[ApiFormat]
    context_window: int | None = None


class Preset(msgspec.Struct, frozen=True):
    """Named input values for a workflow; explicit run inputs override them. `model`, when
    set, is the run's model override (as `run create --model`; specs/flow.md §1.3)."""

    workflow: str
    inputs: Mapping[str, JSONValue]
    model: str | None = None


class Policy(msgspec.Struct, frozen=True):
    """Retry, caching and delivery for the steps that name this policy.

    `delivery`: `at_least_once` (default) lets a restart call the provider again for a
    request that was in flight when the server died (HTTP providers send the same
    `Idempotency-Key`, and the trace says the call may have been repeated);
    `at_most_once` never does: such a step fails `interrupted`, without an automatic
    retry, for a person to retry (`run retry`)."""

    retry: RetryPolicy = RetryPolicy()
    cache: bool = True
    delivery: Literal["at_least_once", "at_most_once"] = "at_least_once"


Definition = Workflow | Composition | Node | Model | Preset | Policy
