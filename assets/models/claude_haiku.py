"""Anthropic's small model, reachable through the anthropic.messages folder."""

from lightflow_actors.flow import Model

METADATA = {
    "id": "claude-haiku",
    "title": "Claude 3.5 Haiku",
    "kind": "model",
    "description": "Anthropic's fast model; used by the review step of the article pipeline.",
    "stability": "stable",
}

DEFINITION = Model(
    provider="anthropic",
    name="claude-3-5-haiku-latest",
    formats=("anthropic.messages",),
    context_window=200_000,
)
