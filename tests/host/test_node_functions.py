"""`@node` functions of an asset folder run as workflow steps without a config entry
(ADR 0102 §Nodes): routed as the provider of their tool, listed without running them,
`provider list` (JSON and text) shows them and their problems, and `examples/nodes` runs."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from ctx_substrate import ProviderFailure, ProviderRequest
from lightflow_actors.adapters.cli._provider import listing_text
from lightflow_actors.host import (
    CONFIG_ENV,
    CtxConfig,
    PythonProvider,
    RunsConfig,
)
from lightflow_actors.host._provider_setup import list_providers
from lightflow_actors.host._providers import load_callable

pytestmark = pytest.mark.anyio
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nodes"


def config(tmp_path: Path, assets: Path) -> RunsConfig:
    return RunsConfig(
        state_dir=str(tmp_path / "state"),
        assets=str(assets),
        ctx=CtxConfig(root=str(tmp_path / "ctx")),
    )


def test_a_node_function_provides_its_tool_without_a_config_entry(tmp_path: Path) -> None:
    settings = config(tmp_path, EXAMPLE).settings({})
    exclaim = next(p for p in settings.providers if p.name == "exclaim")
    assert exclaim == PythonProvider(
        name="exclaim", target=f"{EXAMPLE}/nodes/exclaim.py:exclaim", model="", concurrency=None
    )
    assert settings.routes.route("tool", "exclaim") == ("exclaim", "route tool/exclaim -> exclaim")
    assert settings.provider_problems == ()
    rule = next(r for r in settings.policy.rules if r.provider == "exclaim")
    assert rule.tool == ("exclaim",)


def _write_config(tmp_path: Path, assets: Path) -> dict[str, str]:
    path = tmp_path / "runs.json"
    path.write_bytes(msgspec.json.encode(config(tmp_path, assets)))
    return {CONFIG_ENV: str(path)}


def test_provider_list_shows_nodes_and_problems_as_json_and_text(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(EXAMPLE, assets, ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "imported"
    node_file = assets / "nodes" / "exclaim.py"
    node_file.write_text(
        node_file.read_text() + f"\nfrom pathlib import Path\nPath({str(marker)!r}).touch()\n"
    )
    bad = assets / "nodes" / "bad.py"
    bad.write_text("from lightflow_actors.flow import node\n@node(id=NAME)\ndef b(r):\n    pass\n")
    environ = _write_config(tmp_path, assets)
    listing = list_providers(environ)
    exclaim = next(p for p in listing.providers if p.name == "exclaim")
    assert exclaim.routes == ("tool/exclaim",)
    assert [(p.path, p.line, p.failure) for p in listing.problems] == [(str(bad), 2, "decorator")]
    text = listing_text(listing)
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "ROUTES", "STATE"]
    assert any(line.split()[:3] == ["exclaim", "python", "tool/exclaim"] for line in lines)
    assert "problems (1; these were not taken):" in lines
    assert f"  {bad}:2: @node b: id= must be a literal" in text
    assert not marker.exists()


def test_provider_list_text_keeps_each_problem_on_one_line(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    (assets / "providers").mkdir(parents=True)
    hostile = assets / "providers" / "bad\nname\x1b[2J.py"
    hostile.write_text("from x import provider\n@provider(thread=NAME)\ndef f(r):\n    pass\n")
    text = listing_text(list_providers(_write_config(tmp_path, assets)))
    (problem,) = [line for line in text.splitlines() if "must be a literal" in line]
    assert "\x1b" not in text and "bad name" in problem


def _load_example() -> object:
    spec = importlib.util.spec_from_file_location("nodes_run", EXAMPLE / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_node_example_runs_end_to_end(tmp_path: Path) -> None:
    module = _load_example()
    out = await module.main(tmp_path)  # type: ignore[attr-defined]
    assert msgspec.json.decode(out) == {"text": "go" + "!" * 10}
    outputs = tmp_path / "runs" / "demo" / "outputs"
    texts = [msgspec.json.decode((outputs / f"s{n}.json").read_bytes()) for n in range(1, 11)]
    assert texts == [{"text": "go" + "!" * n} for n in range(1, 11)]
    trace = (tmp_path / "runs" / "demo" / "trace.jsonl").read_text()
    assert "/tool/exclaim/" in trace  # each step went through the tool's inbox


def test_the_node_example_is_as_short_as_its_docstring_says() -> None:
    doc = (EXAMPLE / "run.py").read_text()
    node_lines = len((EXAMPLE / "nodes" / "exclaim.py").read_text().splitlines())
    workflow_lines = len((EXAMPLE / "workflows" / "exclaim10.py").read_text().splitlines())
    assert f"`nodes/exclaim.py` ({node_lines} lines" in doc
    assert f"({workflow_lines} lines): {node_lines + workflow_lines} lines" in doc


def test_a_malformed_params_body_is_refused_naming_the_field(tmp_path: Path) -> None:
    fn = load_callable(f"{EXAMPLE}/nodes/exclaim.py:exclaim", "t")
    ok = fn(ProviderRequest("tool", "exclaim", "0", "r", {"text": "a"}, b""))
    assert ok == {"text": "a!"}
    with pytest.raises(ProviderFailure, match=r"\$\.text"):
        fn(ProviderRequest("tool", "exclaim", "0", "r", {"text": 3}, b""))


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_commands() -> list[str]:
    section = README.read_text().split("## Providers and nodes without a config file", 1)[1]
    block = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_section_commands_run_as_written(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop(CONFIG_ENV, None)
    env.pop("LIGHTFLOW_ASSETS", None)
    env.pop("LIGHTFLOW_CTX_MOUNT", None)
    outputs = []
    for line in _readme_commands():
        words = shlex.split(line)
        command_env = dict(env)
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            command_env[name] = value
        assert words[:3] == ["uv", "run", "--frozen"], line
        words = words[3:]
        argv = [sys.executable, *words[1:]] if words[0] == "python" else [
            sys.executable, "-m", "lightflow_actors.cli", *words[1:]
        ]  # fmt: skip
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=command_env, cwd=README.parent
        )
        assert result.returncode == 0, (line, result.stderr)
        outputs.append(result.stdout)
    ran, nodes, run, providers = outputs
    assert msgspec.json.decode(ran.strip()) == {"text": "go" + "!" * 10}
    listed = msgspec.json.decode(nodes)
    assert "exclaim" in [a["id"] for a in listed["assets"]] and listed["problems"] == []
    assert msgspec.json.decode(run)["status"] == "succeeded"
    routes = {p["name"]: p["routes"] for p in msgspec.json.decode(providers)["providers"]}
    assert routes["exclaim"] == ["tool/exclaim"]
