"""A host Starlette service that mounts the lightflow operator app under ``/ops``.

The service has its own routes (``/orders``) and its own actors (an ``Orders`` actor under
a supervisor), started and stopped by its own lifespan. The operator app shares that
``ActorSystem``: it does not start or stop it, it only adds its gateway under its own
supervisor (started on the first ``/ops`` request) and shows the whole tree.

Run it::

    uv run --frozen python examples/embed/service.py --port 8000
    curl -X POST localhost:8000/orders -d '{"item": "tea", "qty": 2}'
    curl localhost:8000/ops/system/tree       # or open http://127.0.0.1:8000/ops/observer
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.adapters.http import create_app
from lightflow_actors.observer import observer_page
from lightflow_actors.supervision import ChildSpec, Supervisor


class Order(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /orders`` body."""

    item: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1


class PlaceOrder(Ask[int], frozen=True):
    """Record an order; replies with its number."""

    order: Order


class ListOrders(Ask[list[Order]], frozen=True):
    """Every order so far."""


class Orders(Actor[PlaceOrder | ListOrders]):
    """The service's own state, kept by an actor (registered as ``orders``)."""

    def __init__(self) -> None:
        self.orders: list[Order] = []

    def on_start(self) -> None:
        self.system.register("orders", self.ref)

    @handler
    def place(self, msg: PlaceOrder) -> int:
        self.orders.append(msg.order)
        return len(self.orders)

    @handler
    def all_orders(self, msg: ListOrders) -> list[Order]:
        return list(self.orders)


def build_app(token: str | None = None) -> Starlette:
    """The host service: its routes, its actors, and the operator app under ``/ops``."""
    system = ActorSystem(name="shop")

    async def list_orders(request: Request) -> Response:
        orders = await system.lookup("orders", Orders).ask(ListOrders())
        return Response(msgspec.json.encode(orders), media_type="application/json")

    async def place_order(request: Request) -> Response:
        try:
            order = msgspec.json.decode(await request.body(), type=Order)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            body = msgspec.json.encode({"error": f"invalid order: {exc}"})
            return Response(body, status_code=400, media_type="application/json")
        number = await system.lookup("orders", Orders).ask(PlaceOrder(order))
        return Response(
            msgspec.json.encode({"order": number}), status_code=201, media_type="application/json"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with system:  # the host owns the system: started here, stopped on exit
            await system.start_actor(
                lambda: Supervisor([ChildSpec(id="orders", start=Orders)]), name="shop"
            )
            yield

    return Starlette(
        routes=[
            Route("/orders", list_orders, methods=["GET"]),
            Route("/orders", place_order, methods=["POST"]),
            Mount("/ops", app=create_app(system, token=token, pages=[observer_page()])),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    asyncio.run(serve(build_app(os.environ.get("LIGHTFLOW_TOKEN")), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
