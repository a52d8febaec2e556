"""A local OpenAI-compatible endpoint (e.g. a test provider on 127.0.0.1)."""

from lightflow_actors.flow import Model

METADATA = {
    "id": "local-echo",
    "title": "Local echo model",
    "kind": "model",
    "description": "Any OpenAI-compatible server on this machine; the CortexFS echo provider "
    "answers it in tests and demos without network access.",
    "stability": "experimental",
}

DEFINITION = Model(provider="local", name="echo", formats=("openai.chat",))
