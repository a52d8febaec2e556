"""`@provider` functions of an asset folder are routed without a config entry (ADR 0102):
settings, routing clashes, the typed adapter, `provider list`, and whole runs (the
`examples/decorated` chain of ten; async providers serving side by side)."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import textwrap
from pathlib import Path

import msgspec
import pytest

from ctx_substrate import ProviderFailure, ProviderRequest, Routes
from lightflow_actors import ActorSystem
from lightflow_actors.host import (
    CONFIG_ENV,
    CtxConfig,
    PythonProvider,
    RunsConfig,
    RunsHosting,
    build_providers,
)
from lightflow_actors.host._provider_setup import list_providers
from lightflow_actors.host._providers import load_callable
from lightflow_actors.runs import AwaitSettled, CreateRun

pytestmark = pytest.mark.anyio
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "decorated"


def config(tmp_path: Path, assets: Path, **fields: object) -> RunsConfig:
    return RunsConfig(
        state_dir=str(tmp_path / "state"),
        assets=str(assets),
        ctx=CtxConfig(root=str(tmp_path / "ctx")),
        **fields,  # type: ignore[arg-type]
    )


def test_an_asset_provider_is_routed_without_a_config_entry(tmp_path: Path) -> None:
    settings = config(tmp_path, EXAMPLE).settings({})
    shout = next(p for p in settings.providers if p.name == "shout")
    assert shout == PythonProvider(
        name="shout", target=f"{EXAMPLE}/providers/shout.py:shout", model="", concurrency=None
    )
    assert settings.routes.route("thread", "shout") == ("shout", "route thread/shout -> shout")
    assert settings.routes.route("thread", "other")[0] == "local-echo"  # type: ignore[index]
    assert settings.provider_problems == ()
    rule = next(r for r in settings.policy.rules if r.provider == "shout")
    assert rule.thread == ("shout",)


def test_the_config_wins_a_clash_and_says_so(tmp_path: Path) -> None:
    routes = Routes(api={"*": "local-echo"}, thread={"shout": "local-echo"})
    settings = config(tmp_path, EXAMPLE, routes=routes).settings({})
    assert "shout" not in [p.name for p in settings.providers]
    assert settings.routes.route("thread", "shout")[0] == "local-echo"  # type: ignore[index]
    (problem,) = settings.provider_problems
    assert problem.failure == "duplicate"
    assert "route thread/shout is already configured to local-echo" in problem.error
    same_name = config(tmp_path, EXAMPLE, providers=(PythonProvider("shout", "x.py:f"),))
    (problem,) = same_name.settings({}).provider_problems
    assert "provider 'shout' is also in the runs config" in problem.error


def test_a_bad_provider_file_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(EXAMPLE, assets, ignore=shutil.ignore_patterns("__pycache__"))
    (assets / "providers" / "bad.py").write_text("@provider(thread='x')\ndef f(a, b):\n    pass\n")
    settings = config(tmp_path, assets).settings({})
    assert "shout" in [p.name for p in settings.providers]
    (problem,) = settings.provider_problems
    assert problem.failure == "signature" and problem.line == 2


def test_provider_list_shows_asset_providers_without_running_them(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(EXAMPLE, assets, ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "imported"
    source = (assets / "providers" / "shout.py").read_text()
    (assets / "providers" / "shout.py").write_text(
        source + f"\nfrom pathlib import Path\nPath({str(marker)!r}).touch()\n"
    )
    path = tmp_path / "runs.json"
    path.write_bytes(msgspec.json.encode(config(tmp_path, assets)))
    listing = list_providers({CONFIG_ENV: str(path)})
    shout = next(p for p in listing.providers if p.name == "shout")
    assert shout.kind == "python" and "thread/shout" in shout.routes
    assert not marker.exists()
    (assets / "providers" / "twice.py").write_text(
        "@provider(thread='shout')\ndef s2(r):\n    pass\n"
    )
    listing = list_providers({CONFIG_ENV: str(path)})
    assert "shout" not in [p.name for p in listing.providers]  # taken from neither file
    assert [p.failure for p in listing.problems] == ["duplicate", "duplicate"]
    assert not marker.exists()


def test_the_typed_adapter_converts_the_body_and_the_answer(tmp_path: Path) -> None:
    fn = load_callable(f"{EXAMPLE}/providers/shout.py:shout", "t")
    assert inspect.iscoroutinefunction(fn)  # awaited side by side
    specs = build_providers(config(tmp_path, EXAMPLE).settings({}).providers, None)  # type: ignore[arg-type]
    assert next(s for s in specs if s.name == "shout").concurrency == 16
    request = ProviderRequest("thread", "shout", "0", "r1", {"text": "hi"}, b"")
    coro = fn(request)
    assert inspect.isawaitable(coro)
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    assert done.value.value == {"text": "hi!"}
    bad = fn(ProviderRequest("thread", "shout", "0", "r1", {"text": 3}, b""))
    with pytest.raises(ProviderFailure) as failure:
        bad.send(None)  # type: ignore[union-attr]
    assert failure.value.kind == "malformed" and "$.text" in failure.value.message


def test_an_undecorated_or_untyped_callable_gets_the_request_itself(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text(
        textwrap.dedent(
            """
            from lightflow_actors.flow import provider

            @provider(thread="t")
            def raw(req):
                return {"kind": req.kind}
            """
        )
    )
    fn = load_callable(f"{path}:raw", "t")
    assert fn(ProviderRequest("thread", "t", "0", "r", {}, b"")) == {"kind": "thread"}


def _load_example() -> object:
    spec = importlib.util.spec_from_file_location("decorated_run", EXAMPLE / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_chain_of_ten_runs_end_to_end(tmp_path: Path) -> None:
    module = _load_example()
    out = await module.main(tmp_path)  # type: ignore[attr-defined]
    assert msgspec.json.decode(out) == {"text": "go" + "!" * 10}
    outputs = tmp_path / "runs" / "demo" / "outputs"  # each step one more `!`: shout's
    texts = [msgspec.json.decode((outputs / f"s{n}.json").read_bytes()) for n in range(1, 11)]
    assert texts == [{"text": "go" + "!" * n} for n in range(1, 11)]


def test_the_example_is_as_short_as_its_docstring_says() -> None:
    doc = (EXAMPLE / "run.py").read_text()
    provider_lines = len((EXAMPLE / "providers" / "shout.py").read_text().splitlines())
    workflow_lines = len((EXAMPLE / "workflows" / "chain10.py").read_text().splitlines())
    assert f"`providers/shout.py` ({provider_lines} lines)" in doc
    assert (
        f"`workflows/chain10.py`\n({workflow_lines} lines): {provider_lines + workflow_lines}"
        in doc
    )


FANOUT = '''
"""Three thread steps side by side, then one that joins them."""
import msgspec
from lightflow_actors.flow import ThreadStep, Workflow

METADATA = {"id": "fan", "title": "T", "kind": "workflow", "description": "d",
            "stability": "draft"}

class Inputs(msgspec.Struct):
    pass

DEFINITION = Workflow(inputs=Inputs, steps=[
    *(ThreadStep(id=f"p{n}", thread="meet", message=f"{n}") for n in range(3)),
])
'''

MEET = """
import asyncio
import msgspec
from lightflow_actors.flow import provider

class Said(msgspec.Struct):
    text: str

arrived: list[str] = []
everyone = asyncio.Event()

@provider(thread="meet")
async def meet(req: Said) -> Said:
    arrived.append(req.text)
    if len(arrived) == 3:
        everyone.set()
    await asyncio.wait_for(everyone.wait(), 60)  # only all three together can answer
    return Said(f"met {len(arrived)}")
"""


async def test_async_providers_serve_side_by_side(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    (assets / "workflows").mkdir(parents=True)
    (assets / "providers").mkdir()
    (assets / "workflows" / "fan.py").write_text(FANOUT)
    (assets / "providers" / "meet.py").write_text(MEET)
    hosting = RunsHosting(config(tmp_path, assets), environ={})
    async with ActorSystem() as system:
        await hosting.start(system)
        try:
            await hosting.call(CreateRun("fan", b"{}", "fan1"))
            view = await hosting.call(AwaitSettled("fan1"))
        finally:
            await hosting.stop()
    assert view.status == "succeeded", [s.error for s in view.steps]
    outputs = tmp_path / "state" / "runs" / "fan1" / "outputs"
    assert {
        msgspec.json.decode((outputs / f"p{n}.json").read_bytes())["text"] for n in range(3)
    } == {"met 3"}
