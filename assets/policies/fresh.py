"""Never reuse a cached output and never retry: for steps whose answer must be new."""

from lightflow_actors.flow import Policy, RetryPolicy

METADATA = {
    "id": "fresh",
    "title": "Fresh, single attempt",
    "kind": "policy",
    "description": "One attempt, no output caching (e.g. a notification that must be sent).",
    "stability": "stable",
}

DEFINITION = Policy(retry=RetryPolicy(max_attempts=1), cache=False)
