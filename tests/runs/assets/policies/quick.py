"""Fast retries for tests: three attempts, 50 ms backoff."""

from lightflow_actors.flow import Policy, RetryPolicy

METADATA = {
    "id": "quick",
    "title": "Quick retries",
    "kind": "policy",
    "description": "3 attempts, 50 ms backoff, no caching.",
    "stability": "stable",
}

DEFINITION = Policy(
    retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.1), cache=False
)
