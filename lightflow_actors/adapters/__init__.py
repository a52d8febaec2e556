"""Adapters: the edges where the outside world enters the actor system.

`http` (operator API, runs routes), `mcp` (runs as MCP tools), `ws` (live sessions over
WebSocket), `cortex` (the CortexFS client actor) and `cli` (the `lightflow` verbs). Each
decodes outside input once and talks to actors with typed messages (DESIGN §9).
"""
