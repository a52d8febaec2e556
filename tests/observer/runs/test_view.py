"""The runs page driven by the test DSL: real runs host, real feed and desk, real wire,
no browser. A run is created and its steps turn green live; a failed run is retried from
the page; a re-run from the generated form; two runs compared."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import Guard
from lightflow_actors.host import RunsHosting
from lightflow_actors.live import encode_patch
from lightflow_actors.observer.runs import runs_view, start_runs_actors
from lightflow_actors.runs import AwaitSettled, CreateRun
from lightflow_actors.testing.live import LiveTest, LiveViewHandle, live_test

from ...runs._support import ASSETS, RunsEnv

pytestmark = pytest.mark.anyio

TOKEN = "runs-page-token"
NODE = re.compile(r'<g id="node-([^"]+)" class="[^"]*" data-step="[^"]+" data-status="([^"]+)"')
ROW = re.compile(r'<tr id="run-([^"]+)" class="[^"]*" data-run="[^"]+" data-status="([^"]+)"')


@contextlib.asynccontextmanager
async def runs_page(
    env: RunsEnv, token: str | None = TOKEN
) -> AsyncIterator[tuple[RunsHosting, LiveTest]]:
    hosting = RunsHosting(env.config, environ=env.environ, mcp=False)
    async with ActorSystem("runs-page") as system:
        await hosting.start(system)
        try:
            views = {"runs": runs_view(system, Guard(token), hub_name="live")}
            async with live_test(views, system=system) as live:
                await start_runs_actors(live.hub, hosting, interval=0.05)
                yield hosting, live
        finally:
            await hosting.stop()


def nodes(view: LiveViewHandle) -> dict[str, str]:
    return dict(NODE.findall(view.html()))


def rows(view: LiveViewHandle) -> dict[str, str]:
    return dict(ROW.findall(view.html()))


async def use_token(view: LiveViewHandle) -> None:
    await view.submit("token", {"token": TOKEN})
    await view.wait_for(lambda: 'id="token-ok"' in view.html(), "the token accepted")


async def test_the_list_shows_runs_live_and_filters_them(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    async with runs_page(env) as (hosting, live):
        await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "g1"))
        await hosting.call(AwaitSettled("g1"))
        view = await live.mount("runs")
        assert rows(view) == {"g1": "succeeded"}
        assert 'data-field="steps">1/1<' in view.html()
        # A run created elsewhere (the API) appears without a reload.
        await hosting.call(CreateRun("fanout", b'{"topic": "tea"}', "f1"))
        await view.wait_for(lambda: rows(view).get("f1") == "succeeded", "f1 listed, done")
        assert list(rows(view)) == ["f1", "g1"]  # newest first
        await view.change("filter", {"status": "", "workflow": "greet"})
        await view.wait_for(lambda: list(rows(view)) == ["g1"], "only greet runs")
        assert "1 of 2 runs" in view.html()
        # A full render the client asks for (a patch it could not merge) sends the rows
        # it should hold again: the list is never empty until the next listing.
        await view.resync()
        assert list(rows(view)) == ["g1"]
        assert "1 of 2 runs" in view.html()
        await view.change("filter", {"status": "", "workflow": ""})
        await view.wait_for(lambda: list(rows(view)) == ["f1", "g1"], "both runs again")


async def test_a_run_turns_green_step_by_step_and_a_step_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv("LIGHTFLOW_TEST_HOLD", str(hold))
    env = RunsEnv(tmp_path, provider="held_chat", blocking=True)  # on a worker thread
    async with runs_page(env) as (hosting, live):
        await hosting.call(CreateRun("fanout", b'{"topic": "tea"}', "f1"))
        view = await live.mount("runs", {"run": "f1"})
        assert set(nodes(view)) == {"plan", "left", "right", "join", "tell"}

        # Green comes step by step: the page shows plan done while join is held.
        def half_done() -> bool:
            now = nodes(view)
            return now["left"] == "succeeded" and now["right"] == "succeeded"

        await view.wait_for(half_done, "plan, left and right green")
        assert nodes(view)["plan"] == "succeeded"
        assert nodes(view)["join"] != "succeeded"
        hold.unlink()
        await view.wait_for(
            lambda: all(s == "succeeded" for s in nodes(view).values()), "every step green"
        )
        assert max(len(encode_patch(p)) for p in view.patches) < 8192
        sent = len(view.patches)
        await view.click("step", id="node-join")
        await view.wait_for(lambda: 'id="step-id">join<' in view.html(), "join opened")
        # The step panel's templates came with the mount's render (RunsView.preload):
        # the patches that open it carry values alone.
        assert view.patches[sent:] and not any(p.templates for p in view.patches[sent:])
        html = view.html()
        assert "done: " in html  # its output (the mock's answer) is shown
        assert 'data-field="route">provider mock · model mock-1<' in html
        assert "request" in html and "committed" in html  # trace records


async def test_a_failed_run_is_retried_from_the_page(tmp_path: Path, gate: Path) -> None:
    env = RunsEnv(tmp_path, provider="gated_chat")
    async with runs_page(env) as (hosting, live):
        await hosting.call(CreateRun("chain", b"{}", "c1"))
        await hosting.call(AwaitSettled("c1"))
        view = await live.mount("runs", {"run": "c1"})
        assert nodes(view)["s5"] == "failed"
        await view.click("retry")
        assert "enter the operator token" in view.html()
        await use_token(view)
        assert TOKEN not in view.html()
        os.remove(gate)
        await view.click("retry")
        await view.wait_for(lambda: "retrying c1" in view.html(), "the retry answered")
        await view.wait_for(
            lambda: set(nodes(view).values()) == {"succeeded"}, "the retried run succeeded"
        )
        # Finished steps were kept: s1 ran once, s5 more than once.
        assert 'data-step="s1" data-status="succeeded" data-attempts="1"' in view.html()


async def test_rerun_from_the_form_and_compare(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    async with runs_page(env, token=None) as (hosting, live):
        await hosting.call(CreateRun("greet", b'{"name": "Ada", "times": 2}', "g1"))
        await hosting.call(AwaitSettled("g1"))
        view = await live.mount("runs", {"run": "g1"})
        html = view.html()
        # The form is generated from the typed inputs and pre-filled with this run's.
        assert 'name="f0" type="text" value="Ada" required' in html
        assert 'name="f1" type="number" step="1" value="2"' in html
        await view.submit("rerun", {"f0": "Grace", "f1": "not a number"})
        assert "times: expected a whole number" in view.html()
        await view.submit("rerun", {"f0": "Grace", "f1": "3"})
        await view.wait_for(lambda: "created run" in view.html(), "the re-run created")
        new_run = re.search(r"created run (\S+) ", view.html())
        assert new_run is not None
        other = new_run.group(1)
        await view.wait_for(lambda: f'data-run="{other}"' in view.html(), "the new run shown")
        await hosting.call(AwaitSettled(other))
        await view.live_patch({"run": "g1", "compare": other})
        await view.wait_for(lambda: 'id="compare"' in view.html(), "the compare view")
        html = view.html()
        assert 'data-input="name" data-differs="yes"' in html
        assert 'data-input="times" data-differs="yes"' in html
        assert 'data-step="hello" data-differs="yes"' in html
        assert "Greet Grace 3 times" in html and "Greet Ada 2 times" in html


async def test_a_running_run_is_cancelled_from_the_page(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path, provider="slow_chat")
    async with runs_page(env) as (hosting, live):
        await hosting.call(CreateRun("chain", b"{}", "c1"))
        view = await live.mount("runs", {"run": "c1"})
        # A wrong token is refused, and so is an action without a token.
        await view.submit("token", {"token": "wrong"})
        assert "That token is wrong" in view.html()
        await view.click("cancel")
        assert "enter the operator token above first" in view.html()
        await use_token(view)
        assert 'id="act-retry" lf-click="retry" disabled' in view.html()
        await view.click("cancel")
        await view.wait_for(lambda: "cancelled c1" in view.html(), "the cancel answered")
        await view.wait_for(lambda: 'data-run="c1" data-status="cancelled"' in view.html(), "c1")
        assert "cancelled" in set(nodes(view).values())
        assert 'id="act-cancel" lf-click="cancel" disabled' in view.html()


async def test_a_step_id_or_run_id_from_a_hostile_query_shows_nothing(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    async with runs_page(env) as (_, live):
        for params in ({"run": "../x"}, {"run": "\x00"}, {"run": "x" * 500}, {"page": "9" * 50}):
            view = await live.mount("runs", params)
            assert 'id="runs-list"' in view.html(), params
        view = await live.mount("runs", {"run": "nope", "step": "<script>"})
        assert "no run" in view.html() and "<script>" not in view.html()
        await view.push("step", {"step": "<b>" * 1000})
        await view.push("unfold", {"key": "k" * 10_000})
        await view.push("rerun", {"f0": {"nested": [1, 2]}})
        assert not view.closed


async def test_a_new_run_from_the_list(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    async with runs_page(env, token=None) as (_, live):
        view = await live.mount("runs")
        html = view.html()
        assert '<option value="greet">greet</option>' in html
        await view.submit("create", {"workflow": "greet", "inputs": "[1]"})
        assert "inputs: expected a JSON object" in view.html()
        await view.submit("create", {"workflow": "greet", "inputs": '{"name": 3}'})
        await view.wait_for(lambda: "refused" in view.html(), "the typed refusal")
        assert "name" in view.html()  # the runs host names the bad input
        await view.submit("create", {"workflow": "greet", "inputs": '{"name": "Lin"}'})
        await view.wait_for(lambda: 'id="run" data-run="greet-' in view.html(), "the new run")
        await view.wait_for(lambda: set(nodes(view).values()) == {"succeeded"}, "it succeeds")


PRESET = """
from lightflow_actors.flow import Preset
METADATA = {"id": "greet.grace", "title": "Greet Grace", "kind": "preset",
            "description": "greet with Grace, 3 times", "stability": "stable"}
