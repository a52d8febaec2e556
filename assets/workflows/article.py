"""A multi-step DAG: plan, then (in parallel) draft+review and a word count of the plan,
then a summary that joins both, then a notification posted to a thread."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatParams, ChatPrompt, ThreadStep, Use, Workflow

METADATA = {
    "id": "article",
    "title": "Article pipeline",
    "kind": "workflow",
    "description": "plan → {write (draft-review composition), plan-size (word-count node)} "
    "→ summary → notify. Shows parallel branches, a composition, a node and a thread step.",
    "stability": "experimental",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: str
    audience: str = "a general audience"
    words: int = 300


DEFINITION = Workflow(
    inputs=Inputs,
    policy="patient",
    steps=[
        ApiStep(
            id="plan",
            format="openai.chat",
            model="gpt-4o-mini",
            prompt=ChatPrompt(user="Outline an article about {inputs.topic} in 5 bullet points."),
            params=ChatParams(temperature=0.2),
        ),
        Use(
            id="write",
            asset="draft-review",
            params={
                "topic": "{inputs.topic}",
                "plan": "{steps.plan.output.text}",
                "audience": "{inputs.audience}",
                "words": "{inputs.words}",
            },
            depends_on=["plan"],
        ),
        Use(
            id="plan-size",
            asset="text.word-count",
            params={"text": "{steps.plan.output.text}"},
            depends_on=["plan"],
        ),
        ApiStep(
            id="summary",
            format="openai.chat",
            model="gpt-4o-mini",
            prompt=ChatPrompt(
                user="The plan had {steps.plan-size.output.words} words. Summarise this "
                "article in two sentences:\n\n{steps.write.output.text}"
            ),
            depends_on=["write", "plan-size"],
        ),
        ThreadStep(
            id="notify",
            thread="editors",
            message="New article on {inputs.topic}: {steps.summary.output.text}",
            depends_on=["summary"],
            policy="fresh",
        ),
    ],
)
