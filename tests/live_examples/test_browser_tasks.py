"""Real browser: the tasks example end to end. Ada logs in, adds tasks, ticks one (its
component), hides the done ones and opens a task's details with JS commands (no round
trip; the toggles hold across patches), edits a task in its component (flash "Saved"),
attaches a real image (uploaded over the socket, stored in her folder, linked and
previewed), and logs out. Grace, in another browser, sees none of it, and ada's file
link answers her 404."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.kernel import ActorRef
from lightflow_actors.live import LiveHub
from lightflow_actors.live_examples.auth import auth_views
from lightflow_actors.live_examples.tasks import (
    STORES,
    StoreFor,
    TaskStores,
    attachment_routes,
    task_views,
)

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, pytestmark, text_is  # noqa: F401
from .test_browser_settings import tiny_png

CONNECTED = "[data-lf-status=connected]"


async def _log_in(page: Page, base: str, name: str, password: str) -> None:
    await page.goto(f"{base}/tasks")  # not logged in: 303 to the login page
    assert page.url.endswith("/login?next=tasks")
    await page.wait_for_selector(CONNECTED)
    assert "Log in to see your tasks." in await page.inner_text(".lf-flash-error")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("#log-in")
    await page.wait_for_url(f"{base}/tasks")
    await page.wait_for_selector(CONNECTED)
    await text_is(page, "#user", name)


async def _add(page: Page, text: str, count: int) -> None:
    await page.fill("#new-task input[name=text]", text)
    await page.click("#add")
    await page.wait_for_function(
        "n => document.querySelectorAll('#tasks > li').length === n", arg=count
    )


async def test_log_in_add_toggle_edit_attach_log_out_and_a_second_user(tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(tiny_png(4, 3))
    files = tmp_path / "files"
    async with ActorSystem("browser-tasks", seed=5) as system:
        await system.start_actor(TaskStores, name=STORES)

        def stores() -> ActorRef[StoreFor]:
            return system.lookup(STORES, TaskStores)

        views = {**auth_views(), **task_views(stores, files_root=lambda: files)}
        hub = LiveHub(system, views, secret=b"t" * 32)
        routes = [*attachment_routes(hub, files_root=lambda: files), *LiveRoutes(hub).routes]
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                ada = await (await browser.new_context()).new_page()
                ada.set_default_timeout(15_000)
                errors: list[str] = []
                ada.on("pageerror", lambda error: errors.append(str(error)))
                await _log_in(ada, base, "ada", "lovelace")
                await text_is(ada, ".lf-flash-info", "Welcome, ada!")
                await ada.evaluate("window.stayed = true")  # a full load would wipe it
                await _add(ada, "buy milk", 1)
                await _add(ada, "write the report", 2)
                first, second = await ada.eval_on_selector_all(
                    "#tasks > li", "items => items.map(li => li.id)"
                )
                # the task's box: an event to its component; the view counts it done
                await ada.click(f"#{first} input.done-box")
                await ada.wait_for_selector(f"#{first}.done")
                await text_is(ada, "#summary", "1 of 2 done · show/hide done Log out")
                assert await ada.is_checked(f"#{first} input.done-box")
                # JS toggles: hide the done tasks, open a task's details; both hold
                # across the patches that follow
                await ada.click("#toggle-done")
                await ada.wait_for_selector(f"#{first}", state="hidden")
                await ada.click(f"#{second} .details-button")
                details = f"#details-{second.removeprefix('task-')}"
                await ada.wait_for_selector(details, state="visible")
                # edit in the component: the flash says saved
                await ada.click(f"#{second} button.edit")
                await ada.fill(f"#{second} form.rename input[name=text]", "ship it")
                await ada.click(f"#{second} form.rename button")
                await text_is(ada, f"#{second} span.text", "ship it")
                await text_is(ada, ".lf-flash-info", "Saved 'ship it'.")
                assert await ada.is_hidden(f"#{first}")  # still hidden after the patches
                # attach a real image to the second task
                await ada.select_option("#attach-task", second.removeprefix("task-"))
                await ada.set_input_files("#lf-upload-attachment", str(image))
                await ada.click("#attach-button")
                await text_is(ada, ".lf-flash-info", "Attached cat.png.")
                link = f"{details} a.file"
                await text_is(ada, link, "cat.png")
                href = await ada.get_attribute(link, "href")
                assert href is not None and href.startswith("tasks-files/")
                stored = list((files / "ada").iterdir())
                assert [p.read_bytes() for p in stored] == [image.read_bytes()]
                # the link serves it to ada; the preview decodes (a real image)
                fetched = await ada.evaluate(
                    "h => fetch(h).then(r => r.arrayBuffer()).then(b => b.byteLength)", href
                )
                assert fetched == len(image.read_bytes())
                await ada.wait_for_function(
                    "s => { const i = document.querySelector(s); "
                    "return i && i.complete && i.naturalWidth === 4; }",
                    arg=f"{details} img.preview",
                )
                assert await ada.evaluate("window.stayed === true")
                # a second user, another browser: nothing of ada's
                grace = await (await browser.new_context()).new_page()
                grace.set_default_timeout(15_000)
                await _log_in(grace, base, "grace", "hopper")
                assert await grace.eval_on_selector_all("#tasks > li", "l => l.length") == 0
                assert "ship it" not in await grace.inner_text("body")
                status = await grace.evaluate("h => fetch(h).then(r => r.status)", href)
                assert status == 404
                await _add(grace, "grace's own", 1)
                assert "grace's own" not in await ada.inner_text("#tasks")
                # ada logs out: off to the login page; her link no longer answers
                await ada.click("#log-out")
                await ada.wait_for_url(f"{base}/login")
                await ada.wait_for_selector(CONNECTED)
                await text_is(ada, ".lf-flash-info", "You are logged out.")
                status = await ada.evaluate("h => fetch(h).then(r => r.status)", href)
                assert status == 403
                # she logs in again: her tasks were in her store all along
                await _log_in(ada, base, "ada", "lovelace")
                await text_is(ada, f"#{second} span.text", "ship it")
                assert not errors, errors
            finally:
                await browser.close()
        await hub.stop()
