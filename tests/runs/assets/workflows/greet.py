"""One api step greeting `name` `times` times (typed inputs for the bad-input tests)."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {
    "id": "greet",
    "title": "Greet",
    "kind": "workflow",
    "description": "One openai.chat step.",
    "stability": "stable",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    times: int = 1


DEFINITION = Workflow(
    inputs=Inputs,
    policy="quick",
    steps=[
        ApiStep(
            id="hello",
            format="openai.chat",
            model="mock",
            prompt=ChatPrompt(user="Greet {inputs.name} {inputs.times} times"),
        )
    ],
)
