"""The runs HTTP routes (DESIGN §7): decode once, ask the runs host, encode the reply.

Where a request enters: `RunsRoutes.routes()`. A handler never touches an actor's state:
it decodes path, query and body (`_inputs`), asks the host through `RunsPort`, and
encodes the answer: JSON, NDJSON for journals, FlatBuffers for snapshots and live streams,
SSE. Errors are `{"error": ..., "field": ...}`: a refusal of the host with its reason's
status (`_errors.status_of`: 400 bad input, 404 unknown run/asset/step, 409 conflict,
413 body too large, 503 host down), any other error of ours 500 (502 for an upstream
answer that does not decode). Mutations (every POST) pass the origin check and, when the
server has one, the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from lightflow_actors.adapters.mcp import GetMcpHandler, McpHandler, refusal_result
from lightflow_actors.cortex import list_dead_letters
from lightflow_actors.flow import FlowError, MalformedResponse
from lightflow_actors.flow.streams import FRAMES_MEDIA_TYPE, RUNTIME_FBS
from lightflow_actors.kernel import ActorExited, ActorNotAlive, AskTimeout, Refused
from lightflow_actors.runs import (
    CancelRun,
    CloseTail,
    CreateRun,
    HostNotRunning,
    OpenStream,
    RefreshRun,
    RetryRun,
    RunsError,
    RunsPort,
    StreamMode,
    SubmitStep,
)
from lightflow_actors.tenants import DEFAULT_TENANT, TENANT_HEADER, OverBudget, check_tenant

from .._refusals import FAILURE_STATUS
from ._errors import HttpError
from ._inputs import (
    RUNS,
    CancelBody,
    CreateBody,
    EmptyBody,
    NoQuery,
    PreviewBody,
    StreamQuery,
    decode_run_id,
)
from ._negotiation import HtmlRuns, prefers_html
from ._pages import RootLink
from ._responses import error_body, error_response, json_response
from ._security import Guard

__all__ = ["RUNS_LINKS", "RunsRoutes", "runs_routes"]

NDJSON = "application/x-ndjson"
SSE_KEEPALIVE_S = 15.0
Endpoint = Callable[[Request], Awaitable[Response]]

RUNS_LINKS: tuple[RootLink, ...] = (
    RootLink(
        "Workflow runs",
        "runs",
        "Every run, newest first, live: its steps as a graph, outputs, retry, re-run, "
        "compare (JSON for API clients; POST to create one).",
    ),
    RootLink("Assets", "assets", "JSON: workflows, nodes, compositions, models, presets."),
    RootLink("Runtime streams", "runtime/streams", "JSON: run snapshots and live event streams."),
    RootLink("CortexFS ABI", "ctx/abi", "JSON: where requests and answers live in /ctx."),
)
"""The root-page links of the runs surface (pass as `create_app(links=...)`)."""


def _guarded(fn: Endpoint) -> Endpoint:
    """Turn every typed error into its JSON answer (the app needs no handler for ours)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except (HttpError, Refused) as exc:
            return error_response(exc)
        except (FlowError, RunsError) as exc:
            status = 502 if isinstance(exc, MalformedResponse) else FAILURE_STATUS
            return error_body(str(exc), status)
        except (AskTimeout, ActorExited, ActorNotAlive) as exc:
            return error_body(f"the runs host did not answer: {exc}; try again", 503)

    endpoint.__name__ = fn.__name__
    return endpoint


