"""The tasks example (the issue's acceptance app) through the test DSL: log in, a list
per user kept in a store actor, a live component per task, the streamed activity log,
an attachment consumed into the user's folder, flash on save, the JS toggles, log out;
a second user sees nothing of the first; a session killed loses nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lightflow_actors.isa import Render
from lightflow_actors.live import LiveClient
from lightflow_actors.live_examples import TASK_STORES
from lightflow_actors.live_examples.tasks import (
    LOG_LIMIT,
    MAX_TASKS,
    ListTasks,
    StoreFor,
    TaskStores,
    stored_file,
)
from lightflow_actors.testing.live import (
    LiveRedirect,
    LiveTest,
    LiveViewHandle,
    UploadFile,
    element,
    has_element,
    render_click,
    render_submit,
)

from .examples_test import examples_test

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path / "lightflow" / "live" / "tasks"


async def _log_in(live: LiveTest, name: str, password: str) -> LiveViewHandle:
    with pytest.raises(LiveRedirect) as halted:
        await live.mount("tasks")
    assert halted.value.to == "login?next=tasks"
    login = await live.follow_redirect(halted.value)
    assert "Log in to see your tasks." in login.html()
    await login.submit("login", {"name": name, "password": password})
    assert login.assert_redirect() == "tasks"
    return await live.follow_redirect(login)


def attachments(folder: Path) -> list[Path]:
    """The attachment files in a user's folder (not the store's saved `.tasks.json`)."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _task_ids(view: LiveViewHandle) -> list[str]:
    return re.findall(r'<li id="(task-[^"]+)"', view.html())


async def _add(view: LiveViewHandle, text: str) -> str:
    return await render_submit(view.element("#new-task"), {"text": text})


async def test_log_in_add_toggle_edit_attach_and_log_out(state_home: Path) -> None:
    async with examples_test() as live:
        view = await _log_in(live, "ada", "lovelace")
        assert has_element(view, "#user", "ada") and "Welcome, ada!" in view.html()
        assert has_element(view, "#log li", "0 task(s) of ada")
        await _add(view, "buy milk")
        html = await _add(view, "write <the> report")
        assert "write &lt;the&gt; report" in html
        assert has_element(view, "#summary", "0 of 2 done")
        first, second = _task_ids(view)
        # A click on a task's box goes to its component: only it is in the patch's "c".
        html = await render_click(element(view, f"#{first} input.done-box"))
        assert f'id="{first}" class="done"' in html
        assert has_element(view, "#summary", "1 of 2 done")
        assert len(view.patches[-1].components) == 1
        assert has_element(view, "#log li", "done 'buy milk'")  # unescaped
        # Edit in the component: the editor opens; the save writes the store, flashes.
        await view.element(f"#{second} button.edit").render_click()
        assert has_element(view, f"#{second}.editing form")
        html = await render_submit(view.element(f"#{second} form"), {"text": "ship it"})
        assert "Saved &#39;ship it&#39;." in html
        assert view.element(f"#{second} span.text").text() == "ship it"
        # The JS toggles are attribute text: no round trip, the client runs them.
        toggle = view.element("#toggle-done").node().attrs["lf-click"]
        assert '"toggle_class"' in toggle and "hide-done" in toggle and "#tasks" in toggle
        details = view.element(f"#{first} .details-button").node().attrs["lf-click"]
        assert '"toggle"' in details and f"#details-{first.removeprefix('task-')}" in details
        # Attach a file to the second task: consumed into ada's folder, shown as a link.
        task_id = second.removeprefix("task-")
        chosen = view.file_input("#attach", "attachment", [UploadFile("cat.png", PNG, "image/png")])
        await view.render_upload(chosen, "cat.png")
        html = await view.form("#attach", {"task": task_id}).render_submit()
        assert "Attached cat.png." in html
        link = view.element(f"#details-{task_id} a.file")
        assert link.text() == "cat.png"
        stored = (link.node().attrs["href"] or "").removeprefix("tasks-files/")
        path = stored_file(state_home, "ada", stored)
        assert path is not None and path.read_bytes() == PNG
        assert f'src="tasks-files/{stored}"' in view.html()  # an image: a preview too
        assert stored_file(state_home, "grace", stored) is None
        # The store holds all of it: a new mount (a reload, a crashed session) shows it.
        again = await live.mount("tasks")
        assert has_element(again, f"#{first}.done") and has_element(again, f"#{second}", "ship it")
        assert again.element(f"#details-{task_id} a.file").text() == "cat.png"
        # Remove, then log out: the session is empty and the page sends a stranger away.
        await view.element(f"#{first} button.remove").render_click()
        assert not has_element(view, f"#{first}")
        await view.click("logout")
        assert view.assert_redirect() == "login"
        back = await live.follow_redirect(view)
        assert "You are logged out." in back.html()
        assert live.session == {}
        with pytest.raises(LiveRedirect):
            await live.mount("tasks")


