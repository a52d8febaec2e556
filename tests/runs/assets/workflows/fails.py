"""One step whose provider always answers with an error (the failure path)."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {
    "id": "fails",
    "title": "Always fails",
    "kind": "workflow",
    "description": "The test provider refuses prompts that start with FAIL.",
    "stability": "stable",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


DEFINITION = Workflow(
    inputs=Inputs,
    policy="quick",
    steps=[
        ApiStep(
            id="doomed", format="openai.chat", model="mock", prompt=ChatPrompt(user="FAIL always")
        )
    ],
)
