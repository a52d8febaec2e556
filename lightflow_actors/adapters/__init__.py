"""Adapters: the edges where the outside world enters the actor system.

`http` (operator API, runs routes), `mcp` (runs as MCP tools), `ws` (live sessions over
WebSocket), `cortex` (the CortexFS client actor) and `cli` (the `lightflow` verbs). Each
decodes outside input once and talks to actors with typed messages (DESIGN §9), and maps
an actor's refusal (a kernel `Refused` and its reason) to its own vocabulary once: the HTTP
status table is `_refusals.py`, MCP's JSON-RPC codes are in `mcp`, the CLI's exit codes in
`cli`.
"""
