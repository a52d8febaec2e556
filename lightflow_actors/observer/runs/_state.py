"""What one runs page holds: its state, the events its browser sends, its URL query.

The page has three modes, chosen by the URL query (so a reload, a reconnect or a page
without JavaScript shows the same thing):

    /runs?status=failed&workflow=text-plan&page=2   the list, filtered and paged
    /runs?run=<id>&step=<step>                     one run, a step selected
    /runs?run=<id>&compare=<other id>              two runs side by side

The state keeps the newest listing and run details the feed published, the operator
token (kept here, never rendered: the observer's ``OperatorToken``), the folded texts
the user opened, and the line reporting the last action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from lightflow_actors.flow import InvalidRunId, check_run_id

from .._state import Notice, OperatorToken
from ._form import FormValue
from ._model import RunDetail, RunMissing, RunRow, RunsListing

StatusFilter: TypeAlias = Literal["", "planned", "running", "succeeded", "failed", "cancelled"]
STATUSES: Final[tuple[StatusFilter, ...]] = get_args(StatusFilter)
PAGE_SIZE: Final = 50
"""Runs per page of the list."""
MAX_PAGE: Final = 100_000
MAX_UNFOLDED: Final = 64
"""Texts a session keeps unfolded at most (the oldest fold again)."""
MAX_KEY: Final = 200


class RunsState(msgspec.Struct, frozen=True, kw_only=True):
    """One runs page.

    ``connected`` is False for the static render of the first GET (no actions). ``detail``
    and ``other`` are the runs named by ``run`` and ``compare`` as last published (None
    until the feed answered). ``pending`` names the action awaited (its ref).
    """

    session: str
    connected: bool
    needs_token: bool
    listing: RunsListing
    workflows: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    run: str | None = None
    step: str | None = None
    compare: str | None = None
    detail: RunDetail | RunMissing | None = None
    other: RunDetail | RunMissing | None = None
    arriving: RunDetail | None = None
    """The newest detail of ``run`` while ``detail`` (what is drawn) moves towards it a
    few steps per patch (``_pacing.py``); None when the page shows the newest."""
    status: StatusFilter = ""
    workflow: str = ""
    page: int = 1
    listed: tuple[RunRow, ...] | None = None
    """The page of runs the browser's list stream holds (None: it holds no list);
    ``_listed.sync_list`` keeps it, ``matched`` with it (the runs the filters keep)."""
    matched: int = 0
    unfolded: tuple[str, ...] = ()
    token: OperatorToken | None = None
    token_notice: Notice | None = None
    notice: Notice | None = None
    form_notice: Notice | None = None
    pending: str | None = None
    asked: int = 0


# -- events from the browser --------------------------------------------------------------


class Filter(msgspec.Struct, frozen=True, tag="filter"):
    """The list's filter form changed."""

    status: StatusFilter = ""
    workflow: str = ""


class SelectStep(msgspec.Struct, frozen=True, tag="step"):
    """A step of the DAG was clicked."""

    step: str


class Unfold(msgspec.Struct, frozen=True, tag="unfold"):
    """ "show all" of a long text was clicked."""

    key: str


class Fold(msgspec.Struct, frozen=True, tag="fold"):
    """ "show less" was clicked."""

    key: str


class UseToken(msgspec.Struct, frozen=True, tag="token"):
    """The token form was submitted."""

    token: str = ""


class Cancel(msgspec.Struct, frozen=True, tag="cancel"):
    """Cancel the run shown."""


class Retry(msgspec.Struct, frozen=True, tag="retry"):
    """Retry the run shown from its failure."""


class CompareWith(msgspec.Struct, frozen=True, tag="compare"):
    """The compare form was submitted: show the run beside run ``compare`` (the form's
    field is named as the URL's, so without JavaScript it is a plain GET)."""

    compare: str = ""


