"""The runs page's HTML: templates compiled once, and ``render(state)``.

The list is a stream (key: run id) of one page of ``PAGE_SIZE`` rows, each row memoised
on its immutable ``RunRow``; ``_listed.py`` queues its operations (a run that changed
sends its one row). The DAG is
inline SVG: nodes and edges are keyed lists too, so a step turning green patches its
node's class and text, nothing else. Element ids and ``data-*`` attributes (``data-run``,
``data-step``, ``data-status``, ``data-attempts``, ``data-cache``, ``data-differs``) are
what tests and users' scripts select on. Links are relative (``?run=<id>``), so the page
works at ``/runs`` and under a host's ``/ops/runs`` alike.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

import msgspec

from lightflow_actors.flow import ErrorObserved, RequestCommitted, ResponseObserved, TraceRecord
from lightflow_actors.isa import JSONValue
from lightflow_actors.live import Comprehension, Rendered, Template, each, keyed, streamed

from .._render import token_line
from ._form import FormField, fields_of, shown_value
from ._layout import NODE_H, NODE_W, EdgePath, NodeBox
from ._model import RunDetail, RunMissing, RunRow, StepView
from ._outputs import (
    IMAGE,
    JSON,
    LESS,
    MARKDOWN,
    MORE,
    PROBLEM,
    SHOW_JSON,
    WITH_TEXT,
    answer_text,
    image_src,
    render_file,
)
from ._state import PAGE_SIZE, STATUSES, RunsState, params_of

PAGE = Template(
    '<div class="runs-page"><header><h1>Runs <small id="subtitle">{subtitle}</small></h1>'
    '<nav><a href="./">home</a> · <a lf-patch href="?" id="all-runs">all runs</a> · '
    '<a href="observer">observer</a> · <a href="openapi.yaml">API</a></nav>'
    '<span id="live" class="live {live_class}" role="status">{live_text}</span></header>'
    '{token}<p id="action-result" class="result{notice_class}" role="status">{notice}</p>'
    "{body}</div>"
)
LIST = Template(
    '<section id="runs-list" class="pane">'
    '<form id="filters" class="filters" method="get" lf-change="filter">'
    '<label>status <select name="status">{statuses}</select></label> '
    '<label>workflow <select name="workflow">{workflows}</select></label>'
    '<noscript> <button type="submit">Filter</button></noscript></form>'
    '<p id="runs-count" class="hint">{count}</p>'
    '<table class="runs"><thead><tr><th>run</th><th>status</th><th>workflow</th>'
    "<th>created</th><th>duration</th><th>steps</th></tr></thead>"
    '<tbody id="runs-rows" lf-update="stream">{rows}</tbody></table>'
    '<nav class="pager" id="pager">{prev} <span id="page-of">page {page} of {pages}</span> '
    "{next}</nav></section>{new_run}"
)
NEW_RUN = Template(
    '<section id="new-run" class="pane"><h3>New run</h3>'
    '<form id="new-run-form" class="rerun" method="post" lf-submit="create">'
    '<div class="field"><label>workflow <select name="workflow" id="new-workflow">'
    "{workflows}</select></label></div>"
    '<div class="field"><label>preset <select name="preset">{presets}</select></label></div>'
    '<div class="field"><label>inputs <textarea name="inputs" rows="3">{{}}</textarea>'
    "</label><small>a JSON object; a preset fills what it leaves out. To change a run's "
    "inputs field by field, open the run: its re-run form is made from its inputs.</small>"
    '</div><button type="submit" id="create-submit">Create run</button></form>'
    '<p id="create-result" class="result{error_class}" role="status">{result}</p></section>'
)
OPTION = Template('<option value="{value}"{selected}>{text}</option>')
ROW = Template(
    '<tr id="run-{id}" class="status-{status}" data-run="{id}" data-status="{status}">'
    '<td><a lf-patch href="?{href}">{id}</a></td>'
    '<td><span class="badge status-{status}">{status}</span></td><td>{workflow}</td>'
    '<td>{created}</td><td>{duration}</td><td data-field="steps">{done}/{total}</td></tr>'
)
PAGE_LINK = Template('<a lf-patch href="?{href}" id="{id}">{text}</a>')
LOADING = Template('<p class="hint" id="loading">{text}</p>')
MISSING = Template('<p class="problem" id="missing">{text}</p>')
RUN = Template(
    # What changes on most ticks (the duration, the steps done) is a node of its own with
    # one root element (RUN_META), so the browser paints that paragraph alone; so are the
    # title and the panes. A dynamic of RUN itself repaints the whole section, but for its
    # root's attributes (the status, when the run ends), which the client sets in place.
    '<section id="run" data-run="{run_id}" data-status="{status}">{heading}{meta}'
    "{actions}"
    '<div class="dag-wrap"><svg id="dag" xmlns="http://www.w3.org/2000/svg" '
    'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
    'aria-label="the workflow&#39;s steps and their dependencies">'
    '<g class="edges">{edges}</g><g class="nodes">{nodes}</g></svg></div>'
    '<div class="panes">{step}{rerun}</div></section>'
)
RUN_HEADING = Template(
    # The run id in the monospace face the step panel's outputs use (`.out pre`, same
    # size): the page's first render loads that font, not the patch that opens a step.
    # Each value the only text of its element: the run's end sets its status in place.
    '<h2><span>{title}</span> <small><code class="run-id">{run_id}</code></small> '
    '<span class="badge status-{status}" id="run-status">{status}</span></h2>'
)
RUN_META = Template(
    # Each value the only text of its element: the client sets a changed one in place
    # (lightflow-live.js section 2e) instead of parsing and morphing the paragraph.
    '<p class="meta" id="run-meta">workflow <span>{workflow}</span> · created '
    '<span>{created}</span> · duration <span id="run-duration">{duration}</span> · '
    '<span id="run-steps">{steps}</span> steps done<span>{preset}</span></p>'
)
RERUN = Template('<section class="pane" id="rerun">{form}{compare}</section>')
ACTIONS = Template(
    '<div id="run-actions" class="actions">'
    '<button type="button" id="act-cancel" lf-click="cancel"{cancel_off}>Cancel</button>'
    '<button type="button" id="act-retry" lf-click="retry"{retry_off}>'
    "Retry from the failure</button></div>"
)
NO_ACTIONS = Template('<p class="hint" id="actions-off">{text}</p>')
NODE = Template(
    # The status is one dynamic (the stylesheet selects on data-status): a step that moves
    # on patches that one value and its line of facts.
    '<g id="node-{id}" class="node{selected}" data-step="{id}" data-status="{status}" '
    'data-attempts="{attempts}" data-cache="{cache}" lf-click="step" lf-value-step="{id}" '
    'transform="translate({x},{y})">'
    f'<rect width="{NODE_W}" height="{NODE_H}" rx="8"></rect>'
    '<text x="10" y="20" class="name">{label}</text>'
    '<text x="10" y="40" class="meta">{meta}</text><title>{tooltip}</title></g>'
)
EDGE = Template('<path id="edge-{key}" class="edge" d="{d}"></path>')
"""Edges are drawn once (a run's plan never changes) and never patched."""
STEP = Template(
    # One root element, and each value the only content of its element: a step that moves
    # on sets its facts in place (lightflow-live.js section 2e); its output, answer,
    # request and trace are nodes of their own (FILE, TRACES), so the one that arrives is
    # painted in its own element, not the panel nor the run's section.
    '<section class="pane" id="step-detail"><h3>Step <span id="step-id">{id}</span> '
    '<span class="badge status-{status}">{status}</span></h3>'
    '<dl class="step-facts">'
    '<dt>target</dt><dd data-field="target">{target}</dd>'
    '<dt>model</dt><dd data-field="model">{model}</dd>'
    '<dt>route</dt><dd data-field="route">{route}</dd>'
    '<dt>attempts</dt><dd data-field="attempts">{attempts}</dd>'
    '<dt>duration</dt><dd data-field="duration">{duration}</dd>'
    '<dt>cache</dt><dd data-field="cache">{cache}</dd>'
    '<dt>error</dt><dd data-field="error" class="error">{error}</dd></dl>'
    '<h4>Output</h4><div id="step-output" class="out">{output}</div>'
    '<h4>Answer</h4><div id="step-answer" class="out">{answer}</div>'
    '<h4>Rendered request</h4><div id="step-request" class="out">{request}</div>'
    '<h4>Trace</h4><div class="trace-box">{trace}</div></section>'
)
FILE = Template('<div class="file">{body}</div>')
"""A request, answer or output in the step panel: "—" until it is there."""
TRACES = Template('<ol id="step-trace" class="trace">{entries}</ol>')
NO_STEP = Template(
    '<section class="pane" id="step-detail"><p class="hint" id="no-step">{text}</p></section>'
)
TRACE = Template('<li class="{kind}">{text}</li>')
FORM = Template(
    "<h3>Re-run with changed inputs</h3>"
    '<form id="rerun-form" class="rerun" method="post" lf-submit="rerun">{fields}'
    '<div class="field"><label>preset <select name="preset" id="preset">{presets}</select>'
    "</label></div>"
    '<button type="submit" id="rerun-submit">Run</button></form>'
    '<p id="form-result" class="result{error_class}" role="status">{result}</p>'
)
FORM_OFF = Template('<h3>Re-run</h3><p class="hint" id="rerun-off">{text}</p>')
FIELD = Template(
    '<div class="field" data-input="{name}"><label>{name}{required} '
    "{control}</label><small>{hint}</small></div>"
)
TEXT_INPUT = Template('<input name="{field}" type="text" value="{value}"{required}>')
NUMBER_INPUT = Template(
    '<input name="{field}" type="number" step="{step}" value="{value}"{required}>'
)
CHECKBOX = Template('<input name="{field}" type="checkbox"{checked}>')
SELECT = Template('<select name="{field}">{options}</select>')
TEXTAREA = Template('<textarea name="{field}" rows="3">{value}</textarea>')
COMPARE_FORM = Template(
    '<h3>Compare</h3><form id="compare-form" method="get" lf-submit="compare">'
    '<input type="hidden" name="run" value="{run}">'
    '<label>with <select name="compare">{options}</select></label> '
    '<button type="submit" id="compare-submit">Compare</button></form>'
)
COMPARE = Template(
    '<section id="compare" data-run="{a}" data-compare="{b}">'
    '<h2>Compare <a lf-patch href="?{a_href}">{a}</a> with <a lf-patch href="?{b_href}">{b}</a>'
    "</h2>{warning}"
    '<h3>Inputs</h3><table class="compare" id="compare-inputs"><thead><tr><th>input</th>'
    "<th>{a}</th><th>{b}</th></tr></thead><tbody>{inputs}</tbody></table>"
    '<h3>Steps</h3><table class="compare" id="compare-steps"><thead><tr><th>step</th>'
    "<th>{a}</th><th>{b}</th></tr></thead><tbody>{steps}</tbody></table></section>"
)
INPUT_ROW = Template(
    '<tr class="{differs}" data-input="{name}" data-differs="{flag}"><th>{name}</th>'
    "<td><code>{a}</code></td><td><code>{b}</code></td></tr>"
)
STEP_ROW = Template(
    '<tr class="{differs}" data-step="{id}" data-differs="{flag}"><th>{id}</th>'
    "<td>{a}</td><td>{b}</td></tr>"
)
STEP_CELL = Template(
    '<span class="badge status-{status}">{status}</span> <small>{facts}</small>'
    '<div class="out">{output}</div>'
)
WARNING = Template('<p class="problem" id="compare-warning">{text}</p>')
TEXT = Template("<span>{text}</span>")

STEP_PANEL: Final = (
    STEP,
    FILE,
    TRACES,
    TRACE,
    MARKDOWN,
    JSON,
    WITH_TEXT,
    SHOW_JSON,
    MORE,
    LESS,
    IMAGE,
    PROBLEM,
)
"""The open step's panel and what it shows: sent with the page's full render
(`RunsView.preload`), so the patches that bring a step's output, answer, request and
trace carry values alone."""

MAX_COMPARE_CHOICES: Final = 100
LIST_STREAM: Final = "runs"
"""The stream of the list's rows (``_listed.py`` fills it)."""


def render(state: RunsState) -> Rendered:
    """The whole page for ``state``."""
    notice = state.notice
    if state.run is None:
        subtitle, body = "every run, newest first", _list(state)
    elif state.compare is not None:
        subtitle, body = f"{state.run} and {state.compare}", _compare(state)
    else:
        subtitle, body = state.run, _run(state)
    return PAGE(
        subtitle=subtitle,
        live_class="on" if state.connected else "off",
        live_text="live" if state.connected else "static snapshot: reload to refresh",
        token=_token(state),
        notice_class=" error" if notice is not None and notice.error else "",
        notice=notice.text if notice is not None else "",
        body=body,
    )


# -- formatting -------------------------------------------------------------------------------


def utc(ms: int) -> str:
    """Unix ms as ``YYYY-MM-DD HH:MM:SS`` UTC (formatting a given time; no clock is read)."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {rest}s"


def _query(params: Mapping[str, str]) -> str:
    return urlencode(sorted(params.items()))


# -- the list ---------------------------------------------------------------------------------


def _list(state: RunsState) -> Rendered:
    matched = state.matched
    pages = max(1, -(-matched // PAGE_SIZE))
    page = min(state.page, pages)
    total = len(state.listing.rows)
    count = f"{total} runs" if matched == total else f"{matched} of {total} runs"
    workflows = ("", *state.listing.workflows())
    if state.workflow and state.workflow not in workflows:
        workflows = (*workflows, state.workflow)
    return LIST(
        statuses=each(OPTION, [_option(s, s or "any", s == state.status) for s in STATUSES]),
        workflows=each(OPTION, [_option(w, w or "any", w == state.workflow) for w in workflows]),
        count=count,
        rows=streamed(LIST_STREAM, ROW),
        prev=_page_link(state, page - 1, "page-prev", "← newer") if page > 1 else None,
        next=_page_link(state, page + 1, "page-next", "older →") if page < pages else None,
        page=page,
        pages=pages,
        new_run=_new_run(state),
    )


def _new_run(state: RunsState) -> Rendered | None:
    if not state.connected or not state.workflows:
        return None
    notice = state.form_notice
    return NEW_RUN(
        workflows=each(OPTION, [_option(w, w, w == state.workflow) for w in state.workflows]),
        presets=each(
            OPTION, [_option("", "none", True)] + [_option(p, p, False) for p in state.presets]
        ),
        error_class=" error" if notice is not None and notice.error else "",
        result=notice.text if notice is not None else "",
    )


def _option(value: str, text: str, selected: bool) -> Rendered:
    return OPTION(value=value, selected=" selected" if selected else "", text=text)


def _page_link(state: RunsState, page: int, id_: str, text: str) -> Rendered:
    return PAGE_LINK(
        href=_query(params_of(state, page=page if page > 1 else None)), id=id_, text=text
    )


@functools.lru_cache(maxsize=4 * PAGE_SIZE)
def render_row(row: RunRow) -> Rendered:
    """One list row, memoised on the immutable ``row``."""
    return ROW(
        id=row.run_id,
        status=row.status,
        href=_query({"run": row.run_id}),
        workflow=row.workflow,
        created=utc(row.created_at_ms),
        duration=duration(row.duration_ms),
        done=row.done,
        total=row.total,
    )


# -- one run ----------------------------------------------------------------------------------


def _run(state: RunsState) -> Rendered:
    detail = state.detail
    if detail is None:
        return LOADING(text=f"Reading run {state.run}…")
    if isinstance(detail, RunMissing):
        return MISSING(text=detail.message)
    selected = detail.step(state.step)
    nodes = [(box.id, _node(detail, box, state.step)) for box in detail.layout.nodes]
    return RUN(
        run_id=detail.run_id,
        status=detail.status,
        heading=RUN_HEADING(
            title=detail.title or detail.workflow, run_id=detail.run_id, status=detail.status
        ),
        meta=RUN_META(
            workflow=detail.workflow,
            created=utc(detail.created_at_ms),
            duration=duration(detail.updated_at_ms - detail.created_at_ms),
            steps=f"{detail.done}/{len(detail.steps)}",
            preset=f" · preset {detail.preset}" if detail.preset else "",
        ),
        actions=_actions(state, detail),
        width=detail.layout.width,
        height=detail.layout.height,
        edges=_edges(detail),
        nodes=keyed(NODE, [(key, node) for key, node in nodes if node is not None]),
        step=_step(state, detail, selected),
        rerun=RERUN(form=_form(state, detail), compare=_compare_form(state, detail)),
    )


def _node(detail: RunDetail, box: NodeBox, selected: str | None) -> Rendered | None:
    step = detail.step(box.id)
    if step is None:
        return None
    # Attempts only past the first (data-attempts has them all): a step that is
    # submitted then patches its status alone.
    facts = [f"{step.attempts} attempts"] if step.attempts > 1 else []
    if step.duration_ms is not None:
        facts.append(duration(step.duration_ms))
    if step.cache_hit:
        facts.append("cache hit")
    label = step.id if len(step.id) <= 20 else step.id[:19] + "…"
    return NODE(
        id=step.id,
        status=step.status,
        selected=" selected" if step.id == selected else "",
        attempts=step.attempts,
        cache="hit" if step.cache_hit else "miss",
        x=box.x,
        y=box.y,
        label=label,
        meta=" · ".join(facts),
        tooltip=step.id + (f": {step.error}" if step.error else ""),
    )


@functools.lru_cache(maxsize=64)
def _drawn_edges(edges: tuple[EdgePath, ...]) -> Comprehension:
    return keyed(
        EDGE, [(f"{e.source}>{e.target}", EDGE(key=f"{e.source}>{e.target}", d=e.d)) for e in edges]
    )


def _edges(detail: RunDetail) -> Comprehension:
    """The run's edges, rendered once per plan (the same object: the diff skips it)."""
    return _drawn_edges(detail.layout.edges)


def _actions(state: RunsState, detail: RunDetail) -> Rendered:
    if not state.connected:
        return NO_ACTIONS(text="Cancel, retry and re-run need the live page (JavaScript).")
    return ACTIONS(
        cancel_off="" if detail.status in ("planned", "running") else " disabled",
        retry_off="" if detail.status == "failed" else " disabled",
    )


def _step(state: RunsState, detail: RunDetail, step: StepView | None) -> Rendered:
    if step is None:
        return NO_STEP(text="Click a step of the graph to see its request, answer and output.")
    key = f"{detail.run_id}/{step.id}"
    route = step.route or {}
    route_text = " · ".join(
        f"{name} {route[name]}" for name in ("provider", "model") if route.get(name) is not None
    )
    return STEP(
        id=step.id,
        status=step.status,
        target=f"{step.target} {step.address}",
        model=step.model or "—",
        route=route_text or "—",
        attempts=step.attempts,
        duration=duration(step.duration_ms),
        cache=f"hit: reused {step.cached_from}" if step.cached_from else "miss",
        error=step.error or "—",
        output=FILE(
            body=render_file(
                step.output, key + ":output", state.unfolded, image_src(detail.run_id, step.id)
            )
            or "—"
        ),
        answer=FILE(
            body=render_file(step.answer, key + ":answer", state.unfolded, text_of=answer_text)
            or "—"
        ),
        request=FILE(body=render_file(step.request, key + ":request", state.unfolded) or "—"),
        trace=TRACES(entries=each(TRACE, [_trace(record) for record in step.trace])),
    )


def _trace(record: TraceRecord) -> Rendered:
    if isinstance(record, RequestCommitted):
        text = f"#{record.seq} {utc(record.ts_ms)} request {record.request_id} committed"
        text += f" (attempt {record.attempt})"
    elif isinstance(record, ResponseObserved):
        text = f"#{record.seq} {utc(record.ts_ms)} answer to {record.request_id} observed"
    else:
        assert isinstance(record, ErrorObserved)
        text = f"#{record.seq} {utc(record.ts_ms)} error on {record.request_id}: {record.error}"
    return TRACE(kind=record.__struct_config__.tag or "", text=text)


def _form(state: RunsState, detail: RunDetail) -> Rendered:
    if not state.connected:
        return FORM_OFF(text="Re-running needs the live page (JavaScript).")
    fields = fields_of(detail.input_schema)
    if fields is None:
        controls = [
            FIELD(
                name="inputs",
                required=" *",
                control=TEXTAREA(
                    field="inputs",
                    value=msgspec.json.format(msgspec.json.encode(detail.inputs)).decode(),
                ),
                hint="the inputs as a JSON object",
            )
        ]
    else:
        controls = [_field(i, field, detail.inputs) for i, field in enumerate(fields)]
    prefix = f"{detail.workflow}."
    presets = [p for p in state.presets if p.startswith(prefix)]
    notice = state.form_notice
    return FORM(
        fields=each(FIELD, controls),
        presets=each(
            OPTION,
            [_option("", "none", not detail.preset)]
            + [_option(p, p, p == detail.preset) for p in presets],
        ),
        error_class=" error" if notice is not None and notice.error else "",
        result=notice.text if notice is not None else "",
    )


def _field(index: int, field: FormField, inputs: dict[str, JSONValue]) -> Rendered:
    name = f"f{index}"
    value = shown_value(field, inputs)
    required = " required" if field.required else ""
    control: Rendered
    if field.kind == "boolean":
        control = CHECKBOX(field=name, checked=" checked" if value is True else "")
    elif field.kind == "choice":
        options = [_option(c, c, c == value) for c in field.choices]
        if not field.required:
            options.insert(0, _option("", "(default)", value == ""))
        control = SELECT(field=name, options=each(OPTION, options))
    elif field.kind in ("integer", "number"):
        step = "1" if field.kind == "integer" else "any"
        control = NUMBER_INPUT(field=name, step=step, value=str(value), required=required)
    elif field.kind == "text":
        control = TEXT_INPUT(field=name, value=str(value), required=required)
    else:
        control = TEXTAREA(field=name, value=str(value))
    hint = field.kind if field.kind != "choice" else "one of " + ", ".join(field.choices)
    if field.has_default:
        hint += f" · default {msgspec.json.encode(field.default).decode()}"
    if field.description:
        hint += f" · {field.description}"
    return FIELD(
        name=field.name, required=" *" if field.required else "", control=control, hint=hint
    )


def _compare_form(state: RunsState, detail: RunDetail) -> Rendered | None:
    others = [
        row.run_id
        for row in state.listing.rows
        if row.workflow == detail.workflow and row.run_id != detail.run_id
    ][:MAX_COMPARE_CHOICES]
    if not others:
        return None
    return COMPARE_FORM(
        run=detail.run_id,
        options=each(OPTION, [_option(run_id, run_id, False) for run_id in others]),
    )


# -- two runs -----------------------------------------------------------------------------------


def _compare(state: RunsState) -> Rendered:
    a, b = state.detail, state.other
    if a is None or b is None:
        return LOADING(text=f"Reading runs {state.run} and {state.compare}…")
    if isinstance(a, RunMissing) or isinstance(b, RunMissing):
        missing = a if isinstance(a, RunMissing) else b
        assert isinstance(missing, RunMissing)
        return MISSING(text=missing.message)
    warning = None
    if a.workflow != b.workflow:
        warning = WARNING(
            text=f"These runs are of different workflows ({a.workflow}, {b.workflow}): "
            "only steps with the same id are set side by side."
        )
    names = list(dict.fromkeys([*a.inputs, *b.inputs]))
    inputs = [_input_row(name, a.inputs, b.inputs) for name in names]
    steps = [
        _step_row(state, step.id, a, b)
        for step in (*a.steps, *(s for s in b.steps if a.step(s.id) is None))
    ]
    return COMPARE(
        a=a.run_id,
        b=b.run_id,
        a_href=_query({"run": a.run_id}),
        b_href=_query({"run": b.run_id}),
        warning=warning,
        inputs=keyed(INPUT_ROW, [(name, row) for name, row in zip(names, inputs, strict=True)]),
        steps=keyed(STEP_ROW, steps),
    )


_MISSING = object()


def _json_text(value: object) -> str:
    if value is _MISSING:
        return "(not given)"
    return msgspec.json.encode(value).decode()


def _input_row(name: str, a: dict[str, JSONValue], b: dict[str, JSONValue]) -> Rendered:
    left, right = a.get(name, _MISSING), b.get(name, _MISSING)
    differs = left != right
    return INPUT_ROW(
        differs="differs" if differs else "same",
        flag="yes" if differs else "no",
        name=name,
        a=_json_text(left),
        b=_json_text(right),
    )


def _step_row(state: RunsState, step_id: str, a: RunDetail, b: RunDetail) -> tuple[str, Rendered]:
    left, right = a.step(step_id), b.step(step_id)
    out_a = left.output.value if left is not None and left.output is not None else None
    out_b = right.output.value if right is not None and right.output is not None else None
    differs = (left is None) != (right is None) or out_a != out_b
    return step_id, STEP_ROW(
        differs="differs" if differs else "same",
        flag="yes" if differs else "no",
        id=step_id,
        a=_cell(state, a, left),
        b=_cell(state, b, right),
    )


def _cell(state: RunsState, detail: RunDetail, step: StepView | None) -> Rendered:
    if step is None:
        return STEP_CELL(status="absent", facts="no such step", output=None)
    facts = [f"{step.attempts} attempt(s)", duration(step.duration_ms)]
    if step.cache_hit:
        facts.append("cache hit")
    key = f"{detail.run_id}/{step.id}:compare"
    output = render_file(step.output, key, state.unfolded, image_src(detail.run_id, step.id))
    if output is None and step.error:
        output = TEXT(text=step.error)
    return STEP_CELL(status=step.status, facts=" · ".join(facts), output=output)


def _token(state: RunsState) -> Rendered | None:
    return token_line(state, "cancel, retry and re-run", "cancel, retry or re-run")
