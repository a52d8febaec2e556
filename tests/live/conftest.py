"""Live-session tests: the helpers `live_server` (a real server on a free port) and
`live_shapes` (random rendered trees) are imported relatively by the tests that need them,
here and in `tests/adapters/ws` and `tests/live_examples`."""
