"""The observer's HTML: templates compiled once, and ``render(state)``.

The tree is one flat keyed list (key: actor id) indented by depth, so the diff sends only
rows that changed: a restart deletes the old actor's row and inserts the new one; a ticking
counter patches its one field. Rows are memoised on the (immutable) actor, so an unchanged
actor renders to the very same object and the diff skips it at once. Element ids and
``data-*`` attributes (``data-label``, ``data-status``, ``data-restarts``) are what tests
and users' scripts select on. Links are relative (``?actor=12``), so the page works at
``/observer`` and under a host's ``/ops/observer`` alike.
"""

from __future__ import annotations

import datetime
import functools
from typing import Final, Protocol
from urllib.parse import urlencode

from lightflow_actors.adapters.http import SystemSummary
from lightflow_actors.kernel import LifecycleEvent
from lightflow_actors.live import Comprehension, Rendered, Template, each, keyed
from lightflow_actors.supervision import Crash, PendingChild

from ._charts import render_charts, render_timeline
from ._feed import ClusterNodeRow, ObservedActor
from ._paths import readable_traceback
from ._state import (
    STATUSES,
    Notice,
    ObserverState,
    OperatorToken,
    actors_of,
    find,
    matches,
    node_row,
    query,
)

PEER_ACTIONS: Final = (
    "Stop, restart and kill act on this node's actors: open that node's own observer."
)
MAX_ROWS: Final = 1000
"""Rows shown at most; beyond, the page says how many match and asks to filter."""

LOG_EVENTS: Final = 30
"""Lifecycle events in the page's event log (newest first)."""

ACTOR_EVENTS: Final = 10
"""Lifecycle events in the selected actor's panel."""

