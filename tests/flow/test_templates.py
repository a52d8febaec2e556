"""Typed templates: references are type-checked where they are used, inputs are substituted
at resolve time, step outputs at render time, and values are never re-scanned."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.flow import AssetCatalog, ResolvedWorkflow, TemplateError, resolve
from lightflow_actors.flow._templates import Scope, compile_template, finalize, render
from lightflow_actors.flow._types import schema_of

HEADER = """
import msgspec
from typing import Literal
from lightflow_actors.flow import *

METADATA = {"id": "wf", "title": "T", "kind": "workflow", "description": "D",
            "stability": "draft"}

class Inputs(msgspec.Struct):
    topic: str = "tea"
    count: int = 3
    ratio: float = 0.5
    flag: bool = True
    tags: list[str] = []
    nested: dict[str, int] = {}

class ToolIn(msgspec.Struct):
    text: str
    limit: int = 10
    tags: list[str] = []
    mode: Literal["fast", "slow"] = "fast"

class ToolOut(msgspec.Struct):
    words: int
    items: list[str]
    label: str
"""


def workflow(tmp_path: Path, steps: str) -> AssetCatalog:
    root = tmp_path / "assets"
    (root / "workflows").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(
        'METADATA = {"id": "m", "title": "M", "kind": "model", "description": "D", '
        '"stability": "stable"}\nfrom lightflow_actors.flow import Model\n'
        "DEFINITION = Model(provider='p', name='model-name', formats=('openai.chat',))\n"
    )
    source = HEADER + "\nDEFINITION = Workflow(inputs=Inputs, steps=[\n"
    source += textwrap.indent(textwrap.dedent(steps), "    ") + "\n])\n"
    (root / "workflows" / "wf.py").write_text(source)
    return AssetCatalog.scan(root)


def tool(request: str, step_id: str = "t", deps: str = "()") -> str:
    return (
        f"ToolStep(id={step_id!r}, tool='x', input=ToolIn, output=ToolOut, "
        f"request={request}, depends_on={deps}),"
    )


def resolved(tmp_path: Path, steps: str, inputs: bytes = b"{}") -> ResolvedWorkflow:
    return resolve(workflow(tmp_path, steps), "wf", inputs)


def test_openai_chat_prompt_renders_inputs(tmp_path: Path) -> None:
    r = resolved(
        tmp_path,
        """ApiStep(id="p", format="openai.chat", model="m",
            prompt=ChatPrompt(system="Be {inputs.count}x brief", user="About {inputs.topic}!"),
            params=ChatParams(temperature=0.1)),""",
        b'{"topic": "owls", "count": 2}',
    )
    step = r.step("p")
    assert step.request == {
        "model": "model-name",
        "messages": [
            {"role": "system", "content": "Be 2x brief"},
            {"role": "user", "content": "About owls!"},
        ],
        "temperature": 0.1,
    }
    assert step.bindings == () and step.fingerprint is not None


def test_whole_value_reference_keeps_the_type(tmp_path: Path) -> None:
    r = resolved(
        tmp_path,
        tool('{"text": "{inputs.topic}", "limit": "{inputs.count}", "tags": "{inputs.tags}"}'),
        b'{"count": 7, "tags": ["a", "b"]}',
    )
    assert r.step("t").request == {"text": "tea", "limit": 7, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("request_template", "fragment"),
    [
        ('{"text": "x", "limit": "{inputs.topic}"}', "{inputs.topic} is str, but the field is int"),
        ('{"text": "{inputs.count}"}', "{inputs.count} is int, but the field is str"),
        ('{"text": "n={inputs.tags}"}', "{inputs.tags} is list[str]; only str, int, float or bool"),
        ('{"text": "{inputs.nope}"}', "has no field 'nope'"),
        ('{"text": "{input.topic}"}', "unknown root 'input'"),
        ('{"text": "{params.x}"}', "unknown root 'params'"),
        ('{"text": "x", "limit": "text {inputs.count}"}', "text was given, but the field is int"),
        ('{"text": "x", "mode": "medium"}', "'medium' is not one of Literal['fast', 'slow']"),
        ('{"text": "x", "extra": 1}', "unknown field 'extra'"),
        ('{"limit": 3}', "missing required field 'text'"),
        ('{"text": ["a"]}', "an array of 1 was given, but the field is str"),
        ('{"text": {"a": 1}}', "an object was given, but the field is str"),
        ('{"text": "x", "limit": 1.5}', "1.5 is a number, but the field is int"),
        ('{"text": "{inputs.nested.k.z}"}', "has no field 'z'"),
    ],
)
def test_wrong_types_are_clear_errors(tmp_path: Path, request_template: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as err:
        resolved(tmp_path, tool(request_template))
    assert fragment in str(err.value)
    assert "step 't' request" in str(err.value) and err.value.reason == "invalid"


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("{steps.a.output.nope}", "has no field 'nope' (in ToolOut)"),
        ("{steps.a.output.items}", "is list[str]; only str"),
        ("{steps.zz.output.label}", "unknown step 'zz'"),
        ("{steps.a.label}", "must read steps.<step id>.output"),
    ],
)
def test_step_references_are_typed(tmp_path: Path, reference: str, fragment: str) -> None:
    steps = tool('{"text": "x"}', "a") + "\n" + tool(f'{{"text": "- {reference}"}}', "b", "['a']")
    with pytest.raises(TemplateError, match="step 'b' request") as err:
        resolved(tmp_path, steps)
    assert fragment in str(err.value)


def test_step_outputs_are_bound_and_rendered(tmp_path: Path) -> None:
    steps = (
        tool('{"text": "x"}', "a")
        + "\n"
        + tool(
            '{"text": "{steps.a.output.label}: {steps.a.output.words} words", '
            '"limit": "{steps.a.output.words}", "tags": "{steps.a.output.items}"}',
            "b",
            "['a']",
        )
    )
    step = resolved(tmp_path, steps).step("b")
    assert step.fingerprint is None and len(step.bindings) == 3
    out = {"a": {"words": 4, "items": ["p", "q"], "label": "L"}}
    assert step.render(out) == {"text": "L: 4 words", "limit": 4, "tags": ["p", "q"]}
    with pytest.raises(TemplateError, match="is a string, but the field admits integer"):
        step.render({"a": {"words": "four", "items": [], "label": "L"}})
    with pytest.raises(TemplateError, match="has no output yet"):
        step.render({})
    with pytest.raises(TemplateError, match="no field 'label'"):
        step.render({"a": {"words": 1, "items": []}})


def test_inputs_are_never_rescanned_for_references(tmp_path: Path) -> None:
    steps = (
        tool('{"text": "x"}', "a")
        + "\n"
        + tool('{"text": "{inputs.topic} / {steps.a.output.label}"}', "b", "['a']")
    )
    hostile = b'{"topic": "{steps.a.output.label}{inputs.count}"}'
    step = resolve(workflow(tmp_path, steps), "wf", hostile).step("b")
    rendered = step.render({"a": {"words": 1, "items": [], "label": "SECRET"}})
    assert rendered == {"text": "{steps.a.output.label}{inputs.count} / SECRET"}


def test_braces_that_are_not_references_stay_literal(tmp_path: Path) -> None:
    r = resolved(tmp_path, tool('{"text": "json {\\"a\\": {1}} {x} {inputs.topic}"}'))
    assert r.step("t").request == {"text": 'json {"a": {1}} {x} tea'}


def test_resolved_workflow_round_trips_as_json(tmp_path: Path) -> None:
    steps = (
        tool('{"text": "x"}', "a") + "\n" + tool('{"text": "{steps.a.output.label}"}', "b", "['a']")
    )
    r = resolved(tmp_path, steps)
    again = msgspec.json.decode(msgspec.json.encode(r), type=ResolvedWorkflow)
    assert again == r
    assert again.step("b").render({"a": {"label": "z"}}) == {"text": "z"}


_STR = schema_of(str)
_text = st.text(alphabet=st.sampled_from('ab {}.x_-\\"inputsteparm0'), max_size=40)


@given(template=_text, topic=st.text(max_size=20))
def test_any_template_text_compiles_or_raises_template_error(template: str, topic: str) -> None:
    scope = Scope(inputs=(schema_of(dict[str, str]), {"topic": topic}))
    try:
        value = compile_template(template, _STR, scope, "t")
    except TemplateError:
        return
    request, bindings = finalize(value)
    assert bindings == ()  # no step is visible in this scope
    assert isinstance(request, str)
    if "{" not in template:
        assert request == template


@given(
    text=st.text(max_size=30),
    value=st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.floats(allow_nan=False)),
)
def test_rendering_formats_scalars_into_text(text: str, value: object) -> None:
    from lightflow_actors.flow._json import canonical_json
    from lightflow_actors.flow._templates import Binding, RefPart, TextPart

    binding = Binding("/t", (TextPart(text), RefPart("a", ("v",))), ("string",))
    out = render({"t": None}, [binding], {"a": {"v": value}})  # type: ignore[dict-item]
    shown = value if isinstance(value, str) else canonical_json(value).decode()
    assert out == {"t": text + shown}


@given(value=st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(st.text(), st.none())))
def test_rendering_refuses_non_scalars_in_text(value: object) -> None:
    from lightflow_actors.flow._templates import Binding, RefPart, TextPart

    binding = Binding("/t", (TextPart("x"), RefPart("a", ("v",))), ("string",))
    with pytest.raises(TemplateError, match="only scalars"):
        render({"t": None}, [binding], {"a": {"v": value}})  # type: ignore[dict-item]


def test_a_null_literal_is_kinded_null() -> None:
    """`Literal["a", None]` admits JSON null and a value of it does not fit a `str` field."""
    from typing import Literal

    from lightflow_actors.flow._types import fits, json_kinds

    optional = schema_of(Literal["a", None])
    assert json_kinds(optional) == {"string", "null"}
    assert not fits(optional, _STR)
    assert fits(schema_of(Literal["a", "b"]), _STR)
    assert compile_template(None, optional, Scope(), "t") is None


def test_a_key_a_mapping_allows_but_the_inputs_lack_is_a_template_error() -> None:
    """`dict[str, str]` inputs admit any key, but a `str` slot must not render null."""
    scope = Scope(inputs=(schema_of(dict[str, str]), {"topic": "tea"}))
    with pytest.raises(TemplateError, match=r"\{inputs.x\} is not in the inputs given"):
        compile_template("{inputs.x}", _STR, scope, "t")
    assert finalize(compile_template("{inputs.topic}", _STR, scope, "t")) == ("tea", ())


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
def test_render_fills_a_copy_and_never_the_request(request: object) -> None:
    """`render` copies the request's lists and objects (a step's request is rendered again
    at every attempt): equal to it, and changing the copy leaves the request as it was."""
    before = msgspec.json.encode(request)
    rendered = render(request, (), {})  # type: ignore[arg-type]
    assert rendered == request
    if isinstance(rendered, dict):
        rendered["added"] = 1
    elif isinstance(rendered, list):
        rendered.append(1)
    assert msgspec.json.encode(request) == before
