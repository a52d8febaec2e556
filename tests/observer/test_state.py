"""The observer's page state: URL query parsing (hostile input), filters, following restarts."""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.adapters.operator_api import SystemSummary
from lightflow_actors.live import to_html
from lightflow_actors.observer._feed import ObservedActor, TreeSnapshot
from lightflow_actors.observer._render import render
from lightflow_actors.observer._state import (
    MAX_SEARCH,
    STATUSES,
    ObserverState,
    OperatorToken,
    matches,
    params_of,
    query,
    with_params,
    with_snapshot,
)

SUMMARY = SystemSummary(
    name="t",
    actors=3,
    supervisors=1,
    messages_total=0,
    messages_per_s=0.0,
    window_s=10.0,
    memory_rss_bytes=None,
    uptime_s=1.0,
    dead_letters=0,
    last_event_id=0,
)


def actor(
    actor_id: int, *, parent: int | None, child_id: str | None, name: str | None = None
) -> ObservedActor:
    return ObservedActor(
        id=actor_id,
        name=name,
        kind="worker" if parent is not None else "supervisor",
        actor_class="Worker" if parent is not None else "Supervisor",
        parent=parent,
        depth=0 if parent is None else 1,
        children=(),
        links=(),
        monitors=(),
        monitored_by=(),
        status="idle",
        mailbox=0,
        processed=0,
        restarts=0,
        trap_exit=False,
        last_crash=None,
        child_id=child_id,
        restart="permanent" if child_id else None,
        strategy=None,
    )


def snapshot(*actors: ObservedActor, version: int = 1) -> TreeSnapshot:
    return TreeSnapshot(version=version, summary=SUMMARY, actors=actors, events=())


SUP = actor(1, parent=None, child_id=None, name="pool")
W2 = actor(2, parent=1, child_id="worker-2")
STATE = ObserverState(session="s", connected=True, needs_token=True, snapshot=snapshot(SUP, W2))

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=3000)
hostile = st.sampled_from(["", "0", "-1", "²", "1e3", " 7", "9" * 5000, "<script>", "\x00"])
params = st.dictionaries(
    st.sampled_from(["actor", "status", "q", "other", ""]), st.one_of(text, hostile), max_size=5
)


@given(params)
def test_any_query_gives_a_sane_state(query_params: dict[str, str]) -> None:
    state = with_params(STATE, query_params)
    assert state.selected is None or (isinstance(state.selected, int) and state.selected >= 0)
    assert state.status in STATUSES
    assert len(state.search) <= MAX_SEARCH
    # What the page puts back in the URL reads back to the same state.
    assert with_params(STATE, params_of(state)) == state
    to_html(render(state))  # renders whatever came in


@given(
    st.sampled_from(STATUSES), st.text(max_size=MAX_SEARCH).map(str.strip), st.integers(0, 10**6)
)
def test_query_round_trips(status: str, search: str, actor_id: int) -> None:
    state = msgspec.structs.replace(STATE, status=status, search=search)  # type: ignore[arg-type]
    again = with_params(STATE, dict(parse_qsl(query(state, actor_id), keep_blank_values=True)))
    assert (again.selected, again.status, again.search) == (actor_id, status, search)


def test_a_restarted_child_stays_selected() -> None:
    state = with_params(STATE, {"actor": "2"})
    assert state.follow == (1, "worker-2")
    restarted = actor(7, parent=1, child_id="worker-2")
    assert with_snapshot(state, snapshot(SUP, restarted, version=2)).selected == 7
    # Gone for good (no child of that spec): the selection stays, the page says it is gone.
    gone = with_snapshot(state, snapshot(SUP, version=3))
    assert gone.selected == 2
    assert "Actor #2 is no longer live" in to_html(render(gone))


def test_filters_match_names_child_ids_classes_and_ids() -> None:
    named = actor(9, parent=1, child_id="w", name="demo.special")
    for needle, hit in [
        ("SPECIAL", True),
        ("w", True),
        ("worker", True),
        ("#9", True),
        ("zz", False),
    ]:
        assert matches(msgspec.structs.replace(STATE, search=needle), named) is hit
    assert not matches(msgspec.structs.replace(STATE, status="busy"), named)


def test_the_token_is_never_rendered_nor_shown_in_a_repr() -> None:
    secret = "s3cret-token-value"
    state = msgspec.structs.replace(STATE, token=OperatorToken(secret))
    assert secret not in to_html(render(state)) and secret not in repr(state)
    assert 'id="token-ok"' in to_html(render(state))
    static = msgspec.structs.replace(STATE, connected=False)
    # Without the live connection no token form (a plain submit would put it in the URL).
    assert 'id="token-form"' not in to_html(render(static))
    assert 'id="actions-off"' in to_html(render(with_params(static, {"actor": "2"})))
