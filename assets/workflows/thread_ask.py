"""A single thread step: post a question to a thread and wait for the reply."""

import msgspec

from lightflow_actors.flow import ThreadStep, Workflow

METADATA = {
    "id": "thread-ask",
    "title": "Ask a thread",
    "kind": "workflow",
    "description": "Posts `question` to thread `research` (home/<uid>/thread/research) and "
    "returns the reply text.",
    "stability": "experimental",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    question: str


DEFINITION = Workflow(
    inputs=Inputs,
    steps=[ThreadStep(id="ask", thread="research", message="Question: {inputs.question}")],
)
