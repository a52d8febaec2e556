"""The resolved workflow: the JSON-able plan of a run, written as `resolved_workflow.json`.

Everything a run needs after a restart is here (requests with their step-output
bindings, dependencies in topological order, retry and cache policy), so a run resumes
from its folder alone even if the asset files changed since.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import msgspec

from lightflow_actors.isa import JSONValue

from ._definition import RetryPolicy
from ._errors import InvalidInputs, StepNotFound
from ._json import fingerprint
from ._templates import Binding, render

Target = Literal["api", "tool", "thread"]
STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
OutputMode = Literal["text", "json"]

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


def check_model_override(model: str, source: str = "model") -> str:
    """`model` if it may name a model (a model asset id or a provider's model name, such as
    `gpt-4.1`, `meta-llama/Llama-3.1-8B`, `llama3.1:8b`), else `InvalidInputs` naming
    `source`."""
    if not MODEL_NAME.fullmatch(model):
        raise InvalidInputs(
            f"{source} {model!r} is not a model name: use a model asset id or the provider's "
            "model name ([A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199})"
        )
    return model


class ResolvedModel(msgspec.Struct, frozen=True):
    """The model asset an `api` step uses."""

    id: str
    provider: str
    name: str


class ResolvedStep(msgspec.Struct, frozen=True):
    """One executable step. `address` is the API format, tool name or thread name.

    `request` is the body to commit, with null where `bindings` put step outputs.
    `fingerprint` is set when the request depends on no step output (known upfront)."""

    id: str
    target: Target
    address: str
    request: JSONValue
    bindings: tuple[Binding, ...] = ()
    depends_on: tuple[str, ...] = ()
    model: ResolvedModel | None = None
    output_mode: OutputMode = "json"
    output_schema: dict[str, JSONValue] = {}
    retry: RetryPolicy = RetryPolicy()
    cache: bool = True
    origin: str | None = None
    fingerprint: str | None = None
    at_most_once: bool = False  # its policy's delivery: never call the provider twice

    def render(self, outputs: Mapping[str, JSONValue]) -> JSONValue:
        """The request with step outputs filled in (raises TemplateError)."""
        return render(self.request, self.bindings, outputs) if self.bindings else self.request

    def fingerprint_of(self, rendered: JSONValue) -> str:
        """The input fingerprint of this step for a rendered request."""
        return fingerprint([self.target, self.address, rendered])


class ResolvedWorkflow(msgspec.Struct, frozen=True):
    """A workflow bound to its inputs; `steps` are in a topological order."""

    workflow: str
    title: str
    inputs: dict[str, JSONValue]
    input_schema: dict[str, JSONValue]
    steps: tuple[ResolvedStep, ...]
    preset: str | None = None
    version: int = 1
    model: str | None = None  # the run's model override, if any (every api step uses it)

    def step(self, step_id: str) -> ResolvedStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        known = ", ".join(s.id for s in self.steps)
        raise StepNotFound(f"workflow {self.workflow!r} has no step {step_id!r}; steps: {known}")
