"""The observer's pictures: sparklines of the last ten minutes and a supervisor's restart
timeline, as inline SVG (no chart library: a polyline and a few marks are all it takes).

A sparkline scales its series to its own maximum and says the latest value and the
maximum in words beside it, so the picture needs no axis. Points are integers, so an
unchanged history renders to the very same text and costs nothing in a patch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from lightflow_actors.live import Rendered, Template, each

from ._history import WINDOW_MS, History, RestartMark

SPARK_W: Final = 120
SPARK_H: Final = 28
TIMELINE_W: Final = 320
TIMELINE_H: Final = 28

CHARTS = Template(
    '<section id="charts" class="charts" aria-label="The last ten minutes">'
    '<h2>Last 10 minutes <small>{span}</small></h2><div class="sparks">{sparks}</div>'
    '<h3>Deepest mailboxes</h3><ol id="mailboxes" class="mailboxes">{mailboxes}</ol></section>'
)
SPARK = Template(
    '<figure class="spark" id="spark-{id}" data-latest="{latest}">'
    f'<svg viewBox="0 0 {SPARK_W} {SPARK_H}" width="{SPARK_W}" height="{SPARK_H}" '
    'role="img" aria-label="{label}"><polyline points="{points}"></polyline></svg>'
    "<figcaption><b>{latest_text}</b> {label} <small>max {peak}</small></figcaption></figure>"
)
MAILBOX = Template(
    '<li data-id="{id}" data-depth="{depth}"><a class="ref" lf-patch href="?{href}">'
    "#{id} {label}</a> <b>{depth}</b> "
    f'<svg viewBox="0 0 {SPARK_W} {SPARK_H // 2}" width="{SPARK_W}" height="{SPARK_H // 2}" '
    'role="img" aria-label="mailbox depth"><polyline points="{points}"></polyline></svg></li>'
)
NO_MAILBOXES = Template('<li class="hint">{text}</li>')
TIMELINE = Template(
    '<div class="timeline" id="restart-timeline" data-restarts="{count}">'
    f'<svg viewBox="0 0 {TIMELINE_W} {TIMELINE_H}" width="{TIMELINE_W}" height="{TIMELINE_H}" '
    'role="img" aria-label="restarts in the last ten minutes">'
    f'<line x1="0" y1="{TIMELINE_H - 4}" x2="{TIMELINE_W}" y2="{TIMELINE_H - 4}"></line>'
    "{marks}</svg><small>{text}</small></div>"
)
MARK = Template(
    f'<rect class="mark" x="{{x}}" y="4" width="3" height="{TIMELINE_H - 8}">'
    "<title>{title}</title></rect>"
)


def points(values: Sequence[float], width: int = SPARK_W, height: int = SPARK_H) -> str:
    """``values`` as polyline points scaled to ``width`` by ``height`` (the maximum at the
    top, 0 at the bottom; one value is a flat line)."""
    if not values:
        return ""
    peak = max(max(values), 1e-9)
    count = len(values)
    step = width / (count - 1) if count > 1 else 0.0
    coords = []
    for i, value in enumerate(values if count > 1 else [values[0], values[0]]):
        x = round(i * step) if count > 1 else i * width
        y = round((height - 2) - (max(value, 0.0) / peak) * (height - 4))
        coords.append(f"{x},{y}")
    return " ".join(coords)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value != int(value) else f"{int(value)}"


def _spark(id_: str, label: str, values: Sequence[float], unit: str = "") -> Rendered:
    latest = values[-1] if values else 0.0
    return SPARK(
        id=id_,
        latest=_number(latest),
        label=label,
        points=points(values),
        latest_text=_number(latest) + unit,
        peak=_number(max(values, default=0.0)) + unit,
    )


def render_charts(history: History) -> Rendered:
    """The sparklines and the deepest mailboxes of ``history``."""
    samples = history.samples
    span = "waiting for the first samples"
    if len(samples) > 1:
        seconds = (samples[-1].at_ms - samples[0].at_ms) / 1000
        span = f"{len(samples)} samples over {seconds:.0f} s"
    sparks = [
        _spark("messages", "messages/s", history.messages_per_s()),
        _spark("restarts", "restarts/min", history.restarts_per_min()),
        _spark("memory", "memory (MB)", history.memory_mb()),
        _spark("runs", "runs ended/min", history.runs_per_min()),
    ]
    boxes = [
        MAILBOX(
            id=box.id,
            href=f"actor={box.id}",
            label=box.label,
            depth=box.depth,
            points=points(depths, height=14),
        )
        for box, depths in history.mailbox_series()
    ]
    return CHARTS(
        span=span,
        sparks=each(SPARK, sparks),
        mailboxes=each(MAILBOX, boxes) if boxes else NO_MAILBOXES(text="every mailbox is empty"),
    )


def render_timeline(marks: Sequence[RestartMark], now_ms: int) -> Rendered:
    """A supervisor's restarts over the last ten minutes (``now_ms`` at the right edge)."""
    start = now_ms - WINDOW_MS
    shown = [mark for mark in marks if mark.at_ms >= start]
    drawn = []
    for mark in shown:
        x = round((mark.at_ms - start) / WINDOW_MS * (TIMELINE_W - 3))
        title = f"{mark.label} #{mark.actor} restarted"
        if mark.reason:
            title += f" after {mark.reason}"
        drawn.append(MARK(x=x, title=title))
    text = f"{len(shown)} restart(s) in the last 10 minutes"
    if shown and shown[-1].reason:
        text += f"; the last after {shown[-1].reason}"
    return TIMELINE(count=len(shown), marks=each(MARK, drawn) if drawn else None, text=text)