class RunsRoutes:
    """The route handlers, bound to one `RunsPort` and one guard; `html` answers the
    browsers that ask `GET /runs` and `GET /runs/{id}` for HTML (None: JSON for all)."""

    def __init__(self, hosting: RunsPort, guard: Guard, html: HtmlRuns | None = None) -> None:
        self.hosting = hosting
        self.guard = guard
        self.html = html

    def routes(self) -> list[BaseRoute]:
        get, post = ["GET"], ["POST"]
        table: list[tuple[str, Endpoint, list[str]]] = [
            ("/assets", self.assets, get),
            ("/assets/{kind}", self.assets, get),
            ("/workflows", self.workflows, get),
            ("/ctx/abi", self.ctx_abi, get),
            ("/ctx/dead-letters", self.ctx_dead_letters, get),
            ("/runs", self.list_runs, get),
            ("/runs", self.create, post),
            ("/runs/preview", self.preview, post),
            ("/runs/{id}", self.get_run, get),
            ("/runs/{id}/status", self.status, get),
            ("/runs/{id}/request", self.request, get),
            ("/runs/{id}/workflow", self.workflow, get),
            ("/runs/{id}/events", self.events, get),
            ("/runs/{id}/trace", self.trace, get),
            ("/runs/{id}/cancel", self.cancel, post),
            ("/runs/{id}/steps/{step}/submit", self.submit, post),
            ("/runs/{id}/refresh", self.refresh, post),
            ("/runs/{id}/retry", self.retry, post),
            ("/runtime/streams", self.streams, get),
            ("/runtime/streams/schema.fbs", self.schema, get),
            ("/runtime/streams/{id}/snapshot.fb", self.snapshot, get),
            ("/runtime/streams/{id}/events", self.frames, get),
            ("/runtime/streams/{id}/events.sse", self.sse, get),
        ]
        routes: list[BaseRoute] = [
            Route(path, _guarded(fn), methods=methods) for path, fn, methods in table
        ]
        # POST only: a stateless server offers no standalone SSE stream (GET) and has no
        # session to end (DELETE); 405 for both is what the MCP spec allows.
        routes.append(Route("/mcp", McpRoute(self.hosting, self.guard), methods=post))
        return routes

    # -- assets and /ctx -------------------------------------------------------------------

    async def assets(self, request: Request) -> Response:
        _no_query(request)
        kind = request.path_params.get("kind")
        return json_response(await self.hosting.read("assets", lambda ops: ops.assets(kind)))

    async def workflows(self, request: Request) -> Response:
        """The seed's ``GET /workflows``: ``GET /assets/workflows`` by another name."""
        _no_query(request)
        found = await self.hosting.read("assets", lambda ops: ops.assets("workflow"))
        return json_response(found)

    async def ctx_abi(self, request: Request) -> Response:
        _no_query(request)
        return json_response(await self.hosting.read("abi", lambda ops: ops.abi()))

    async def ctx_dead_letters(self, request: Request) -> Response:
        """The requests the substrate quarantined (specs/cortexfs-abi.md §Dead letters)."""
        _no_query(request)
        return json_response(
            await self.hosting.read(
                "dead-letters", lambda ops: list_dead_letters(ops.layout.root_path)
            )
        )

    # -- runs -------------------------------------------------------------------------------

    async def list_runs(self, request: Request) -> Response:
        if self._wants_html(request):
            assert self.html is not None
            return await self.html.runs_html(request)
        _no_query(request)
        return json_response(await self.hosting.read("list", lambda ops: ops.list_runs()))

    async def create(self, request: Request) -> Response:
        self._mutation(request)
        header = request.headers.get(TENANT_HEADER)
        # A field value's outer blanks are not part of it (RFC 9110 §5.5); HTTP servers strip
        # them, an ASGI test client may not.
        named = (
            None
            if header is None
            else check_tenant(header.strip(" \t"), "header X-Lightflow-Tenant")
        )
        if named is not None:
            # The header names the tenant before a byte of the body is read: a create past
            # its budget is refused from the ledger alone, and the body is never read (the
            # connection is closed after the answer, ADR 0119).
            try:
                self._admit_run(named)
            except OverBudget as exc:
                refused = error_response(exc)
                refused.headers["Connection"] = "close"
                return refused
        body = await RUNS.receive(request, CreateBody)
        tenant = body.tenant or named
        # Before the inputs are parsed and the host asked (ADR 0119).
        self._admit_run(tenant or DEFAULT_TENANT)
        RUNS.json_object(bytes(body.inputs), "body.inputs")
        if body.id is not None:
            decode_run_id(body.id)
        create = CreateRun(
            body.workflow, bytes(body.inputs), body.id, body.preset, model=body.model, tenant=tenant
        )
        view = await self.hosting.call(create)
        response = json_response(view, 201)
        response.headers["Location"] = f"runs/{quote(view.run_id, safe='')}"
        return response

    async def preview(self, request: Request) -> Response:
        self._mutation(request)
        body = await RUNS.receive(request, PreviewBody)
        inputs, workflow = bytes(body.inputs), body.workflow_id()
        RUNS.json_object(inputs, "body.inputs")
        resolved = await self.hosting.read(
            "preview", lambda ops: ops.preview(workflow, inputs, body.preset, body.model)
        )
        return json_response(resolved)

    async def get_run(self, request: Request) -> Response:
        if self._wants_html(request):
            assert self.html is not None
            return await self.html.run_html(request, decode_run_id(request.path_params["id"]))
        run_id = _run_id(request)
        return json_response(await self.hosting.read("get", lambda ops: ops.get(run_id)))

    async def status(self, request: Request) -> Response:
        run_id = _run_id(request)
        return json_response(await self.hosting.read("status", lambda ops: ops.status(run_id)))

    async def request(self, request: Request) -> Response:
        run_id = _run_id(request)
        return json_response(await self.hosting.read("request", lambda ops: ops.request(run_id)))

    async def workflow(self, request: Request) -> Response:
        run_id = _run_id(request)
        return json_response(await self.hosting.read("workflow", lambda ops: ops.workflow(run_id)))

    async def events(self, request: Request) -> Response:
        run_id = _run_id(request)
        data = await self.hosting.read("events", lambda ops: ops.events_ndjson(run_id))
        return Response(data, media_type=NDJSON)

    async def trace(self, request: Request) -> Response:
        run_id = _run_id(request)
        data = await self.hosting.read("trace", lambda ops: ops.trace_ndjson(run_id))
        return Response(data, media_type=NDJSON)

    async def cancel(self, request: Request) -> Response:
        self._mutation(request)
        run_id = _run_id(request)
        body = await RUNS.receive(request, CancelBody)
        view = await self.hosting.call(CancelRun(run_id, body.reason))
        return json_response(view)

    async def submit(self, request: Request) -> Response:
        self._mutation(request)
        run_id = _run_id(request)
        await RUNS.receive(request, EmptyBody)
        step = request.path_params["step"]
        view = await self.hosting.call(SubmitStep(run_id, step))
        return json_response(view)

    async def refresh(self, request: Request) -> Response:
        self._mutation(request)
        run_id = _run_id(request)
        await RUNS.receive(request, EmptyBody)
        view = await self.hosting.call(RefreshRun(run_id))
        return json_response(view)

    async def retry(self, request: Request) -> Response:
        self._mutation(request)
        run_id = _run_id(request)
        await RUNS.receive(request, EmptyBody)
        view = await self.hosting.call(RetryRun(run_id))
        return json_response(view)

    # -- streams ----------------------------------------------------------------------------

    async def streams(self, request: Request) -> Response:
        _no_query(request)
        return json_response(await self.hosting.read("streams", lambda ops: ops.streams()))

    async def schema(self, request: Request) -> Response:
        _no_query(request)
        return Response(RUNTIME_FBS, media_type="text/plain; charset=utf-8")

    async def snapshot(self, request: Request) -> Response:
        run_id = _run_id(request)
        data = await self.hosting.read("snapshot", lambda ops: ops.snapshot(run_id))
        return Response(data, media_type="application/octet-stream")

    async def frames(self, request: Request) -> Response:
        run_id = _run_id(request, StreamQuery)
        after = RUNS.query(request.query_params.multi_items(), StreamQuery).after or 0
        return await self._stream(run_id, after, "frames", FRAMES_MEDIA_TYPE)

    async def sse(self, request: Request) -> Response:
        run_id = _run_id(request, StreamQuery)
        query = RUNS.query(request.query_params.multi_items(), StreamQuery)
        last = RUNS.last_event_id(request.headers.get("last-event-id"))
        after = query.after if query.after is not None else (last or 0)
        return await self._stream(run_id, after, "sse", "text/event-stream")

    async def _stream(self, run_id: str, after: int, mode: StreamMode, media: str) -> Response:
        handle = await self.hosting.call(OpenStream(run_id, after, mode))
        keepalive = SSE_KEEPALIVE_S if mode == "sse" else None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(handle.queue.get(), keepalive)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    if item is None:
                        return
                    yield item
            finally:
                handle.tail.tell(CloseTail())

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(chunks(), media_type=media, headers=headers)

    # -- helpers ----------------------------------------------------------------------------

    def _wants_html(self, request: Request) -> bool:
        html = self.html
        return html is not None and html.serving and prefers_html(request.headers.get("accept"))

    def _admit_run(self, tenant: str) -> None:
        """Refuse (`OverBudget`, 429) a create of `tenant` when it has no run left in its
        ``runs_in_flight`` budget; counts nothing (the host admits and counts the run)."""
        ledger = self.hosting.tenants
        if ledger is not None:
            ledger.reserve_run(tenant)

    def _mutation(self, request: Request) -> None:
        self.guard.check_origin(request.headers, request.url.scheme)
        self.guard.require_token(request.headers)
        _no_query(request)


