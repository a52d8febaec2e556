"""`resolve()`: bind a workflow asset to run inputs, expand nodes and compositions, type-check
every template, and order the steps as a DAG.

Nodes and compositions are inlined: a node used as `review` becomes step `review`; a
composition used as `review` contributes `review-<local id>` steps, each also depending
on whatever the `Use` depends on. References across the expansion are checked once on
the final graph: a step may only reference outputs of steps it (transitively) depends on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar, cast

import msgspec
import msgspec.inspect as mi

from lightflow_actors.isa import JSONValue

from ._assets import AssetCatalog
from ._definition import (
    ApiStep,
    ApiText,
    Composition,
    LeafStep,
    Model,
    Node,
    Policy,
    Preset,
    Step,
    ThreadReply,
    ThreadStep,
    ToolStep,
    Use,
    Workflow,
)
from ._errors import InvalidInputs, MissingModel, WorkflowError
from ._formats import build_request
from ._resolved import (
    STEP_ID,
    OutputMode,
    ResolvedModel,
    ResolvedStep,
    ResolvedWorkflow,
    Target,
    check_model_override,
)
from ._templates import Bound, RefPart, Scope, StepRef, bound_refs, compile_template, finalize
from ._types import json_schema, schema_of

D = TypeVar("D", Composition, Model, Node, Policy)

MAX_INPUT_BYTES = 1 << 20
_MAX_NESTING = 16
_STR = mi.StrType()


def decode_inputs(raw: bytes | Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """Decode run inputs given as JSON bytes (or an already decoded mapping)."""
    if isinstance(raw, bytes | bytearray | memoryview):
        if len(raw) > MAX_INPUT_BYTES:
            raise InvalidInputs(f"inputs are larger than {MAX_INPUT_BYTES} bytes")
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise InvalidInputs(f"inputs are not valid JSON: {exc}") from None
        except UnicodeDecodeError as exc:
            # msgspec raises this, not a DecodeError, for a string that is not UTF-8; left
            # uncaught it crashed the runs actor that resolves the run.
            raise InvalidInputs(f"inputs are not valid UTF-8: {exc}") from None
        except RecursionError:
            raise InvalidInputs("inputs nest too deeply; flatten them") from None
    else:
        value = raw
    if not isinstance(value, dict):
        raise InvalidInputs('inputs must be a JSON object, e.g. {"topic": "tea"}')
    return cast("dict[str, JSONValue]", dict(value))


def resolve(
    catalog: AssetCatalog,
    workflow_id: str,
    inputs: bytes | Mapping[str, JSONValue] = b"{}",
    preset: str | None = None,
    model: str | None = None,
) -> ResolvedWorkflow:
    """The resolved workflow for `workflow_id` run with `inputs` (over `preset`'s inputs);
    `model` (else the preset's `model`) overrides every api step's model: a model asset id
    takes that asset, any other name is sent to each step's provider instead of its own."""
    info = catalog.info(workflow_id, "workflow")
    workflow = catalog.load(workflow_id, Workflow)
    given = decode_inputs(inputs)
    if model is not None:
        check_model_override(model)
    if preset is not None:
        chosen = catalog.load(preset, Preset)
        if chosen.workflow != workflow_id:
            raise InvalidInputs(
                f"preset {preset!r} is for workflow {chosen.workflow!r}, not {workflow_id!r}"
            )
        given = {**dict(chosen.inputs), **given}
        if model is None and chosen.model is not None:
            model = check_model_override(chosen.model, f"preset {preset!r} model")
    try:
        typed = msgspec.convert(given, workflow.inputs)
    except msgspec.ValidationError as exc:
        raise InvalidInputs(f"inputs do not match workflow {workflow_id!r}: {exc}") from None
    values = cast("dict[str, JSONValue]", msgspec.to_builtins(typed))
    expander = _Expander(catalog, workflow.policy, model)
    scope = Scope(inputs=(schema_of(workflow.inputs), values))
    expander.level(workflow.steps, scope, prefix="", extra_deps=(), policy=None, stack=())
    steps = _order(expander.steps)
    return ResolvedWorkflow(
        workflow=workflow_id,
        title=info.title,
        inputs=values,
        input_schema=cast("dict[str, JSONValue]", json_schema(workflow.inputs)),
        steps=steps,
        preset=preset,
        model=model,
    )


class _Declared(msgspec.Struct, frozen=True):
    """A step of one level as seen by its siblings: all ids it expands to, its output."""

    members: tuple[str, ...]
    output: StepRef


class _Expander:
    def __init__(
        self, catalog: AssetCatalog, default_policy: str | None, model: str | None = None
    ) -> None:
        self.catalog = catalog
        self.default_policy = default_policy
        self.model = model  # the run's override: a model asset id or a provider's name
        self.steps: list[ResolvedStep] = []
        # Definitions loaded by this resolution, by id: a file is read (and hashed, and
        # announced by the evaluator) once per resolution, not once per step using it,
        # and every step sees the same version of it.
        self._loaded: dict[tuple[str, type], object] = {}

    def load(self, asset_id: str, kind: type[D]) -> D:
        key = (asset_id, kind)
        definition = self._loaded.get(key)
        if definition is None:
            definition = self._loaded[key] = self.catalog.load(asset_id, kind)
        return cast("D", definition)

    def level(
        self,
        steps: Sequence[Step],
        scope: Scope,
        prefix: str,
        extra_deps: tuple[str, ...],
        policy: str | None,
        stack: tuple[str, ...],
    ) -> dict[str, _Declared]:
        if not steps:
            raise WorkflowError(f"{_owner(stack)} has no steps")
        declared: dict[str, _Declared] = {}
        for step in steps:
            if not STEP_ID.fullmatch(step.id):
                raise WorkflowError(
                    f"{_owner(stack)}: step id {step.id!r} must match "
                    "[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
                )
            if step.id in declared:
                raise WorkflowError(f"{_owner(stack)}: step id {step.id!r} is used twice")
            declared[step.id] = self._declare(step, prefix + step.id, stack)
        scope = Scope(
            inputs=scope.inputs,
            params=scope.params,
            steps={k: d.output for k, d in declared.items()},
        )
        for step in steps:
            deps: list[str] = list(extra_deps)
            for dep in step.depends_on:
                if dep not in declared:
                    raise WorkflowError(
                        f"{_owner(stack)}: step {step.id!r} depends on unknown step {dep!r}; "
                        f"steps: {', '.join(declared)}"
                    )
                if dep == step.id:
                    raise WorkflowError(f"step {prefix + step.id!r} depends on itself")
                deps.extend(declared[dep].members)
            step_policy = step.policy or policy
            expanded = prefix + step.id
            if isinstance(step, Use):
                self._use(step, expanded, scope, tuple(dict.fromkeys(deps)), step_policy, stack)
            else:
                origin = stack[-1] if stack else None
                self._leaf(step, expanded, scope, tuple(dict.fromkeys(deps)), step_policy, origin)
        return declared

    def _declare(self, step: Step, expanded: str, stack: tuple[str, ...]) -> _Declared:
        if not isinstance(step, Use):
            return _Declared((expanded,), StepRef(expanded, _output_schema(step)))
        if step.asset in stack or len(stack) >= _MAX_NESTING:
            chain = " -> ".join((*stack, step.asset))
            raise WorkflowError(f"asset {step.asset!r} includes itself: {chain}")
        info = self.catalog.info(step.asset)
        if info.kind == "node":
            node = self.load(step.asset, Node)
            return _Declared((expanded,), StepRef(expanded, _output_schema(node.step)))
        if info.kind != "composition":
            raise WorkflowError(
                f"step {expanded!r} uses {info.kind} asset {step.asset!r}; "
                "Use takes a node or a composition"
            )
        comp = self.load(step.asset, Composition)
        inner = {s.id: s for s in comp.steps}
        if comp.output not in inner:
            raise WorkflowError(
                f"composition {step.asset!r} output {comp.output!r} is not one of its steps"
            )
        members: list[str] = []
        output: StepRef | None = None
        for s in comp.steps:
            d = self._declare(s, f"{expanded}-{s.id}", (*stack, step.asset))
            members.extend(d.members)
            if s.id == comp.output:
                output = d.output
        assert output is not None
        return _Declared(tuple(members), output)

    def _use(
        self,
        use: Use,
        expanded: str,
        scope: Scope,
        deps: tuple[str, ...],
        policy: str | None,
        stack: tuple[str, ...],
    ) -> None:
        info = self.catalog.info(use.asset)
        definition: Node | Composition = (
            self.load(use.asset, Node) if info.kind == "node" else self.load(use.asset, Composition)
        )
        schema = schema_of(definition.params)
        params = compile_template(dict(use.params), schema, scope, f"step {expanded!r} params")
        assert isinstance(params, dict)
        bound: dict[str, Bound] = {k: v for k, v in params.items()}
        inner = Scope(params=(schema, bound))
        if isinstance(definition, Node):
            self._leaf(definition.step, expanded, inner, deps, policy, use.asset)
        else:
            self.level(definition.steps, inner, f"{expanded}-", deps, policy, (*stack, use.asset))

    def _leaf(
        self,
        step: LeafStep,
        expanded: str,
        scope: Scope,
        deps: tuple[str, ...],
        policy_id: str | None,
        origin: str | None,
    ) -> None:
        where = f"step {expanded!r}"
        model: ResolvedModel | None = None
        output_mode: OutputMode = "json"
        target: Target
        address: str
        body: Bound
        if isinstance(step, ApiStep):
            model = self._model(step, expanded)
            system = (
                None
                if step.prompt.system is None
                else compile_template(step.prompt.system, _STR, scope, f"{where} prompt.system")
            )
            user = compile_template(step.prompt.user, _STR, scope, f"{where} prompt.user")
            body = build_request(step.format, model.name, system, user, step.params)
            target, address = "api", step.format
            output_mode = "text" if step.output is ApiText else "json"
        elif isinstance(step, ToolStep):
            body = compile_template(
                dict(step.request), schema_of(step.input), scope, f"{where} request"
            )
            target, address = "tool", step.tool
            if not bound_refs(body):
                _check_literal(body, step.input, where)
        else:
            message = compile_template(step.message, _STR, scope, f"{where} message")
            body = {"text": message}
            target, address, output_mode = "thread", step.thread, "text"
        policy = self._policy(policy_id or self.default_policy, where)
        request, bindings = finalize(body)
        resolved = ResolvedStep(
            id=expanded,
            target=target,
            address=address,
            request=request,
            bindings=bindings,
            depends_on=deps,
            model=model,
            output_mode=output_mode,
            output_schema=cast("dict[str, JSONValue]", json_schema(_output_type(step))),
            retry=policy.retry,
            cache=policy.cache,
            origin=origin,
            at_most_once=policy.delivery == "at_most_once",
        )
        if not bindings:
            resolved = msgspec.structs.replace(
                resolved, fingerprint=resolved.fingerprint_of(request)
            )
        self.steps.append(resolved)

    def _model(self, step: ApiStep, where: str) -> ResolvedModel:
        override = self.model
        if override is not None and self.catalog.has(override, "model"):
            chosen = self.load(override, Model)
            if step.format not in chosen.formats:
                raise MissingModel(
                    f"step {where!r} calls format {step.format!r}, but the run's model "
                    f"{override!r} serves only {', '.join(chosen.formats)}; choose a model "
                    "that serves it, or a provider's model name"
                )
            return ResolvedModel(id=override, provider=chosen.provider, name=chosen.name)
        if not self.catalog.has(step.model, "model"):
            known = ", ".join(m.id for m in self.catalog.list("model")) or "none"
            raise MissingModel(
                f"step {where!r} requires model {step.model!r}, which no model asset provides; "
                f"add assets/models/<file>.py for it (known models: {known})"
            )
        model = self.load(step.model, Model)
        if step.format not in model.formats:
            raise MissingModel(
                f"step {where!r} calls model {step.model!r} with format {step.format!r}, "
                f"but the model serves only {', '.join(model.formats)}"
            )
        name = model.name if override is None else override
        return ResolvedModel(id=step.model, provider=model.provider, name=name)

    def _policy(self, policy_id: str | None, where: str) -> Policy:
        if policy_id is None:
            return Policy()
        policy = self.load(policy_id, Policy)
        r = policy.retry
        if not (
            r.max_attempts >= 1
            and 0 <= r.initial_backoff_s <= r.max_backoff_s
            and r.multiplier >= 1
            and 0 <= r.jitter <= 1
        ):
            raise WorkflowError(
                f"{where}: policy {policy_id!r} retry is invalid (need max_attempts >= 1, "
                "0 <= initial_backoff_s <= max_backoff_s, multiplier >= 1, 0 <= jitter <= 1)"
            )
        return policy


def _output_type(step: LeafStep) -> type[msgspec.Struct]:
    if isinstance(step, ThreadStep):
        return ThreadReply
    return step.output


def _output_schema(step: LeafStep) -> mi.Type:
    return schema_of(_output_type(step))


def _check_literal(body: Bound, schema: type[msgspec.Struct], where: str) -> None:
    try:
        msgspec.convert(body, schema)
    except msgspec.ValidationError as exc:
        raise WorkflowError(f"{where} request does not match {schema.__name__}: {exc}") from None


def _owner(stack: tuple[str, ...]) -> str:
    return f"composition {stack[-1]!r}" if stack else "workflow"


def _order(steps: list[ResolvedStep]) -> tuple[ResolvedStep, ...]:
    """Dependencies first, otherwise definition order; rejects cycles, and references to
    the output of a step that is not an ancestor."""
    by_id: dict[str, ResolvedStep] = {}
    for step in steps:
        if step.id in by_id:
            raise WorkflowError(
                f"two steps expand to id {step.id!r} (a composition step prefixed with its "
                "Use id clashes with another step); rename one"
            )
        by_id[step.id] = step
    ordered: list[ResolvedStep] = []
    state: dict[str, int] = {}  # 1 = on the DFS path, 2 = done

    def visit(step_id: str, path: list[str]) -> None:
        mark = state.get(step_id)
        if mark == 2:
            return
        if mark == 1:
            cycle = [*path[path.index(step_id) :], step_id]
            raise WorkflowError(f"steps form a cycle: {' -> '.join(cycle)}")
        state[step_id] = 1
        for dep in by_id[step_id].depends_on:
            visit(dep, [*path, step_id])
        state[step_id] = 2
        ordered.append(by_id[step_id])

    for step in steps:
        visit(step.id, [])
    ancestors: dict[str, set[str]] = {}
    for step in ordered:
        mine: set[str] = set()
        for dep in step.depends_on:
            mine.add(dep)
            mine |= ancestors[dep]
        ancestors[step.id] = mine
        for binding in step.bindings:
            for part in binding.parts:
                if isinstance(part, RefPart) and part.step not in mine:
                    raise WorkflowError(
                        f"step {step.id!r} references the output of {part.step!r} but does not "
                        f"depend on it; add it to depends_on"
                    )
    return tuple(ordered)