PAGE = Template(
    '<div class="observer"><header><h1>Observer <small id="system">{system}</small></h1>'
    '<nav><a href="./">home</a> · <a href="openapi.yaml">API</a> · '
    '<a href="system/tree">tree as JSON</a></nav>'
    '<span id="live" class="live {live_class}" role="status">{live_text}</span></header>'
    '<section id="summary" class="summary" aria-label="System summary">{summary}</section>'
    "{nodes}{charts}"
    '{token}<div class="panes">'
    '<section class="pane"><h2>Supervision tree{of_node} <small id="tree-count">{count}'
    "</small></h2>{peer}{filters}"
    '<ol id="tree" class="tree">{rows}</ol>{more}</section>'
    '<section class="pane"><h2>Actor</h2><div id="detail" class="detail">{detail}</div>'
    '<p id="action-result" class="result{notice_class}" role="status">{notice}</p>'
    '<h2>Lifecycle events</h2><ol id="events" class="events">{events}</ol></section>'
    "</div></div>"
)
CLUSTER = Template(
    # The cluster summary (one row per node, as this node's registry hears them) and the
    # node selector: a node's name or the select shows its tree in the page's tree pane.
    '<section id="nodes" class="nodes" aria-label="Cluster nodes"><h2>Cluster '
    '<small id="cluster-count">{count}</small></h2>'
    '<form id="node-select" class="filters" method="get" lf-change="node">'
    '<label>show the tree of <select name="node" id="node-choice">{options}</select></label>'
    '<noscript> <button type="submit">Show</button></noscript></form>'
    '<table class="cluster" id="cluster"><thead><tr><th>node</th><th>status</th>'
    "<th>actors</th><th>supervisors</th><th>busy</th><th>in mailboxes</th><th>restarts</th>"
    "<th>crashed</th><th></th></tr></thead><tbody>{rows}</tbody></table></section>"
)
CLUSTER_ROW = Template(
    '<tr id="node-{node}" class="cluster-node {status}{selected}" data-node="{node}" '
    'data-status="{status}"{current}><th><a lf-patch href="?{href}">{node}</a></th>'
    '<td><span class="badge status-{status}">{status}</span></td>'
    '<td data-field="actors">{actors}</td><td data-field="supervisors">{supervisors}</td>'
    '<td data-field="busy">{busy}</td><td data-field="mailbox">{mailbox}</td>'
    '<td data-field="restarts">{restarts}</td><td data-field="crashed">{crashed}</td>'
    '<td class="hint">{note}</td></tr>'
)
PEER = Template('<p class="hint" id="peer-tree">{text}</p>')
SUMMARY = Template(
    "<div><b>{actors}</b><span>actors</span></div>"
    "<div><b>{supervisors}</b><span>supervisors</span></div>"
    "<div><b>{rate:.1f}</b><span>messages/s</span></div>"
    "<div><b>{memory}</b><span>memory (RSS)</span></div>"
    "<div><b>{uptime}</b><span>uptime</span></div>"
    "<div><b>{last_event}</b><span>last event</span></div>"
)
TOKEN_FORM = Template(
    # method=post: should a submit ever escape the client, the token is not put in a URL.
    '<form id="token-form" class="token" method="post" lf-submit="token">'
    '<label>Operator token <input id="token" name="token" type="password" '
    'autocomplete="off" value=""></label> <button type="submit">Use token</button> '
    '<span class="hint{error_class}" id="token-hint">{hint}</span></form>'
)
TOKEN_OK = Template('<p id="token-ok" class="token ok">{text}</p>')
FILTERS = Template(
    '<form id="filters" class="filters" method="get" lf-change="filter" lf-debounce="200">'
    '<input type="hidden" name="actor" value="{actor}">'
    '<input type="hidden" name="node" value="{node}">'
    '<label>status <select name="status">{options}</select></label> '
    '<label>name <input name="q" type="search" value="{q}" autocomplete="off" '
    'maxlength="100" placeholder="name, child id or class"></label>'
    '<noscript> <button type="submit">Filter</button></noscript></form>'
)
OPTION = Template('<option value="{value}"{selected}>{text}</option>')
ROW = Template(
    '<li id="actor-{id}" class="{kind}{selected}" data-id="{id}" data-label="{label}" '
    'data-status="{status}" data-restarts="{restarts}" style="--depth: {depth}">'
    '<a class="node status-{status}" lf-patch href="?{href}" title="{actor_class} #{id} '
    '({status})"><span class="dot"></span><span class="label">{label}</span>'
    '<span class="kind">{actor_class} #{id}{strategy}{tenant}</span>'
    '<span class="meta">mailbox {mailbox} · processed {processed} · restarts {restarts}</span>'
    "{crash}</a>{pending}</li>"
)
CRASH = Template('<span class="crash">{reason}</span>')
LAST_CRASH = Template(
    # The traceback is folded (a <details>): it is long, and one crash at a time matters.
    '<details class="crash-report" data-child="{child_id}" data-at="{at_ms}">'
    '<summary>{what}</summary><pre class="traceback">{traceback}</pre></details>'
)
PENDING = Template(
    '<span class="pending status-{status}" data-child="{child_id}" data-status="{status}" '
    'data-restart-at="{restart_at_ms}">{child_id} ({kind}) {status}{when}{why}</span>'
)
MORE = Template('<p class="more" id="tree-more">{text}</p>')
DETAIL = Template(
    "<dl>"
    '<dt>id</dt><dd data-field="id">{id}</dd>'
    '<dt>name</dt><dd data-field="name">{name}</dd>'
    '<dt>class</dt><dd data-field="class">{actor_class}</dd>'
    '<dt>kind</dt><dd data-field="kind">{kind}</dd>'
    '<dt>status</dt><dd data-field="status">{status}</dd>'
    '<dt>supervisor</dt><dd data-field="supervisor">{parent}</dd>'
    '<dt>child id</dt><dd data-field="child id">{child_id}</dd>'
    '<dt>restart</dt><dd data-field="restart">{restart}</dd>'
    '<dt>strategy</dt><dd data-field="strategy">{strategy}</dd>'
    '<dt>children</dt><dd data-field="children">{children}</dd>'
    '<dt>links</dt><dd data-field="links">{links}</dd>'
    '<dt>monitors</dt><dd data-field="monitors">{monitors}</dd>'
    '<dt>monitored by</dt><dd data-field="monitored by">{monitored_by}</dd>'
    '<dt>traps exits</dt><dd data-field="traps exits">{trap_exit}</dd>'
    '<dt>mailbox</dt><dd data-field="mailbox">{mailbox}</dd>'
    '<dt>processed</dt><dd data-field="processed">{processed}</dd>'
    '<dt>restarts</dt><dd data-field="restarts">{restarts}</dd>'
    '<dt>last crash</dt><dd data-field="last crash">{last_crash}</dd>'
    '<dt>tenant</dt><dd data-field="tenant">{tenant}</dd>'
    '<dt>remark</dt><dd data-field="remark">{remark}</dd>'
    "</dl>{crash}{timeline}{actions}"
    '<h3>Recent events</h3><ul id="recent" class="recent">{events}</ul>'
)
REF = Template('<a class="ref" lf-patch href="?{href}">#{id} {label}</a> ')
ACTIONS = Template(
    '<div id="actions" class="actions">'
    '<button type="button" id="act-stop" lf-click="act" lf-value-action="stop" '
    'lf-value-id="{id}">Stop</button>'
    '<button type="button" id="act-restart" lf-click="act" lf-value-action="restart" '
    'lf-value-id="{id}">Restart</button>'
    '<button type="button" id="act-kill" class="danger" lf-click="act" '
    'lf-value-action="kill" lf-value-id="{id}">Kill</button></div>'
)
NO_ACTIONS = Template('<p class="hint" id="actions-off">{text}</p>')
GONE = Template('<p class="gone" id="gone">Actor #{id} is no longer live{how}.</p>')
EVENT = Template('<li class="{kind}{orderly}" data-seq="{seq}">{text}</li>')
TEXT = Template("<p>{text}</p>")


