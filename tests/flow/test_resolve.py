"""resolve(): real example workflows, DAG checks (cycles, unknown deps, missing models),
composition/node expansion, presets, and hostile or malformed inputs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    MODEL_NAME,
    AssetCatalog,
    InvalidInputs,
    MissingModel,
    ResolvedWorkflow,
    TemplateError,
    UnknownAsset,
    WorkflowError,
    check_model_override,
    resolve,
)

MODEL = """
from lightflow_actors.flow import Model
METADATA = {"id": "m", "title": "M", "kind": "model", "description": "D", "stability": "stable"}
DEFINITION = Model(provider="p", name="m", formats=("openai.chat",))
"""


def catalog_with(tmp_path: Path, steps: str, extra: dict[str, str] | None = None) -> AssetCatalog:
    root = tmp_path / "assets"
    for folder in ("models", "workflows", "compositions", "nodes", "policies"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "models" / "m.py").write_text(MODEL)
    (root / "workflows" / "wf.py").write_text(
        "import msgspec\nfrom lightflow_actors.flow import *\n"
        'METADATA = {"id": "wf", "title": "T", "kind": "workflow", "description": "D", '
        '"stability": "draft"}\n'
        "class Inputs(msgspec.Struct):\n    topic: str = 'x'\n"
        "DEFINITION = Workflow(inputs=Inputs, steps=[\n"
        + textwrap.indent(textwrap.dedent(steps), "    ")
        + "\n])\n"
    )
    for rel, source in (extra or {}).items():
        (root / rel).write_text(textwrap.dedent(source))
    return AssetCatalog.scan(root)


def api(step_id: str, deps: str = "()", model: str = "m", user: str = "hi") -> str:
    return (
        f"ApiStep(id={step_id!r}, format='openai.chat', model={model!r}, "
        f"prompt=ChatPrompt(user={user!r}), depends_on={deps}),\n"
    )


def test_example_workflows_resolve(catalog: AssetCatalog) -> None:
    plan = resolve(catalog, "text-plan", b'{"topic": "tea"}')
    assert [s.id for s in plan.steps] == ["plan"] and plan.steps[0].address == "openai.chat"
    assert resolve(catalog, "word-count", b'{"text": "a b"}').steps[0].target == "tool"
    assert resolve(catalog, "thread-ask", b'{"question": "q"}').steps[0].target == "thread"
    article = resolve(catalog, "article", b'{"topic": "owls"}')
    ids = [s.id for s in article.steps]
    assert ids == ["plan", "write-draft", "write-review", "plan-size", "summary", "notify"]
    by_id = {s.id: s for s in article.steps}
    assert by_id["write-review"].depends_on == ("plan", "write-draft")
    assert by_id["write-review"].origin == "draft-review" and by_id["plan-size"].origin
    assert by_id["summary"].depends_on == ("write-draft", "write-review", "plan-size")
    assert by_id["plan"].retry.max_attempts == 5  # workflow default policy "patient"
    assert by_id["notify"].cache is False  # its own policy "fresh"
    assert by_id["write-review"].model is not None
    assert by_id["write-review"].model.provider == "anthropic"


def test_order_is_topological_and_definition_order_otherwise(tmp_path: Path) -> None:
    steps = api("c", "['b']") + api("a") + api("b", "['a']") + api("d")
    r = resolve(catalog_with(tmp_path, steps), "wf")
    assert [s.id for s in r.steps] == ["a", "b", "c", "d"]


def test_cycles_are_rejected(tmp_path: Path) -> None:
    steps = api("a", "['c']") + api("b", "['a']") + api("c", "['b']")
    with pytest.raises(WorkflowError, match=r"cycle: a -> c -> b -> a"):
        resolve(catalog_with(tmp_path, steps), "wf")
    with pytest.raises(WorkflowError, match="depends on itself"):
        resolve(catalog_with(tmp_path, api("a", "['a']")), "wf")


def test_unknown_dependency_and_duplicate_steps(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="depends on unknown step 'zz'"):
        resolve(catalog_with(tmp_path, api("a", "['zz']")), "wf")
    with pytest.raises(WorkflowError, match="'a' is used twice"):
        resolve(catalog_with(tmp_path, api("a") + api("a")), "wf")
    with pytest.raises(WorkflowError, match="must match"):
        resolve(catalog_with(tmp_path, api("a.b")), "wf")


def test_reference_without_dependency_is_rejected(tmp_path: Path) -> None:
    steps = api("a") + api("b", user="{steps.a.output.text}")
    with pytest.raises(WorkflowError, match="references the output of 'a' but does not depend"):
        resolve(catalog_with(tmp_path, steps), "wf")
    steps = api("a") + api("b", "['a']") + api("c", "['b']", user="{steps.a.output.text}")
    assert resolve(catalog_with(tmp_path, steps), "wf").step("c").bindings  # transitive is fine


def test_required_models_must_exist_and_serve_the_format(tmp_path: Path) -> None:
    with pytest.raises(MissingModel, match=r"requires model 'gpt-9'.*known models: m"):
        resolve(catalog_with(tmp_path, api("a", model="gpt-9")), "wf")
    steps = "ApiStep(id='a', format='anthropic.messages', model='m', prompt=ChatPrompt(user='x')),"
    with pytest.raises(MissingModel, match=r"serves only openai\.chat"):
        resolve(catalog_with(tmp_path, steps), "wf")


COMPOSITION = """
import msgspec
from lightflow_actors.flow import *
METADATA = {"id": "pair", "title": "P", "kind": "composition", "description": "D",
            "stability": "draft"}