class McpRoute:
    """`POST /mcp`: the guard, the body read within `RUNS.max_body_bytes` and checked to be
    JSON (so no decoder error of the SDK can become a 500), then the SDK's Streamable HTTP
    handler (an ASGI app) gets the body already read."""

    def __init__(self, hosting: RunsPort, guard: Guard) -> None:
        self.hosting = hosting
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            self.guard.check_origin(request.headers, request.url.scheme)
            self.guard.require_token(request.headers)
        except HttpError as exc:
            await error_response(exc)(scope, receive, send)
            return
        try:
            body = await RUNS.read_body(request)
            refused = self._over_budget(body)
            if refused is not None:
                await refused(scope, receive, send)
                return
            RUNS.json_document(body, "body")
            handler = await self._handler()
        except HttpError as exc:
            await _jsonrpc_error(exc)(scope, receive, send)
            return
        except (HostNotRunning, AskTimeout, ActorExited, ActorNotAlive) as exc:
            await error_body(f"the MCP endpoint is not running: {exc}", 503)(scope, receive, send)
            return
        await handler(scope, _replay(body, receive), send)

    def _over_budget(self, body: bytes) -> Response | None:
        """A `create_run` call of a tenant with no run left in its budget, answered here
        with the tool result the SDK would give (`over_budget`, status 429) and a
        `Retry-After` header: one typed decode of the JSON-RPC envelope (the run's inputs
        skipped), no SDK, no ask (ADR 0119). None: anything else, for the usual path."""
        ledger = self.hosting.tenants
        if ledger is None or not ledger.limited:
            return None
        try:
            call = _ENVELOPE.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None  # not a create call this can read: the usual checks answer it
        params = call.params
        if call.method != "tools/call" or params is None or params.name != "create_run":
            return None
        named = params.arguments.tenant if params.arguments is not None else None
        try:
            ledger.reserve_run(check_tenant(named or DEFAULT_TENANT))
        except OverBudget as exc:
            answer = {"jsonrpc": "2.0", "id": call.id, "result": refusal_result(exc)}
            headers = {"Retry-After": exc.retry_after_header}
            return Response(msgspec.json.encode(answer), 200, headers, "application/json")
        except Refused:  # not a tenant id: the tool refuses it, naming the argument
            return None
        return None

    async def _handler(self) -> McpHandler:
        ref = self.hosting.system.whereis(self.hosting.names.mcp)
        if ref is None:
            raise HostNotRunning("the MCP endpoint actor is not running (restarting?)")
        handler: McpHandler = await ref.ask(GetMcpHandler(), timeout=10.0)
        return handler


