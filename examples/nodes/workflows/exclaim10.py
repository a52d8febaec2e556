"""Ten `exclaim` nodes in a chain, each fed the previous answer (run: `run.py`)."""

import msgspec

from lightflow_actors.flow import Use, Workflow

METADATA = {
    "id": "exclaim10",
    "title": "Ten exclaims",
    "kind": "workflow",
    "description": "s1 → … → s10, each the `exclaim` node on the previous answer.",
    "stability": "stable",
}


class Inputs(msgspec.Struct):
    seed: str = "go"


def step(n: int) -> Use:
    text = "{inputs.seed}" if n == 1 else f"{{steps.s{n - 1}.output.text}}"
    after = [f"s{n - 1}"][: n - 1]
    return Use(id=f"s{n}", asset="exclaim", params={"text": text}, depends_on=after)


DEFINITION = Workflow(inputs=Inputs, steps=[step(n) for n in range(1, 11)])
