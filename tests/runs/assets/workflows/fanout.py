"""A diamond over four formats and a thread: plan → {left, right} → join → tell."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatPrompt, ThreadStep, Workflow

METADATA = {
    "id": "fanout",
    "title": "Diamond",
    "kind": "workflow",
    "description": "Parallel branches on different api formats, joined, then a thread post.",
    "stability": "stable",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: str


DEFINITION = Workflow(
    inputs=Inputs,
    policy="quick",
    steps=[
        ApiStep(
            id="plan",
            format="openai.chat",
            model="mock",
            prompt=ChatPrompt(user="plan {inputs.topic}"),
        ),
        ApiStep(
            id="left",
            format="anthropic.messages",
            model="mock",
            prompt=ChatPrompt(user="left of {steps.plan.output.text}"),
            depends_on=["plan"],
        ),
        ApiStep(
            id="right",
            format="google.generate_content",
            model="mock",
            prompt=ChatPrompt(user="right of {steps.plan.output.text}"),
            depends_on=["plan"],
        ),
        ApiStep(
            id="join",
            format="openai.responses",
            model="mock",
            prompt=ChatPrompt(user="{steps.left.output.text} + {steps.right.output.text}"),
            depends_on=["left", "right"],
        ),
        ThreadStep(
            id="tell", thread="news", message="done: {steps.join.output.text}", depends_on=["join"]
        ),
    ],
)
