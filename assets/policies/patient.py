"""Retry a flaky provider up to five times with exponential backoff; reuse cached outputs."""

from lightflow_actors.flow import Policy, RetryPolicy

METADATA = {
    "id": "patient",
    "title": "Patient retries",
    "kind": "policy",
    "description": "Up to 5 attempts, backoff 2 s doubling to 60 s with 20% jitter; caching on.",
    "stability": "stable",
}

DEFINITION = Policy(
    retry=RetryPolicy(max_attempts=5, initial_backoff_s=2.0, max_backoff_s=60.0, jitter=0.2),
    cache=True,
)
