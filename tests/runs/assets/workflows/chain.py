"""Ten api steps in a chain, each quoting the previous answer (latency and crash tests)."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {
    "id": "chain",
    "title": "Chain of ten",
    "kind": "workflow",
    "description": "s1 → s2 → … → s10, each an openai.chat step fed the previous output.",
    "stability": "stable",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seed: str = "start"


def _step(n: int) -> ApiStep:
    source = "{inputs.seed}" if n == 1 else f"{{steps.s{n - 1}.output.text}}"
    return ApiStep(
        id=f"s{n}",
        format="openai.chat",
        model="mock",
        prompt=ChatPrompt(user=f"step {n} after: {source}"),
        depends_on=[] if n == 1 else [f"s{n - 1}"],
    )


DEFINITION = Workflow(inputs=Inputs, policy="quick", steps=[_step(n) for n in range(1, 11)])
