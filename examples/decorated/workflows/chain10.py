"""Ten steps in a chain, each answered by `providers/shout.py` (run: `run.py`)."""

import msgspec

from lightflow_actors.flow import ThreadStep, Workflow

METADATA = {
    "id": "chain10",
    "title": "Chain of ten",
    "kind": "workflow",
    "description": "s1 → … → s10 on thread `shout`, each fed the previous answer.",
    "stability": "stable",
}


class Inputs(msgspec.Struct):
    seed: str = "go"


def step(n: int) -> ThreadStep:
    text = "{inputs.seed}" if n == 1 else f"{{steps.s{n - 1}.output.text}}"
    return ThreadStep(id=f"s{n}", thread="shout", message=text, depends_on=[f"s{n - 1}"][: n - 1])


DEFINITION = Workflow(inputs=Inputs, steps=[step(n) for n in range(1, 11)])