async def test_two_users_see_only_their_own_tasks(state_home: Path) -> None:
    async with examples_test() as live:
        ada = await _log_in(live, "ada", "lovelace")
        await _add(ada, "ada's secret plan")
        chosen = ada.file_input(
            "#attach", "attachment", [UploadFile("plan.txt", b"x", "text/plain")]
        )
        await ada.render_upload(chosen, "plan.txt")
        task_id = _task_ids(ada)[0].removeprefix("task-")
        await ada.form("#attach", {"task": task_id}).render_submit()
        other = live.new_browser()
        grace = await _log_in(other, "grace", "hopper")
        assert has_element(grace, "#user", "grace")
        assert not _task_ids(grace)
        assert "secret plan" not in grace.html() and "plan.txt" not in grace.html()
        await _add(grace, "grace's list")
        # ada's page and store are untouched by grace's add.
        assert "grace's list" not in ada.html()
        system = live.hub.system
        ada_store = await system.lookup(TASK_STORES, TaskStores).ask(StoreFor("ada"))
        grace_store = await system.lookup(TASK_STORES, TaskStores).ask(StoreFor("grace"))
        await ada.settle()
        assert [t.text for t in await ada_store.ask(ListTasks())] == ["ada's secret plan"]
        assert [t.text for t in await grace_store.ask(ListTasks())] == ["grace's list"]
        # Each user's folder holds that user's files only (and the saved list).
        assert [f.name.endswith("plan.txt") for f in attachments(state_home / "ada")] == [True]
        assert attachments(state_home / "grace") == []


async def test_an_attach_to_a_task_of_another_user_or_gone_keeps_the_file(
    state_home: Path,
) -> None:
    async with examples_test() as live:
        view = await _log_in(live, "ada", "lovelace")
        await _add(view, "one")
        chosen = view.file_input(
            "#attach", "attachment", [UploadFile("a.txt", b"hi", "text/plain")]
        )
        await view.render_upload(chosen, "a.txt")
        await view.form("#attach", {"task": "nobody-1"}).render_submit()
        assert attachments(state_home / "ada") == []  # nothing consumed for a task not hers
        assert 'data-lf-ready=""' in view.html() or "a.txt" not in view.html()
        task_id = _task_ids(view)[0].removeprefix("task-")
        html = await view.form("#attach", {"task": task_id}).render_submit()
        assert "Attached a.txt." in html


async def test_the_list_and_the_log_are_bounded(state_home: Path) -> None:
    async with examples_test() as live:
        view = await _log_in(live, "grace", "hopper")
        for n in range(LOG_LIMIT + 5):
            await _add(view, f"task {n}")
        assert view.client.html().count('<li id="log-') == LOG_LIMIT
        await _add(view, "x" * 5000)
        assert has_element(view, "#tasks li span.text", "x" * 200)
        assert "x" * 201 not in view.html()
        assert MAX_TASKS >= LOG_LIMIT + 6


def test_stored_file_refuses_names_that_are_not_stored_names(tmp_path: Path) -> None:
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "1-ab-a.txt").write_bytes(b"a")
    (tmp_path / "secret").write_bytes(b"s")
    assert stored_file(tmp_path, "ada", "1-ab-a.txt") is not None
    for bad in ("", "../secret", "..", ".hidden", "a/b", "a\\b", "é", "a b", "\x00"):
        assert stored_file(tmp_path, "ada", bad) is None


async def test_a_rejoin_of_the_same_session_never_reuses_a_task_id(state_home: Path) -> None:
    """A rejoin mounts again with the same session id (so the same id prefix): its next
    task must not take the id of one it added before, which would overwrite that task."""
    async with examples_test() as live:
        view = await _log_in(live, "ada", "lovelace")
        await _add(view, "first")
        await _add(view, "second")
        session = (await live.hub.sessions())[-1]  # the tasks page (after the login)
        live.system.kill(session)
        await view.wait_for(lambda: bool(view.client.shutdowns), "the session's shutdown")
        renders = view.client.renders
        sid = view.client.session_id
        assert sid is not None
        # what the page does after its backoff: Mount and Render again on its socket
        await view.send(LiveClient.mount_instruction("tasks", sid, view.token, {}))
        await view.send(Render())
        await view.wait_for(lambda: view.client.renders > renders, "the rejoin's render")
        await _add(view, "third")
        texts = [view.element(f"#{t} span.text").text() for t in _task_ids(view)]
        assert texts == ["first", "second", "third"]