class Params(msgspec.Struct):
    text: str
DEFINITION = Composition(params=Params, output="second", steps=[
    ApiStep(id="first", format="openai.chat", model="m", prompt=ChatPrompt(user="{params.text}")),
    ApiStep(id="second", format="openai.chat", model="m", depends_on=["first"],
            prompt=ChatPrompt(user="{steps.first.output.text} + {params.text}")),
])
"""


def test_composition_expands_with_prefixed_ids_and_outer_dependencies(tmp_path: Path) -> None:
    steps = (
        api("a")
        + "Use(id='u', asset='pair', params={'text': '{steps.a.output.text}!'}, "
        + "depends_on=['a']),\n"
        + api("z", "['u']", user="{steps.u.output.text}")
    )
    catalog = catalog_with(tmp_path, steps, {"compositions/pair.py": COMPOSITION})
    r = resolve(catalog, "wf")
    assert [s.id for s in r.steps] == ["a", "u-first", "u-second", "z"]
    assert r.step("u-first").depends_on == ("a",)
    assert r.step("u-second").depends_on == ("a", "u-first")
    assert r.step("z").depends_on == ("u-first", "u-second")
    assert r.step("u-second").render({"a": {"text": "A"}, "u-first": {"text": "F"}}) == {
        "model": "m",
        "messages": [{"role": "user", "content": "F + A!"}],
    }
    assert r.step("z").bindings[0].parts[0].step == "u-second"  # type: ignore[union-attr]


def test_composition_id_clash_and_self_inclusion(tmp_path: Path) -> None:
    steps = "Use(id='u', asset='pair', params={'text': 'x'}),\n" + api("u-first")
    catalog = catalog_with(tmp_path, steps, {"compositions/pair.py": COMPOSITION})
    with pytest.raises(WorkflowError, match="expand to id 'u-first'"):
        resolve(catalog, "wf")
    loop = COMPOSITION.replace('"pair"', '"loop"').replace(
        'ApiStep(id="first"', 'Use(id="first", asset="loop", params={"text": "x"}), ApiStep(id="x"'
    )
    catalog = catalog_with(
        tmp_path, "Use(id='u', asset='loop', params={'text': 'x'}),", {"compositions/pair.py": loop}
    )
    with pytest.raises(WorkflowError, match="includes itself: loop -> loop"):
        resolve(catalog, "wf")


def test_use_params_are_typed_and_must_name_a_node_or_composition(tmp_path: Path) -> None:
    catalog = catalog_with(
        tmp_path,
        "Use(id='u', asset='pair', params={'text': 5}),",
        {"compositions/pair.py": COMPOSITION},
    )
    with pytest.raises(
        TemplateError, match=r"step 'u' params\.text: 5 is an integer, but the field is str"
    ):
        resolve(catalog, "wf")
    catalog = catalog_with(tmp_path, "Use(id='u', asset='m'),")
    with pytest.raises(WorkflowError, match="Use takes a node or a composition"):
        resolve(catalog, "wf")
    catalog = catalog_with(tmp_path, "Use(id='u', asset='nothing'),")
    with pytest.raises(UnknownAsset):
        resolve(catalog, "wf")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"topic"', "must be a JSON object"),
        (b'{"topic": 3}', "Expected `str`, got `int` - at `$.topic`"),
        (b'{"topic": "x", "bogus": 1}', "Object contains unknown field `bogus`"),
        (b"{}", "missing required field `topic`"),
        (b'{"topic": "x"}' + b" " * (1 << 20), "larger than"),
    ],
)
def test_malformed_inputs(catalog: AssetCatalog, raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInputs) as err:
        resolve(catalog, "text-plan", raw)
    assert fragment in str(err.value) and err.value.reason == "invalid"


def test_presets_fill_inputs_that_explicit_inputs_override(catalog: AssetCatalog) -> None:
    r = resolve(catalog, "text-plan", b'{"steps": 2}', preset="text-plan.tea")
    assert r.inputs == {"topic": "brewing green tea", "steps": 2, "tone": "friendly"}
    assert r.preset == "text-plan.tea"
    with pytest.raises(InvalidInputs, match="is for workflow 'text-plan'"):
        resolve(catalog, "article", b"{}", preset="text-plan.tea")
    with pytest.raises(UnknownAsset, match="no workflow asset 'gpt-4o-mini'"):
        resolve(catalog, "gpt-4o-mini")


def test_invalid_policy_is_rejected(tmp_path: Path) -> None:
    policy = """
    from lightflow_actors.flow import Policy, RetryPolicy
    METADATA = {"id": "bad", "title": "B", "kind": "policy", "description": "D",
                "stability": "draft"}
    DEFINITION = Policy(retry=RetryPolicy(max_attempts=0))
    """
    steps = (
        "ApiStep(id='a', format='openai.chat', model='m', prompt=ChatPrompt(user='x'), "
        "policy='bad'),"
    )
    catalog = catalog_with(tmp_path, steps, {"policies/bad.py": policy})
    with pytest.raises(WorkflowError, match="policy 'bad' retry is invalid"):
        resolve(catalog, "wf")


@settings(max_examples=200)
@given(raw=st.binary(max_size=200) | st.text(max_size=100).map(str.encode))
def test_any_input_bytes_resolve_or_raise_invalid_inputs(catalog: AssetCatalog, raw: bytes) -> None:
    try:
        r = resolve(catalog, "text-plan", raw)
    except InvalidInputs:
        return
    assert isinstance(r, ResolvedWorkflow)
    assert msgspec.json.decode(msgspec.json.encode(r), type=ResolvedWorkflow) == r


@settings(max_examples=100)
@given(topic=st.text(max_size=200), steps=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_valid_inputs_resolve_deterministically(
    catalog: AssetCatalog, topic: str, steps: int
) -> None:
    raw = msgspec.json.encode({"topic": topic, "steps": steps})
    first, second = resolve(catalog, "text-plan", raw), resolve(catalog, "text-plan", raw)
    assert first == second and first.steps[0].fingerprint == second.steps[0].fingerprint
    content = first.steps[0].request["messages"][1]["content"]  # type: ignore[index,call-overload]
    assert content == f"Write a plan in {steps} steps for: {topic}"


# -- the run's model override (`run create --model`, `POST /runs` `model`, a preset) ------

OVERRIDE_STEPS = """
ApiStep(id="a", format="openai.chat", model="m", prompt=ChatPrompt(user="{inputs.topic}")),
ToolStep(id="t", tool="wordcount", input=msgspec.Struct, output=msgspec.Struct, request={}),
"""
OTHER_MODEL = """
from lightflow_actors.flow import Model
METADATA = {"id": "big", "title": "B", "kind": "model", "description": "D", "stability": "stable"}
DEFINITION = Model(provider="q", name="big-2", formats=("openai.chat",))
"""
MESSAGES_MODEL = """
from lightflow_actors.flow import Model
METADATA = {"id": "msg", "title": "M", "kind": "model", "description": "D", "stability": "stable"}
DEFINITION = Model(provider="a", name="msg-1", formats=("anthropic.messages",))
"""


def _override_catalog(tmp_path: Path) -> AssetCatalog:
    preset = (
        "from lightflow_actors.flow import Preset\n"
        'METADATA = {"id": "wf.big", "title": "P", "kind": "preset", "description": "D", '
        '"stability": "stable"}\n'
        'DEFINITION = Preset(workflow="wf", inputs={"topic": "tea"}, model="big")\n'
    )
    (tmp_path / "assets" / "presets").mkdir(parents=True)
    return catalog_with(
        tmp_path,
        OVERRIDE_STEPS,
        {
            "models/big.py": OTHER_MODEL,
            "models/msg.py": MESSAGES_MODEL,
            "presets/wf_big.py": preset,
        },
    )


def test_a_provider_model_name_replaces_each_api_steps_model(tmp_path: Path) -> None:
    catalog = _override_catalog(tmp_path)
    plain = resolve(catalog, "wf")
    run = resolve(catalog, "wf", model="meta-llama/Llama-3.1-8B:q4")
    api = run.step("a")
    assert run.model == "meta-llama/Llama-3.1-8B:q4" and plain.model is None
    assert api.model is not None and (api.model.id, api.model.provider) == ("m", "p")
    assert api.model.name == "meta-llama/Llama-3.1-8B:q4"
    assert isinstance(api.request, dict) and api.request["model"] == api.model.name
    assert run.step("t") == plain.step("t")  # tools and threads have no model
    # Another model is another input: the output cache never hands one model's answer
    # to a run of another.
    assert api.fingerprint != plain.step("a").fingerprint


def test_a_model_asset_id_takes_that_asset(tmp_path: Path) -> None:
    catalog = _override_catalog(tmp_path)
    api = resolve(catalog, "wf", model="big").step("a")
    assert api.model is not None and (api.model.id, api.model.provider) == ("big", "q")
    assert isinstance(api.request, dict) and api.request["model"] == "big-2"
    with pytest.raises(MissingModel, match=r"run's model 'msg' serves only anthropic\.messages"):
        resolve(catalog, "wf", model="msg")


def test_a_presets_model_applies_unless_the_run_names_one(tmp_path: Path) -> None:
    catalog = _override_catalog(tmp_path)
    by_preset = resolve(catalog, "wf", preset="wf.big")
    assert by_preset.model == "big" and by_preset.step("a").model.name == "big-2"  # type: ignore[union-attr]
    chosen = resolve(catalog, "wf", preset="wf.big", model="gpt-4.1")
    assert chosen.model == "gpt-4.1" and chosen.step("a").model.name == "gpt-4.1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "model", ["", " gpt", "-x", "a b", "x\n", "é", "a\x00b", "m" * 201, "../../etc", "a;b"]
)
def test_a_bad_model_name_is_invalid_inputs_naming_it(tmp_path: Path, model: str) -> None:
    catalog = _override_catalog(tmp_path)
    with pytest.raises(InvalidInputs, match="is not a model name"):
        resolve(catalog, "wf", model=model)


@given(st.text(max_size=220))
@settings(max_examples=200)
def test_any_model_text_is_taken_or_refused_cleanly(model: str) -> None:
    if MODEL_NAME.fullmatch(model):
        assert check_model_override(model) == model
    else:
        with pytest.raises(InvalidInputs, match="model"):
            check_model_override(model)


class _CountingCatalog(AssetCatalog):
    """Counts the asset files a resolution reads (each read hashes the file, and in the
    evaluator announces it to the parent)."""

    reads: list[str]

    def _load_path(self, info):  # type: ignore[no-untyped-def]
        self.reads.append(info.id)
        return super()._load_path(info)


def test_one_resolution_reads_each_asset_file_once(tmp_path: Path) -> None:
    steps = "".join(api(f"s{n}", f"['s{n - 1}']" if n > 1 else "()") for n in range(1, 11))
    scanned = catalog_with(tmp_path, steps)
    counting = _CountingCatalog(scanned.root, scanned.list(), scanned.problems)
    counting.reads = []
    plan = resolve(counting, "wf", b'{"topic": "tea"}')
    assert len(plan.steps) == 10
    # The workflow once and the model once, not once per step calling it (eleven reads).
    assert sorted(counting.reads) == ["m", "wf"]


def test_a_changed_asset_is_seen_by_the_next_resolution(tmp_path: Path) -> None:
    """Type descriptions are cached by class: an edited file defines new classes, and
    resolving after it describes them afresh (inputs schema, defaults, outputs)."""
    first = resolve(catalog_with(tmp_path, api("a", user="{inputs.topic}")), "wf")
    assert first.input_schema["$defs"]["Inputs"]["properties"]["topic"]["default"] == "x"  # type: ignore[index,call-overload]
    assert first.steps[0].request["messages"][0]["content"] == "x"  # type: ignore[index,call-overload]
    wf = tmp_path / "assets" / "workflows" / "wf.py"
    wf.write_text(wf.read_text().replace("topic: str = 'x'", "topic: str = 'y'\n    n: int = 2"))
    (tmp_path / "assets" / "models" / "m.py").write_text(MODEL.replace('name="m"', 'name="m2"'))
    second = resolve(AssetCatalog.scan(tmp_path / "assets"), "wf")
    properties = second.input_schema["$defs"]["Inputs"]["properties"]  # type: ignore[index,call-overload]
    assert properties["topic"]["default"] == "y" and properties["n"]["type"] == "integer"  # type: ignore[index,call-overload]
    assert second.inputs == {"topic": "y", "n": 2}
    assert second.steps[0].request["messages"][0]["content"] == "y"  # type: ignore[index,call-overload]
    assert second.steps[0].model is not None and second.steps[0].model.name == "m2"


def test_cached_schemas_are_fresh_copies(tmp_path: Path) -> None:
    """Two resolutions of one catalog share no schema object: changing what one returned
    leaves the next one as generated."""
    catalog = catalog_with(tmp_path, api("a") + api("b"))
    first = resolve(catalog, "wf")
    first.input_schema.clear()
    first.steps[0].output_schema.clear()
    second = resolve(catalog, "wf")
    assert second.input_schema and second.steps[0].output_schema
    assert second.steps[0].output_schema == second.steps[1].output_schema
    assert second.steps[0].output_schema is not second.steps[1].output_schema
