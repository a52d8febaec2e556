"""The smallest useful workflow: one openai.chat call that writes a step-by-step plan."""

from typing import Literal

import msgspec

from lightflow_actors.flow import ApiStep, ChatParams, ChatPrompt, Workflow

METADATA = {
    "id": "text-plan",
    "title": "Text plan",
    "kind": "workflow",
    "description": "Asks an openai.chat model for a numbered plan on `topic`.",
    "stability": "stable",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: str
    steps: int = 5
    tone: Literal["plain", "friendly", "formal"] = "plain"


DEFINITION = Workflow(
    inputs=Inputs,
    steps=[
        ApiStep(
            id="plan",
            format="openai.chat",
            model="gpt-4o-mini",
            prompt=ChatPrompt(
                system="You plan things in a {inputs.tone} tone. Answer with a numbered list.",
                user="Write a plan in {inputs.steps} steps for: {inputs.topic}",
            ),
            params=ChatParams(temperature=0.2, max_tokens=800),
        )
    ],
)
