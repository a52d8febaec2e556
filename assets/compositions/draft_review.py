"""Draft a text from a plan, then have a second model review and improve it."""

import msgspec

from lightflow_actors.flow import ApiStep, ChatParams, ChatPrompt, Composition

METADATA = {
    "id": "draft-review",
    "title": "Draft and review",
    "kind": "composition",
    "description": "Two api steps: `draft` writes from a plan, `review` (another model) "
    "returns an improved version. Its output is the review's text.",
    "stability": "experimental",
}


class Params(msgspec.Struct, frozen=True):
    topic: str
    plan: str
    audience: str = "a general audience"
    words: int = 300


DEFINITION = Composition(
    params=Params,
    steps=[
        ApiStep(
            id="draft",
            format="openai.chat",
            model="gpt-4o-mini",
            prompt=ChatPrompt(
                system="You write clear prose for {params.audience}.",
                user="Write about {params.topic} in about {params.words} words, "
                "following this plan:\n{params.plan}",
            ),
            params=ChatParams(temperature=0.7),
        ),
        ApiStep(
            id="review",
            format="anthropic.messages",
            model="claude-haiku",
            prompt=ChatPrompt(
                system="You are a careful editor.",
                user="Improve this text; answer with the improved text only.\n\n"
                "{steps.draft.output.text}",
            ),
            params=ChatParams(max_tokens=2048),
            depends_on=["draft"],
        ),
    ],
    output="review",
)
