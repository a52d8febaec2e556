"""A run's new detail is drawn a few steps per patch, the open step alone and last, and
the drawing always ends at the newest detail; each of those patches stays under 1 KB."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.flow import RequestCommitted, ResponseObserved, TraceRecord
from lightflow_actors.live import DiffState, encode_patch
from lightflow_actors.observer.runs import RunDetail, RunsListing, layout
from lightflow_actors.observer.runs._model import FileText, StepView
from lightflow_actors.observer.runs._pacing import STEPS_PER_PATCH, next_shown
from lightflow_actors.observer.runs._render import render
from lightflow_actors.observer.runs._state import RunsState

LANES, DEPTH = 10, 5
IDS = [f"l{lane}s{n}" for n in range(1, DEPTH + 1) for lane in range(LANES)]


def trace(step_id: str) -> tuple[TraceRecord, ...]:
    request = f"{step_id}-1-4170c7235743a23b"
    path = f"requests/{request}.json"
    return (
        RequestCommitted(1, 1_765_000_000_000, step_id, 1, request, path, "f" * 16),
        ResponseObserved(11, 1_765_000_000_412, step_id, request, path),
    )


def detail(statuses: dict[str, str], answered: bool = False) -> RunDetail:
    steps = []
    for step_id in IDS:
        status = statuses.get(step_id, "planned")
        done = status == "succeeded"
        steps.append(
            StepView(
                id=step_id,
                status=status,  # type: ignore[arg-type]
                attempts=0 if status == "planned" else 1,
                target="api",
                address=f"openai.chat/{step_id}",
                depends_on=(),
                started_ms=1000 if status != "planned" else None,
                ended_ms=1412 if done else None,
                route={"provider": "paced", "model": "paced"} if done else None,
                request=FileText(
                    path="r",
                    value={"model": "paced", "messages": [{"role": "user", "content": step_id}]},
                )
                if status != "planned"
                else None,
                answer=FileText(
                    path="a",
                    value={
                        "id": f"echo-{step_id}-1-4170c7235743a23b",
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": f"ok {step_id}"},
                                "finish_reason": "stop",
                            }
                        ],
                    },
                )
                if done and answered
                else None,
                output=FileText(path="o", value={"text": f"ok {step_id}"}) if done else None,
                trace=trace(step_id) if done and answered else (),
            )
        )
    return RunDetail(
        run_id="r",
        workflow="lanes",
        title="Lanes",
        status="running",
        created_at_ms=1000,
        updated_at_ms=2000,
        sequence=len(statuses),
        inputs={},
        input_schema={},
        preset=None,
        steps=tuple(steps),
        layout=layout([(i, ()) for i in IDS]),
    )


def drawn(shown: RunDetail, latest: RunDetail, open_step: str | None) -> list[RunDetail]:
    out = []
    while True:
        shown = next_shown(shown, latest, open_step)
        out.append(shown)
        if shown is latest:
            return out
        assert len(out) <= len(IDS) + 1, "the drawing never ends"


def changed(a: RunDetail, b: RunDetail) -> set[str]:
    return {x.id for x, y in zip(a.steps, b.steps, strict=True) if x != y}


statuses = st.dictionaries(
    st.sampled_from(IDS), st.sampled_from(["submitted", "succeeded", "failed"]), max_size=50
)


@given(statuses, statuses, st.sampled_from([None, *IDS]))
def test_the_drawing_moves_a_few_steps_at_a_time_and_ends_at_the_newest(
    before: dict[str, str], after: dict[str, str], open_step: str | None
) -> None:
    old, new = detail(before), detail(after)
    steps = drawn(old, new, open_step)
    assert steps[-1] is new
    previous = old
    for i, shown in enumerate(steps):
        moved = changed(previous, shown)
        assert len(moved) <= STEPS_PER_PATCH
        if open_step in moved and changed(old, new) - {open_step}:
            assert moved == {open_step}  # alone
            assert all(changed(s, new) <= {open_step} for s in steps[i:])  # and last
        previous = shown


def test_a_first_draw_or_another_run_is_one_render() -> None:
    new = detail({i: "succeeded" for i in IDS})
    assert next_shown(None, new, None) is new
    other = msgspec.structs.replace(detail({}), run_id="other")
    assert next_shown(other, new, None) is new


def test_each_patch_of_a_busy_tick_with_a_step_open_is_under_a_kilobyte() -> None:
    # Ten lanes finish their first step and start their second in one tick, while the
    # first step of lane 0 is open and gets its answer: drawn at once, about 2 KB.
    before = detail({f"l{lane}s1": "submitted" for lane in range(LANES)})
    after = detail(
        {
            **{f"l{lane}s1": "succeeded" for lane in range(LANES)},
            **{f"l{lane}s2": "submitted" for lane in range(LANES)},
        },
        answered=True,
    )
    page = RunsState(
        session="s", connected=True, needs_token=False, listing=RunsListing(0, ()), run="r"
    )
    opened = msgspec.structs.replace(page, step="l0s1", detail=before)
    diff = DiffState()
    diff.diff(render(opened))
    at_once = DiffState()
    at_once.diff(render(opened))
    whole = len(encode_patch(at_once.diff(render(msgspec.structs.replace(opened, detail=after)))))
    sizes = [
        len(encode_patch(diff.diff(render(msgspec.structs.replace(opened, detail=shown)))))
        for shown in drawn(before, after, "l0s1")
    ]
    assert whole > 1024  # what one patch would be
    assert len(sizes) >= 2 and max(sizes) <= 1024, sizes
    assert sum(sizes) <= whole * 1.3  # split, not inflated


def test_a_whole_run_finished_in_one_tick_is_drawn_in_patches_under_a_kilobyte() -> None:
    # The worst tick: all fifty steps go from planned to succeeded (status, attempts and
    # duration change on every node) and the run itself finishes.
    before = detail({})
    after = msgspec.structs.replace(
        detail({i: "succeeded" for i in IDS}, answered=True),
        status="succeeded",
        updated_at_ms=99_000,
        steps=tuple(
            msgspec.structs.replace(s, attempts=3, cached_from="r0")
            for s in detail({i: "succeeded" for i in IDS}, answered=True).steps
        ),
    )
    page = RunsState(
        session="s", connected=True, needs_token=False, listing=RunsListing(0, ()), run="r"
    )
    for open_step in (None, "l9s5"):
        opened = msgspec.structs.replace(page, step=open_step, detail=before)
        diff = DiffState()
        diff.diff(render(opened))
        sizes = [
            len(encode_patch(diff.diff(render(msgspec.structs.replace(opened, detail=shown)))))
            for shown in drawn(before, after, open_step)
        ]
        assert max(sizes) <= 1024, (open_step, sizes)


def test_an_open_step_that_got_everything_in_one_tick_is_drawn_in_two_patches() -> None:
    # The open step goes from submitted (no request file yet) to succeeded with its
    # request, answer, output and trace, the templates of their first showing with them:
    # about 1.2 KB at once. Its node, facts and output come first, the rest after.
    before = detail({"l0s1": "submitted"})
    before = msgspec.structs.replace(
        before,
        steps=(msgspec.structs.replace(before.steps[0], request=None), *before.steps[1:]),
    )
    after = detail({"l0s1": "succeeded"}, answered=True)
    page = RunsState(
        session="s", connected=True, needs_token=False, listing=RunsListing(0, ()), run="r"
    )
    opened = msgspec.structs.replace(page, step="l0s1", detail=before)
    at_once = DiffState()
    at_once.diff(render(opened))
    whole = len(encode_patch(at_once.diff(render(msgspec.structs.replace(opened, detail=after)))))
    diff = DiffState()
    diff.diff(render(opened))
    steps = drawn(before, after, "l0s1")
    sizes = [
        len(encode_patch(diff.diff(render(msgspec.structs.replace(opened, detail=shown)))))
        for shown in steps
    ]
    assert whole > 1024 and len(steps) == 2 and max(sizes) <= 1024, (whole, sizes)
    half = steps[0].steps[0]
    assert half.status == "succeeded" and half.output is not None
    assert half.request is None and half.answer is None and half.trace == ()
    # Only its heavy parts changed (or only its facts): one render.
    assert len(drawn(steps[0], after, "l0s1")) == 1
