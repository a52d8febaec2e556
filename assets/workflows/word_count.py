"""A single tool step: count the words of the given text through /ctx/tool/wordcount."""

import msgspec

from lightflow_actors.flow import ToolStep, Workflow

METADATA = {
    "id": "word-count",
    "title": "Word count",
    "kind": "workflow",
    "description": "Runs the `wordcount` tool on `text`; output {words, lines}.",
    "stability": "stable",
}


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str


class WordCountInput(msgspec.Struct, frozen=True):
    text: str


class WordCount(msgspec.Struct, frozen=True):
    words: int
    lines: int


DEFINITION = Workflow(
    inputs=Inputs,
    steps=[
        ToolStep(
            id="count",
            tool="wordcount",
            input=WordCountInput,
            output=WordCount,
            request={"text": "{inputs.text}"},
        )
    ],
)
