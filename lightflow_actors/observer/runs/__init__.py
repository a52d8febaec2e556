"""The runs page: every workflow run as a live view (``GET /runs`` in a browser), built
on our own live sessions like the observer: its feed, its view, its action desk.

    page = RunsPage(hosting, guard)
    app = create_app(routes=runs_routes(hosting, html=page), pages=[page.bind])
"""

from ._desk import RunAction, RunActionOutcome, RunsDesk
from ._feed import AssetIds, FollowRun, GetAssets, GetListing, GetRun, RunsFeed, run_topic
from ._form import FormError, FormField, fields_of, inputs_of
from ._layout import DagLayout, layout
from ._model import FileText, RunDetail, RunMissing, RunRow, RunsListing, StepView
from ._page import RUNS_PAGE_NAME, RunsPage, output_image, runs_view, start_runs_actors
from ._view import RunsView

__all__ = [
    "RUNS_PAGE_NAME",
    "AssetIds",
    "DagLayout",
    "FileText",
    "FollowRun",
    "FormError",
    "FormField",
    "GetAssets",
    "GetListing",
    "GetRun",
    "RunAction",
    "RunActionOutcome",
    "RunDetail",
    "RunMissing",
    "RunRow",
    "RunsDesk",
    "RunsFeed",
    "RunsListing",
    "RunsPage",
    "RunsView",
    "StepView",
    "fields_of",
    "inputs_of",
    "layout",
    "output_image",
    "run_topic",
    "runs_view",
    "start_runs_actors",
]
