"""Inputs for trying `text-plan` without typing any: a plan for brewing green tea."""

from lightflow_actors.flow import Preset

METADATA = {
    "id": "text-plan.tea",
    "title": "Text plan: green tea",
    "kind": "preset",
    "description": "`text-plan` with topic 'brewing green tea' in a friendly tone.",
    "stability": "stable",
}

DEFINITION = Preset(workflow="text-plan", inputs={"topic": "brewing green tea", "tone": "friendly"})