class Create(msgspec.Struct, frozen=True, tag="create"):
    """The list's new-run form was submitted: ``workflow`` with ``inputs`` (a JSON object,
    typed) and ``preset``."""

    workflow: str = ""
    inputs: str = "{}"
    preset: str = ""


class Rerun(msgspec.Struct, frozen=True, tag="rerun"):
    """The re-run form was submitted: field ``i`` of the workflow's inputs is ``f<i>``
    (an event is a typed struct, so the names are fixed; see ``_form.py``); ``inputs``
    is the JSON area of a workflow whose inputs make no form; ``preset`` the preset."""

    preset: str = ""
    inputs: str | None = None
    f0: FormValue = None
    f1: FormValue = None
    f2: FormValue = None
    f3: FormValue = None
    f4: FormValue = None
    f5: FormValue = None
    f6: FormValue = None
    f7: FormValue = None
    f8: FormValue = None
    f9: FormValue = None
    f10: FormValue = None
    f11: FormValue = None
    f12: FormValue = None
    f13: FormValue = None
    f14: FormValue = None
    f15: FormValue = None
    f16: FormValue = None
    f17: FormValue = None
    f18: FormValue = None
    f19: FormValue = None
    f20: FormValue = None
    f21: FormValue = None
    f22: FormValue = None
    f23: FormValue = None

    def values(self) -> list[FormValue]:
        """``f0``, ``f1``... in order."""
        return [getattr(self, f"f{i}") for i in range(24)]


RunsEvent: TypeAlias = (
    Filter | SelectStep | Unfold | Fold | UseToken | Cancel | Retry | CompareWith | Create | Rerun
)


# -- the URL query --------------------------------------------------------------------------


def run_id_param(text: str | None) -> str | None:
    """A run id from the query, or None when it is not a valid run id."""
    if not text:
        return None
    try:
        return check_run_id(text)
    except InvalidRunId:
        return None


def with_params(state: RunsState, params: Mapping[str, str]) -> RunsState:
    """``state`` showing what the query asks (bad values are ignored)."""
    run = run_id_param(params.get("run"))
    compare = run_id_param(params.get("compare")) if run is not None else None
    status = params.get("status", "")
    page_text = params.get("page", "1")
    plain = page_text.isascii() and page_text.isdigit() and len(page_text) <= 6
    step = params.get("step") if run is not None else None
    return msgspec.structs.replace(
        state,
        run=run,
        compare=compare if compare != run else None,
        step=step[:MAX_KEY] if step else None,
        status=status if status in STATUSES else "",
        workflow=params.get("workflow", "")[:MAX_KEY],
        page=min(max(int(page_text), 1), MAX_PAGE) if plain else 1,
        detail=_known(state, run),
        other=_known(state, compare),
        arriving=state.arriving if run == state.run else None,
    )


def _known(state: RunsState, run_id: str | None) -> RunDetail | RunMissing | None:
    """The detail ``state`` already holds of ``run_id`` (either slot), if any."""
    for detail in (state.detail, state.other):
        if detail is not None and run_id is not None and detail.run_id == run_id:
            return detail
    return None


def params_of(state: RunsState, **changes: str | int | None) -> dict[str, str]:
    """The query of ``state`` with ``changes`` (a None drops a parameter)."""
    params: dict[str, str | int | None] = {
        "run": state.run,
        "step": state.step,
        "compare": state.compare,
    }
    if state.run is None:
        params.update(
            status=state.status or None,
            workflow=state.workflow or None,
            page=state.page if state.page > 1 else None,
        )
    params.update(changes)
    return {k: str(v) for k, v in params.items() if v is not None and v != ""}


def unfold(state: RunsState, key: str, open_: bool) -> RunsState:
    key = key[:MAX_KEY]
    kept = tuple(k for k in state.unfolded if k != key)
    if open_:
        kept = (*kept, key)[-MAX_UNFOLDED:]
    return msgspec.structs.replace(state, unfolded=kept)
