"""A template of the wrong type: a list input formatted into prompt text (TemplateError)."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {
    "id": "mistyped",
    "title": "Mistyped template",
    "kind": "workflow",
    "description": "Its prompt formats `{inputs.tags}` (a list) into text: refused at resolve.",
    "stability": "draft",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tags: list[str] = []


DEFINITION = Workflow(
    inputs=Inputs,
    steps=[
        ApiStep(
            id="tagged",
            format="openai.chat",
            model="mock",
            prompt=ChatPrompt(user="Describe {inputs.tags} please"),
        )
    ],
)