def render(state: ObserverState) -> Rendered:
    """The whole page for ``state``."""
    snapshot = state.snapshot
    actors = actors_of(state)
    peer = node_row(state)
    shown = [actor for actor in actors if matches(state, actor)]
    count = f"{len(actors)} actors"
    if len(shown) != len(actors):
        count += f" · {len(shown)} shown"
    rows = [
        (actor.id, render_row(actor, actor.id == state.selected, query(state, actor.id)))
        for actor in shown[:MAX_ROWS]
    ]
    more = None
    if len(shown) > MAX_ROWS:
        more = MORE(text=f"… {len(shown) - MAX_ROWS} more; filter by status or name to see them")
    notice = state.notice
    return PAGE(
        system=snapshot.summary.name,
        live_class="on" if state.connected else "off",
        live_text="live" if state.connected else "static snapshot: reload to refresh",
        summary=_summary(snapshot.summary),
        nodes=_cluster(state),
        charts=render_charts(snapshot.history),
        token=_token(state),
        of_node=f" of node {peer.node}" if peer is not None else "",
        peer=_peer(peer) if peer is not None else None,
        count=count,
        filters=_filters(state),
        rows=keyed(ROW, rows),
        more=more,
        detail=_detail(state),
        notice_class=" error" if notice is not None and notice.error else "",
        notice=notice.text if notice is not None else "",
        events=keyed(EVENT, [(e.seq, _event(e)) for e in reversed(snapshot.events[-LOG_EVENTS:])]),
    )


@functools.lru_cache(maxsize=4 * MAX_ROWS)
def render_row(actor: ObservedActor, selected: bool, href: str) -> Rendered:
    """One tree row, memoised on the immutable ``actor``."""
    return ROW(
        id=actor.id,
        kind=actor.kind,
        selected=" selected" if selected else "",
        label=actor.label,
        status=actor.status,
        restarts=actor.restarts,
        depth=actor.depth,
        href=href,
        actor_class=actor.actor_class,
        strategy=f" · {actor.strategy}" if actor.strategy else "",
        tenant=f" · tenant {actor.tenant}" if actor.tenant else "",
        mailbox=actor.mailbox,
        processed=actor.processed,
        crash=_crash_line(actor),
        pending=each(PENDING, [_pending(p) for p in actor.pending]) if actor.pending else None,
    )


def _crash_line(actor: ObservedActor) -> Rendered | None:
    """The row's red line: this actor's crash, else the last one under its child spec."""
    if actor.last_crash:
        return CRASH(reason=actor.last_crash)
    if actor.crash is not None:
        return CRASH(reason=f"restarted after {actor.crash.reason}")
    return None


def _crash_text(actor: ObservedActor) -> str:
    if actor.last_crash:
        return actor.last_crash
    if actor.crash is not None:
        crash = actor.crash
        return f"{crash.reason} ({_utc(crash.at_ms)}, then restart {crash.restarts + 1})"
    return "—"


def _crash_reports(actor: ObservedActor) -> Comprehension | None:
    """The tracebacks of the last crash under the actor's child spec and under each of
    its pending children (waiting for a backoff restart), folded under their reasons."""
    reports = []
    if actor.crash is not None:
        reports.append(_crash_report(actor.child_id or "", "last crash", actor.crash))
    for child in actor.pending:
        if child.crash is not None:
            reports.append(_crash_report(child.child_id, f"child {child.child_id}", child.crash))
    return each(LAST_CRASH, reports) if reports else None


def _crash_report(child_id: str, whose: str, crash: Crash) -> Rendered:
    return LAST_CRASH(
        child_id=child_id,
        at_ms=crash.at_ms,
        what=f"Traceback, {whose} ({_utc(crash.at_ms)}): {crash.reason}",
        traceback=readable_traceback(crash.traceback),
    )


