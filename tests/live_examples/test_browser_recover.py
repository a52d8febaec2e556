"""Real browser: ``lf-auto-recover`` (Phoenix's ``phx-auto-recover``). After the session
crashes and the page rejoins, a form with ``lf-auto-recover="recover"`` sends
``recover`` (not its ``lf-change`` event) with what the user had typed; a form with
``lf-auto-recover="ignore"`` sends nothing. (The default, the form's own change event,
is tests/live_examples/test_browser.py::test_form_recovery_after_a_session_crash.)"""

from __future__ import annotations

import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live import LiveHub, LiveView, Params, Rendered, SessionInfo, Template

from ..live.live_server import serving
from .test_browser import (  # noqa: F401
    ARGS,
    CHROMIUM,
    async_playwright,
    open_page,
    pytestmark,
    replaced,
    text_is,
)


class Validate(msgspec.Struct, frozen=True, tag="validate"):
    name: str


class Recover(msgspec.Struct, frozen=True, tag="recover"):
    name: str
    step: str


class Search(msgspec.Struct, frozen=True, tag="search"):
    q: str


class Wizard(msgspec.Struct, frozen=True):
    name: str = ""
    log: tuple[str, ...] = ()


PAGE = Template(
    '<div><form id="wizard" lf-change="validate" lf-auto-recover="recover">'
    '<input id="name" name="name" value="{name}"><input type="hidden" name="step" value="2">'
    '</form><form id="search" lf-change="search" lf-auto-recover="ignore">'
    '<input id="q" name="q"></form><p id="log">{log}</p></div>'
)


class WizardView(LiveView[Wizard, Validate | Recover | Search]):
    def mount(self, params: Params, session: SessionInfo) -> Wizard:
        return Wizard()

    def handle_event(self, event: Validate | Recover | Search, state: Wizard) -> Wizard:
        match event:
            case Validate(name=name):
                return Wizard(name, (*state.log, f"validate {name}"))
            case Recover(name=name, step=step):
                return Wizard(name, (*state.log, f"recover {name} {step}"))
            case Search(q=q):
                return Wizard(state.name, (*state.log, f"search {q}"))

    def render(self, state: Wizard) -> Rendered:
        return PAGE(name=state.name, log="; ".join(state.log))


async def test_a_custom_recover_event_and_an_ignored_form_after_a_session_crash() -> None:
    async with ActorSystem("browser-recover", seed=14) as system:
        hub = LiveHub(system, {"wizard": WizardView()}, secret=b"r" * 32)
        async with serving(LiveRoutes(hub).routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/wizard")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.fill("#name", "ada")
                await text_is(page, "#log", "validate ada")
                await page.fill("#q", "x")
                await text_is(page, "#log", "validate ada; search x")
                [session] = await hub.sessions()
                system.kill(session)
                await replaced(hub.sessions, session, "a rejoined session")
                # The new session hears `recover` with the wizard's fields, and nothing of
                # the ignored search form.
                await text_is(page, "#log", "recover ada 2")
                assert await page.input_value("#name") == "ada"
                await page.fill("#q", "y")
                await text_is(page, "#log", "recover ada 2; search y")
                assert not errors, errors
            finally:
                await browser.close()
                await hub.stop()
