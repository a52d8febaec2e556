"""The tasks example under the deterministic scheduler: two users, adds, an attachment
and a remount agree under any schedule of their actors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.testing.live import UploadFile

from .examples_test import examples_test
from .test_tasks import _add, _log_in, _task_ids

_SCHEDULES = itertools.count()


@pytest.mark.deterministic(seeds=5, strategy="random")
async def test_two_users_add_attach_and_remount_under_any_schedule(
    sim_system: ActorSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each schedule starts from no saved tasks (the stores save to the state dir).
    state = tmp_path / f"schedule-{next(_SCHEDULES)}"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    async with examples_test(sim_system) as live:
        ada = await _log_in(live, "ada", "lovelace")
        grace = await _log_in(live.new_browser(), "grace", "hopper")
        await _add(ada, "a1")
        await _add(grace, "g1")
        await _add(ada, "a2")
        chosen = ada.file_input("#attach", "attachment", [UploadFile("n.txt", b"n", "text/plain")])
        await ada.render_upload(chosen, "n.txt")
        first = _task_ids(ada)[0].removeprefix("task-")
        html = await ada.form("#attach", {"task": first}).render_submit()
        assert "Attached n.txt." in html
        again = await live.mount("tasks")
        assert [again.element(f"#{t} span.text").text() for t in _task_ids(again)] == ["a1", "a2"]
        assert again.element(f"#details-{first} a.file").text() == "n.txt"
        assert "a1" not in grace.html() and "g1" not in ada.html()
