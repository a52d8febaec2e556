"""A run's new detail drawn in small steps, so that no patch of the run page grows big.

The feed publishes a run's detail once per tick (0.25 s); in that time ten lanes may
each finish a step and start the next, and the step a person has open may get its
answer, its output and a trace line. Drawn at once, that is one patch of 1.5 to 2 KB. The
page instead moves what it draws (`RunsState.detail`) towards the newest detail
(`RunsState.arriving`) a few steps per render:

- at most `STEPS_PER_PATCH` changed steps per render, in plan order, with the run's own
  fields (status, timing) following the last of them;
- the open step (its node and its detail panel: request, answer, output, trace) alone,
  after the others, since its panel alone can fill a patch; and when both its facts or
  output and its request, answer or trace changed, in two renders: the node, facts and
  output first, then the request, answer and trace (a step that got all four in one
  tick, with the templates of their first showing, is 1.2 KB at once).

Each move is one message the view sends itself (`DrawMore`), so the patches follow each
other at once: the page is complete within one tick. A newer detail arriving meanwhile
replaces the target; what is drawn moves towards it instead.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ._model import RunDetail, StepView

STEPS_PER_PATCH: Final = 10
"""Changed steps drawn per render at most: 30 to 85 bytes each on the wire (a status, an
attempt count, a line of facts such as "3 attempts · 412 ms · cached"), so a patch stays
under 1 KB with the run's own fields (``test_pacing.py``: a whole run in one tick)."""


class DrawMore(msgspec.Struct, frozen=True):
    """Draw the next part of the arriving detail (the view's message to itself)."""

    run_id: str


def next_shown(shown: RunDetail | None, latest: RunDetail, open_step: str | None) -> RunDetail:
    """What to draw next on the way from `shown` to `latest` (`latest` itself when the
    rest fits in one patch, or when the plan differs: a first draw is one render)."""
    if (
        shown is None
        or shown.run_id != latest.run_id
        or len(shown.steps) != len(latest.steps)
        or any(a.id != b.id for a, b in zip(shown.steps, latest.steps, strict=True))
    ):
        return latest
    changed = [i for i, (a, b) in enumerate(zip(shown.steps, latest.steps, strict=True)) if a != b]
    others = [i for i in changed if latest.steps[i].id != open_step]
    if len(others) > STEPS_PER_PATCH:
        steps = list(shown.steps)
        for i in others[:STEPS_PER_PATCH]:
            steps[i] = latest.steps[i]
        return msgspec.structs.replace(shown, steps=tuple(steps))
    if len(others) == len(changed):
        return latest  # no open step among them: one patch of at most STEPS_PER_PATCH nodes
    # The last of the others and the run's own fields, then the open step alone.
    steps = list(latest.steps)
    opened = next(i for i in changed if i not in others)
    steps[opened] = shown.steps[opened]
    before_open = msgspec.structs.replace(latest, steps=tuple(steps))
    if before_open != shown:
        return before_open
    half = half_open(shown.steps[opened], latest.steps[opened])
    if half == shown.steps[opened] or half == latest.steps[opened]:
        return latest  # one part changed: the rest of the step in one render
    steps[opened] = half
    return msgspec.structs.replace(latest, steps=tuple(steps))


def half_open(shown: StepView, latest: StepView) -> StepView:
    """The open step drawn halfway: `latest` with the request, answer and trace `shown`
    has (`latest` itself when they did not change, `shown` when only they did)."""
    return msgspec.structs.replace(
        latest, request=shown.request, answer=shown.answer, trace=shown.trace
    )
