"""The asset evaluator of the flow tests: one for the session, shared by the `evaluator`
fixture and by the helpers that build a `FlowService` outside a fixture (a service made
without one would make its own evaluator, which nothing closes). `conftest` closes it when
the session ends: its fork server and warm workers are processes."""

from __future__ import annotations

from lightflow_actors.flow import AssetEvaluator

SHARED = AssetEvaluator()  # starts no process until its first resolution
