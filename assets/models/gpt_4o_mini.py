"""OpenAI's small chat model, reachable through the openai.chat and openai.responses folders."""

from lightflow_actors.flow import Model

METADATA = {
    "id": "gpt-4o-mini",
    "title": "GPT-4o mini",
    "kind": "model",
    "description": "OpenAI's small, fast chat model; the default of the example workflows.",
    "stability": "stable",
}

DEFINITION = Model(
    provider="openai",
    name="gpt-4o-mini",
    formats=("openai.chat", "openai.responses"),
    context_window=128_000,
)