DEFINITION = Preset(workflow="greet", inputs={"name": "Grace", "times": 3})
"""


async def test_presets_the_compare_form_and_folding_from_the_page(tmp_path: Path) -> None:
    """The actions the other tests leave out, each through its own event: a new run and
    a re-run with a preset picked, the compare form, a long output unfolded and folded."""
    assets = tmp_path / "assets"
    shutil.copytree(ASSETS, assets)
    (assets / "presets").mkdir(exist_ok=True)
    (assets / "presets" / "greet_grace.py").write_text(PRESET)
    env = RunsEnv(tmp_path, assets=assets)
    async with runs_page(env, token=None) as (hosting, live):
        long_name = "Ada" + "a" * 2000
        inputs = msgspec.json.encode({"name": long_name, "times": 2})
        await hosting.call(CreateRun("greet", inputs, "g1"))
        await hosting.call(AwaitSettled("g1"))
        view = await live.mount("runs")
        assert '<option value="greet.grace">greet.grace</option>' in view.html()
        # A new run from the preset alone: the preset gives every input.
        await view.submit("create", {"workflow": "greet", "inputs": "{}", "preset": "greet.grace"})
        await view.wait_for(lambda: 'id="run" data-run="greet-' in view.html(), "the new run")
        await view.wait_for(lambda: set(nodes(view).values()) == {"succeeded"}, "it succeeds")
        await view.click("step", id="node-hello")
        await view.wait_for(lambda: "Greet Grace 3 times" in view.html(), "the preset's inputs")

        # A re-run of g1 with times left empty and the preset picked: the preset fills it.
        await view.live_patch({"run": "g1"})
        await view.wait_for(lambda: 'id="run" data-run="g1"' in view.html(), "g1 shown")
        assert 'value="greet.grace"' in view.html()
        await view.submit("rerun", {"f0": "Lin", "f1": "", "preset": "greet.grace"})
        await view.wait_for(lambda: "created run" in view.html(), "the re-run created")
        found = re.search(r"created run (\S+) ", view.html())
        assert found is not None
        other = found.group(1)
        await hosting.call(AwaitSettled(other))

        # The compare form (its own event, not a URL typed in).
        await view.live_patch({"run": "g1"})
        await view.wait_for(lambda: 'id="compare-form"' in view.html(), "the compare form")
        await view.submit("compare", {"compare": other})
        await view.wait_for(lambda: 'id="compare"' in view.html(), "the compare view")
        html = view.html()
        assert 'data-input="name" data-differs="yes"' in html
        assert 'data-input="times" data-differs="yes"' in html
        assert "Greet Lin 3 times" in html

        # g1's long output is folded; unfolded and folded again from its buttons.
        await view.live_patch({"run": "g1", "step": "hello"})
        await view.wait_for(lambda: 'lf-click="unfold"' in view.html(), "a folded text")
        folded = view.html().count(long_name)  # the re-run form's field holds it whole
        await view.click("unfold")
        await view.wait_for(lambda: view.html().count(long_name) > folded, "the text unfolded")
        assert 'lf-click="fold"' in view.html()
        await view.click("fold")
        await view.wait_for(lambda: view.html().count(long_name) == folded, "folded again")