def _pending(child: PendingChild) -> Rendered:
    """A child spec with no actor: what an operator needs is when it comes back, and why."""
    due = child.restart_at_ms
    return PENDING(
        status=child.status,
        child_id=child.child_id,
        kind=child.kind,
        restart_at_ms=due if due is not None else "",
        when=f" · next attempt {_utc(due)}" if due is not None else "",
        why=f" · after {child.last_exit}" if child.last_exit else "",
    )


def _utc(ms: int) -> str:
    """Unix ms as ``HH:MM:SS.mmm UTC`` (formatting a given time; no clock is read)."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%H:%M:%S.%f")[:-3] + " UTC"


def _cluster(state: ObserverState) -> Rendered | None:
    """The cluster summary and node selector (none on a single node)."""
    nodes = state.snapshot.nodes
    if not nodes:
        return None
    shown = state.node or next((n.node for n in nodes if n.status == "self"), "")
    up = sum(n.status != "down" for n in nodes)
    options = [
        OPTION(
            value="" if row.status == "self" else row.node,
            selected=" selected" if row.node == shown else "",
            text=f"{row.node} (this node)" if row.status == "self" else row.node,
        )
        for row in nodes
    ]
    rows = [(row.node, _cluster_row(state, row, row.node == shown)) for row in nodes]
    return CLUSTER(
        count=f"{len(nodes)} nodes · {up} up",
        options=each(OPTION, options),
        rows=keyed(CLUSTER_ROW, rows),
    )


def _cluster_row(state: ObserverState, row: ClusterNodeRow, selected: bool) -> Rendered:
    pairs = [] if row.status == "self" else [("node", row.node)]
    if state.status:
        pairs.append(("status", state.status))
    if state.search:
        pairs.append(("q", state.search))
    known = row.actors is not None
    note = row.problem or (f"first {len(row.tree)} actors counted" if row.partial else "")
    if row.status == "down" and not note:
        note = "its heartbeat stopped"
    return CLUSTER_ROW(
        node=row.node,
        status=row.status,
        selected=" selected" if selected else "",
        current=' aria-current="true"' if selected else "",
        href=urlencode(pairs),
        actors=row.actors if known else "—",
        supervisors=row.supervisors if known else "—",
        busy=row.busy if known else "—",
        mailbox=row.mailbox if known else "—",
        restarts=row.restarts if known else "—",
        crashed=row.crashed if known else "—",
        note=note,
    )


def _peer(row: ClusterNodeRow) -> Rendered:
    """What the tree pane says of a peer's tree (read over the cluster each refresh)."""
    if row.problem is not None:
        return PEER(text=f"Node {row.node}'s tree cannot be read now: {row.problem}.")
    if row.status == "down":
        return PEER(text=f"Node {row.node} is down: its heartbeat stopped.")
    more = f" (its first {len(row.tree)} of {row.actors})" if row.partial else ""
    return PEER(
        text=f"Node {row.node}'s tree{more}, read over the cluster every refresh; "
        "stop, restart and kill act on this node's actors only."
    )


def _summary(summary: SystemSummary) -> Rendered:
    memory = summary.memory_rss_bytes
    return SUMMARY(
        actors=summary.actors,
        supervisors=summary.supervisors,
        rate=summary.messages_per_s,
        memory="n/a" if memory is None else f"{memory / 1048576:.1f} MB",
        uptime=_duration(summary.uptime_s),
        last_event=summary.last_event_id,
    )


def _duration(seconds: float) -> str:
    s = int(seconds)
    hours, minutes = s // 3600, (s % 3600) // 60
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {s % 60}s" if minutes else f"{s}s"


class TokenState(Protocol):
    """What the token line reads of a page's state (the observer's, the runs page's)."""

    @property
    def needs_token(self) -> bool: ...
    @property
    def connected(self) -> bool: ...
    @property
    def token(self) -> OperatorToken | None: ...
    @property
    def token_notice(self) -> Notice | None: ...


def token_line(state: TokenState, enabled: str, needed: str) -> Rendered | None:
    """The operator-token line of a connected page whose server has a token: that it was
    accepted (``enabled``: "stop, restart and kill"), or the form asking for it with
    why (the last `Notice`, else what it is ``needed`` for)."""
    if not state.needs_token or not state.connected:
        return None
    if state.token is not None:
        return TOKEN_OK(text=f"Operator token accepted: {enabled} are enabled.")
    notice = state.token_notice
    return TOKEN_FORM(
        error_class=" error" if notice is not None and notice.error else "",
        hint=notice.text
        if notice is not None
        else f"This server needs its operator token (--token) to {needed}.",
    )


