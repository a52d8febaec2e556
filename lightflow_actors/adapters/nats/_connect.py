"""Connecting a node to the cluster's NATS servers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client

logger = logging.getLogger(__name__)

RECONNECT_WAIT_S = 1
"""Between two attempts to reach the same server (nats-py's `reconnect_time_wait`)."""


async def connect_cluster(
    servers: str | list[str],
    *,
    node: str,
    connect_timeout_s: float = 5.0,
    on_lost: Callable[[], None] | None = None,
) -> Client:
    """A NATS client for node `node`: no echo (a node never receives its own
    publications), reconnecting forever with the default wait, named after the node so
    the server's monitoring shows who is connected. Raises `ClusterUnreachable` when no
    server answers within `connect_timeout_s`. `on_lost`, if given, is called when the
    established connection breaks (not when it is closed or drained on purpose): a
    supervised link stops there and its restart connects anew."""

    async def error(exc: Exception) -> None:
        if not client.is_connected and not client.options.get("allow_reconnect"):
            return  # the first connection failing: ClusterUnreachable says it once
        logger.warning("NATS connection of node %r: %s: %s", node, type(exc).__name__, exc)

    async def disconnected() -> None:
        if not (client.is_closed or client.is_draining):  # not when we close it ourselves
            logger.warning("node %r lost its NATS connection; reconnecting", node)
            if on_lost is not None:
                on_lost()

    async def reconnected() -> None:
        logger.info("node %r reconnected to NATS", node)

    client = Client()
    try:
        await client.connect(
            servers,
            name=f"lightflow:{node}",
            no_echo=True,
            # The first connection fails fast (nats-py would otherwise retry it forever);
            # once connected, the node reconnects forever (set below: nats-py reads these
            # options when the connection breaks, not at connect time).
            allow_reconnect=False,
            max_reconnect_attempts=max(1, int(connect_timeout_s / RECONNECT_WAIT_S)),
            reconnect_time_wait=RECONNECT_WAIT_S,
            connect_timeout=max(1, round(connect_timeout_s)),
            error_cb=error,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
        )
    except Exception as exc:  # nats-py raises NoServersError, OSError, TimeoutError
        # A handshake that timed out may leave its socket open (the server lists it).
        with contextlib.suppress(Exception):
            await client.close()
        raise ClusterUnreachable(servers, exc) from None
    except BaseException:  # cancelled (a supervised link stopped while it connected)
        with contextlib.suppress(Exception):
            await client.close()
        raise
    client.options["allow_reconnect"] = True
    client.options["max_reconnect_attempts"] = -1
    return client


class ClusterUnreachable(ConnectionError):
    """No NATS server of the cluster answered."""

    def __init__(self, servers: str | list[str], cause: Exception) -> None:
        self.servers, self.cause = servers, cause
        shown = servers if isinstance(servers, str) else ", ".join(servers)
        super().__init__(
            f"cannot reach the cluster's NATS server at {shown}: {type(cause).__name__}: "
            f"{cause}; start one (e.g. `uv run nats-server -js`) or check --cluster"
        )