class _CreateArgs(msgspec.Struct):
    tenant: str | None = None


class _CallParams(msgspec.Struct):
    name: str | None = None
    arguments: _CreateArgs | None = None


class _Envelope(msgspec.Struct):
    """What `McpRoute` reads of a JSON-RPC request before the SDK does: the method, the
    tool and its tenant (every other field is skipped, not decoded)."""

    method: str | None = None
    id: msgspec.Raw = msgspec.Raw(b"null")  # echoed as it came (a number, a string)
    params: _CallParams | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def _jsonrpc_error(error: HttpError) -> Response:
    """A body MCP refuses before the SDK sees it: JSON-RPC's error object (what MCP clients
    parse; -32700 parse error, -32600 invalid request) with our `field` beside it, and the
    HTTP status of the error (400, 413)."""
    code = -32700 if error.status == 400 else -32600
    body = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": code, "message": error.message},
        "field": error.field,
    }
    return Response(msgspec.json.encode(body), error.status, media_type="application/json")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the body already read, then waits on the real one
    (for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _run_id(request: Request, query: type[msgspec.Struct] = NoQuery) -> str:
    RUNS.query(request.query_params.multi_items(), query)
    return decode_run_id(request.path_params["id"])


def _no_query(request: Request) -> None:
    RUNS.query(request.query_params.multi_items(), NoQuery)


def runs_routes(
    hosting: RunsPort,
    *,
    token: str | None = None,
    allowed_origins: Collection[str] = (),
    html: HtmlRuns | None = None,
) -> list[BaseRoute]:
    """The runs routes for `create_app(routes=...)`; pass the server's token so POSTs
    (create, cancel, submit, refresh, retry, preview, /mcp) require it as the operator
    routes do, and `html` to serve browsers the runs page (`observer.runs.RunsPage`)."""
    return RunsRoutes(hosting, Guard(token, allowed_origins), html).routes()