def _token(state: ObserverState) -> Rendered | None:
    return token_line(state, "stop, restart and kill", "stop, restart or kill")


def _filters(state: ObserverState) -> Rendered:
    options = [
        OPTION(
            value=status,
            selected=" selected" if status == state.status else "",
            text=status or "any",
        )
        for status in STATUSES
    ]
    return FILTERS(
        actor="" if state.selected is None else state.selected,
        node=state.node or "",
        options=each(OPTION, options),
        q=state.search,
    )


def _detail(state: ObserverState) -> Rendered:
    if state.selected is None:
        return TEXT(text="Select an actor in the tree.")
    snapshot = state.snapshot
    local = node_row(state) is None  # the events and the history are this node's
    actor = find(actors_of(state), state.selected)
    if actor is None:
        ended = [e for e in snapshot.events if e.actor == state.selected and e.kind == "exited"]
        how = f" (exited: {ended[-1].reason})" if local and ended and ended[-1].reason else ""
        return GONE(id=state.selected, how=how)
    events = [e for e in snapshot.events if e.actor == actor.id][-ACTOR_EVENTS:] if local else []
    return DETAIL(
        id=actor.id,
        name=actor.name or "—",
        actor_class=actor.actor_class,
        kind=actor.kind,
        status=actor.status,
        parent=_refs(state, (actor.parent,) if actor.parent is not None else ()),
        child_id=actor.child_id or "—",
        restart=actor.restart or "—",
        strategy=actor.strategy or "—",
        children=_refs(state, actor.children),
        links=_refs(state, actor.links),
        monitors=_refs(state, actor.monitors),
        monitored_by=_refs(state, actor.monitored_by),
        trap_exit="yes" if actor.trap_exit else "no",
        mailbox=actor.mailbox,
        processed=actor.processed,
        restarts=actor.restarts,
        last_crash=_crash_text(actor),
        crash=_crash_reports(actor),
        tenant=actor.tenant or "—",
        remark=actor.remark or "—",
        timeline=_timeline(state, actor) if local else None,
        actions=_actions(state, actor) if local else NO_ACTIONS(text=PEER_ACTIONS),
        events=keyed(EVENT, [(e.seq, _event(e)) for e in reversed(events)]),
    )


def _refs(state: ObserverState, ids: tuple[int, ...]) -> Comprehension | str:
    if not ids:
        return "—"
    actors = actors_of(state)
    by_id = {actor.id: actor for actor in actors} if len(ids) > 1 else {}
    refs = []
    for actor_id in ids:
        actor = by_id.get(actor_id) if by_id else find(actors, actor_id)
        label = actor.label if actor is not None else "(gone)"
        refs.append(REF(href=query(state, actor_id), id=actor_id, label=label))
    return each(REF, refs)


def _timeline(state: ObserverState, actor: ObservedActor) -> Rendered | None:
    """A supervisor's restarts of the last ten minutes (none for a worker)."""
    if actor.kind != "supervisor":
        return None
    history = state.snapshot.history
    marks = history.restarts_by(actor.id)
    latest = [s.at_ms for s in history.samples[-1:]] + [m.at_ms for m in marks[-1:]]
    return render_timeline(marks, max(latest, default=0))


def _actions(state: ObserverState, actor: ObservedActor) -> Rendered:
    if not state.connected:
        return NO_ACTIONS(text="Stop, restart and kill need the live page (JavaScript).")
    return ACTIONS(id=actor.id)


def _event(event: LifecycleEvent) -> Rendered:
    orderly = event.kind == "exited" and event.reason in ("normal", "shutdown")
    if event.kind == "over_budget":
        who = "other tenants" if event.tenant is None else f"tenant {event.tenant}"
        times = "once" if event.count == 1 else f"{event.count} times"
        text = f"#{event.seq} over_budget: {who} refused {times} for {event.budget}"
        return EVENT(kind=event.kind, orderly="", seq=event.seq, text=text)
    who = event.name or event.actor_kind
    text = f"#{event.seq} {event.kind} {who} #{event.actor}"
    if event.kind == "restart_scheduled" and event.restart_at_ms is not None:
        delay = (event.restart_at_ms - event.at_ms) / 1000
        text += f": child {event.child} restarts in {delay:.3g} s ({_utc(event.restart_at_ms)})"
    elif event.kind == "long_handler" and event.duration_ms is not None:
        text += f" held the event loop {event.duration_ms:.1f} ms handling {event.message_type}"
    if event.reason:
        text += f" — {event.reason}"
    return EVENT(kind=event.kind, orderly=" orderly" if orderly else "", seq=event.seq, text=text)
