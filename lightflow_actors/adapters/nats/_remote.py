"""A cluster-wide name registry and remote `tell`/`ask` over NATS (specs/cluster.md §Registry).

Erlang's `global` keeps one name per cluster; a process on another node is reached by
the same `!` and monitored by the same `monitor/2`, whose `'DOWN'` says `noconnection`
when the node is lost. Here the kernel stays unaware of NATS: a remote actor is reached
through a local **proxy actor**, so what a caller holds is an ordinary `ActorRef`:

- `RemoteRegistry` (one per node, an actor) registers names in the `lf_registry` bucket
  (`kv.create`: a name has one holder; a holder whose node is down is replaced by
  compare-and-set on its revision), serves `lf.actor.<node>` (request/reply carries
  `tell` and `ask`), heartbeats on `lf.node.heartbeat`, and broadcasts the exit of each
  registered actor on `lf.registry.down`.
- `WhereIs(name)` answers the local actor, or a proxy for a remote one. A proxy forwards
  every message whose type is in the node's `MessageTypes` table (others are refused
  with `UnknownMessageType`), and exits with the remote actor's reason when it exits, or
  with `"noconnection"` when its node goes silent, says goodbye, or this node loses NATS.
  Monitors and links on the proxy see that exit as they would a local one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import typing
from typing import Any, Final, Literal

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from lightflow_actors.kernel import (
    NOCONNECTION,
    NOPROC,
    Actor,
    ActorExited,
    ActorRef,
    AnyRef,
    Ask,
    AskTimeout,
    Down,
    ExitReason,
    LightflowError,
    RefusalReason,
    Refused,
    UnhandledMessage,
    format_reason,
    handler,
)

from ._buckets import open_bucket

logger = logging.getLogger(__name__)

REGISTRY_BUCKET: Final = "lf_registry"
REGISTRY_NAME: Final = "lightflow.cluster.registry"
"""The local name `lightflow serve --cluster` gives the node's `RemoteRegistry`."""
HEARTBEAT_S: Final = 1.0
DOWN_AFTER_S: Final = 3.0
MAX_ENVELOPE: Final = 1 << 20
DEFAULT_ASK_TIMEOUT_S: Final = 5.0
UNBOUNDED_ASK_S: Final = 86_400.0
"""The NATS request bound of a remote ask whose caller set no timeout (``timeout=None``):
it waits until answered or the proxy exits (its node down: ``"noconnection"``)."""
_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,200}")


def name_key(name: str) -> str:
    """The bucket key of a registered name: itself when plain, else `=` and its UTF-8 in hex."""
    if _PLAIN_KEY.fullmatch(name):
        return name
    return "=" + name.encode("utf-8", "surrogatepass").hex()


ErrorKind = Literal[
    "unknown_type", "malformed", "noproc", "unhandled", "refused", "exited", "timeout", "failed"
]


class UnknownMessageType(Refused):
    """A message whose type is not in the node's `MessageTypes` table: it cannot cross."""

    reason = "invalid"


class NameHeld(Refused):
    """The name is registered to a live actor elsewhere in the cluster (Erlang: `no`)."""

    reason = "conflict"

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"name {name!r} is already registered to {holder}; pick another name")
        self.name, self.holder = name, holder


class RemoteCallFailed(LightflowError):
    """A remote `ask` answered with an error (`kind` says which; `detail` the remote text)."""

    def __init__(self, node: str, name: str, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"remote ask to {name!r} on node {node!r} failed ({kind}): {detail}")
        self.node, self.name, self.kind, self.detail = node, name, kind, detail


class RemoteExit(LightflowError):
    """A remote actor crashed: its reason, as its node formatted it."""

    def __init__(self, node: str, reason: str) -> None:
        super().__init__(f"on node {node!r}: {reason}")
        self.node, self.reason_text = node, reason


class MessageTypes:
    """The message types that may cross nodes, by wire name (default: the qualified name).

    Every node of a cluster registers the same table; a message whose type is not in it
    is refused on send (`UnknownMessageType`) and on receipt (error `unknown_type`).
    """

    def __init__(self, *types: type[msgspec.Struct]) -> None:
        self._by_name: dict[str, type[msgspec.Struct]] = {}
        self._by_type: dict[type, str] = {}
        for cls in types:
            self.register(cls)

    def register(self, cls: type[msgspec.Struct], name: str | None = None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            raise TypeError(f"a remote message type is a msgspec.Struct class, got {cls!r}")
        wire = name or f"{cls.__module__}.{cls.__qualname__}"
        held = self._by_name.get(wire)
        if held is not None and held is not cls:
            raise ValueError(f"message type name {wire!r} is taken by {held!r}")
        self._by_name[wire] = cls
        self._by_type[cls] = wire

    def name_of(self, cls: type) -> str | None:
        return self._by_type.get(cls)

    def by_name(self, name: str) -> type[msgspec.Struct] | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self._by_name)


def reply_type(cls: type) -> Any:
    """`R` of a message class deriving from `Ask[R]` (Any when it cannot be read)."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is Ask:
                (arg,) = typing.get_args(base)
                return Any if isinstance(arg, typing.TypeVar) else arg
    return Any


# --- wire ---------------------------------------------------------------------------


WIRE_VERSION: Final = 2
"""The envelope's wire version this node speaks (specs/cluster.md §Compatibility). 1: the
first (`target`, `type`, `body`, `ask`; a node of that version refuses any other field);
2: `timeout_s` and `v`, unknown fields ignored."""


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """One message to the actor registered as `target` on the receiving node.

    Compatibility (specs/cluster.md §Compatibility): a receiver ignores fields it does not
    know, and every field after the first four has a default, so an envelope of any version
    decodes on any node from version 2 on. `v` is the sender's wire version (absent: 1): the
    serving node answers in what that version reads. A sender writes only what the target's
    node reads: its registration says its version (`Registration.wire`), and a node of
    version 1 gets exactly the four first fields (no `timeout_s`, no `v`).

    An ask carries its caller's remaining time (`timeout_s`): the serving node's local ask
    waits that long (absent: the default 5 s, as from a node of version 1)."""

    target: str
    type: str
    body: msgspec.Raw
    ask: bool = False
    timeout_s: typing.Annotated[float, msgspec.Meta(gt=0, le=86_400.0)] | None = None
    v: typing.Annotated[int, msgspec.Meta(ge=1)] = 1


def envelope_for(
    wire: int, target: str, type_name: str, body: msgspec.Raw, ask: bool, timeout_s: float | None
) -> Envelope:
    """The envelope a node of wire version `wire` reads: version 1 gets no `timeout_s` and
    no `v` (its decoder refuses unknown fields); later versions get both."""
    if wire < 2:
        return Envelope(target, type_name, body, ask)
    return Envelope(target, type_name, body, ask, timeout_s, WIRE_VERSION)


class Answer(msgspec.Struct, frozen=True):
    """The reply to an ask. Its fields are those of version 1, which a node of that version
    decodes with unknown fields refused: a field added here must only be sent to askers
    whose envelope's `v` reads it. Received answers ignore unknown fields, and a `kind` or
    `reason` this node does not know reads as `failed` / no reason."""

    ok: bool
    value: msgspec.Raw = msgspec.Raw(b"\xc0")  # the reply's MessagePack (nil if none)
    kind: str | None = None  # an ErrorKind; a newer node's unknown kind reads as "failed"
    detail: str = ""
    reason: str | None = None  # of a refusal (a RefusalReason): it crosses with its reason


_ERROR_KINDS: Final = frozenset(typing.get_args(ErrorKind))
_REFUSAL_REASONS: Final = frozenset(typing.get_args(RefusalReason))


def answer_kind(answer: Answer) -> ErrorKind:
    """The answer's error kind, `failed` when it is none this node knows."""
    kind = answer.kind
    return typing.cast(ErrorKind, kind) if kind in _ERROR_KINDS else "failed"


def answer_reason(answer: Answer) -> RefusalReason | None:
    reason = answer.reason
    return typing.cast(RefusalReason, reason) if reason in _REFUSAL_REASONS else None


class Registration(msgspec.Struct, frozen=True):
    name: str
    node: str
    actor: int
    wire: int = 1  # the holder's node's envelope version (absent: a node of version 1)


class NodeBeat(msgspec.Struct, frozen=True):
    node: str
    goodbye: bool = False


class ExitNotice(msgspec.Struct, frozen=True):
    name: str
    node: str
    actor: int
    atom: str | None = None  # an atom or "shutdown" of a ("shutdown", term) reason
    text: str = ""  # the formatted reason otherwise


_encoder = msgspec.msgpack.Encoder()
_envelope_decoder = msgspec.msgpack.Decoder(Envelope)
_answer_decoder = msgspec.msgpack.Decoder(Answer)
_registration_decoder = msgspec.msgpack.Decoder(Registration)
_beat_decoder = msgspec.msgpack.Decoder(NodeBeat)
_exit_decoder = msgspec.msgpack.Decoder(ExitNotice)


def _reason_notice(name: str, node: str, actor: int, reason: ExitReason) -> ExitNotice:
    if isinstance(reason, str):
        return ExitNotice(name, node, actor, atom=reason)
    if isinstance(reason, tuple):
        return ExitNotice(name, node, actor, atom="shutdown", text=repr(reason[1]))
    return ExitNotice(name, node, actor, text=format_reason(reason))


def _notice_reason(notice: ExitNotice) -> ExitReason:
    atoms = ("normal", "shutdown", "kill", "killed", "noproc", "noconnection")
    if notice.atom == "shutdown" and notice.text:
        return ("shutdown", notice.text)
    if notice.atom in atoms:
        return typing.cast(ExitReason, notice.atom)
    return RemoteExit(notice.node, notice.text or "crashed")


# --- messages of the registry actor -------------------------------------------------


class Register(Ask[None], frozen=True):
    """Register the local actor `ref` as `name` in the whole cluster (`NameTaken` if held)."""

    name: str
    ref: AnyRef


class Unregister(Ask[bool], frozen=True):
    name: str


class WhereIs(Ask["AnyRef | None"], frozen=True):
    """The actor registered as `name` anywhere in the cluster: local, or a proxy; or None."""

    name: str


class RegistryInfo(msgspec.Struct, frozen=True):
    node: str
    names: tuple[str, ...]
    proxies: int
    nodes_up: tuple[str, ...]
    nodes_down: tuple[str, ...]
    received: int
    refused: int


class GetRegistryInfo(Ask[RegistryInfo], frozen=True):
    pass


class _Tick(msgspec.Struct, frozen=True):
    pass


class _Inbound(msgspec.Struct, frozen=True):
    subject: str
    data: bytes


class _ProxyGone(msgspec.Struct, frozen=True):
    key: tuple[str, str, int]


RegistryMessage = Register | Unregister | WhereIs | GetRegistryInfo | Down | _Tick | _Inbound


class RemoteProxy(Actor[msgspec.Struct]):
    """Stands for the actor `name` (id `actor`) on node `node`; forwards what it gets."""

    def __init__(
        self,
        client: Client,
        prefix: str,
        types: MessageTypes,
        node: str,
        name: str,
        actor: int,
        wire: int = WIRE_VERSION,
    ) -> None:
        self.client, self.prefix, self.types = client, prefix, types
        self.node, self.name, self.actor = node, name, actor
        self.wire = wire  # what the remote node reads (its registration says)
        self.subject = f"{prefix}.actor.{node}"
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_stop(self, reason: ExitReason) -> None:
        for task in self.tasks:
            task.cancel()

    @handler
    def forward(self, msg: msgspec.Struct) -> None:
        wire = self.types.name_of(type(msg))
        if wire is None:
            raise UnknownMessageType(
                f"{type(msg).__qualname__} is not in the cluster's message-type table; "
                f"register it with MessageTypes.register on every node"
            )
        is_ask = isinstance(msg, Ask)
        body = msgspec.Raw(_encoder.encode(msg))
        if not is_ask:
            data = _encoder.encode(envelope_for(self.wire, self.name, wire, body, False, None))
            task = asyncio.get_running_loop().create_task(self._tell(data))
        else:
            reply = self.defer(typing.cast(Ask[Any], msg))
            # The caller's timeout, not a fixed one: what is left of it bounds the request
            # and the serving node's local ask (no timeout: until the proxy exits).
            left = reply.time_left()
            if left is None and reply.pending:
                left = UNBOUNDED_ASK_S
            if left is None or left <= 0:
                return  # the caller gave up already: nothing to answer
            left = min(left, UNBOUNDED_ASK_S)
            data = _encoder.encode(envelope_for(self.wire, self.name, wire, body, True, left))
            task = asyncio.get_running_loop().create_task(
                self._ask(data, reply, reply_type(type(msg)), left)
            )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _tell(self, data: bytes) -> None:
        with contextlib.suppress(Exception):  # at most once, as a local tell to a dead actor
            await self.client.publish(self.subject, data)

    async def _ask(self, data: bytes, reply: Any, rtype: Any, timeout: float) -> None:
        try:
            msg = await self.client.request(self.subject, data, timeout=timeout)
            answer = _answer_decoder.decode(msg.data)
        except asyncio.CancelledError:
            raise
        except (TimeoutError, nats.errors.TimeoutError):
            reply.fail(RemoteCallFailed(self.node, self.name, "timeout", "no answer in time"))
            return
        except Exception as exc:
            reply.fail(RemoteCallFailed(self.node, self.name, "failed", f"{type(exc).__name__}"))
            return
        if answer.ok:
            try:
                value = msgspec.msgpack.decode(answer.value, type=rtype)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                reply.fail(RemoteCallFailed(self.node, self.name, "malformed", str(exc)))
                return
            reply.send(value)
        elif answer.kind == "refused":
            reply.refuse(Refused(answer.detail, answer_reason(answer)))
        else:
            reply.fail(RemoteCallFailed(self.node, self.name, answer_kind(answer), answer.detail))
            if answer.kind == "noproc":
                self.stop(NOPROC)

    @handler
    def stop_proxy(self, msg: _StopProxy) -> None:
        self.stop(msg.reason)


class _StopProxy(msgspec.Struct, frozen=True):
    reason: Any


class RemoteRegistry(Actor[RegistryMessage]):
    """The node's part of the cluster-wide registry and of remote routing.

    ::

        types = MessageTypes(Inc, Get)
        kv = await open_registry_bucket(client)
        reg = await system.start_actor(lambda: RemoteRegistry(client, kv, "a", types))
        await reg.ask(Register("counter", counter_ref))          # on node a
        ref = await reg_b.ask(WhereIs("counter"))                # on node b: a proxy
        await ref.ask(Get())                                     # crosses to node a
    """

    def __init__(
        self,
        client: Client,
        kv: KeyValue,
        node: str,
        types: MessageTypes,
        *,
        prefix: str = "lf",
        heartbeat_s: float = HEARTBEAT_S,
        down_after_s: float = DOWN_AFTER_S,
    ) -> None:
        self.client, self.kv, self.node, self.types, self.prefix = client, kv, node, types, prefix
        self.heartbeat_s, self.down_after_s = heartbeat_s, down_after_s
        self.local: dict[str, AnyRef] = {}  # registered here: name -> ref (read by `_serve`)
        self.revisions: dict[str, int] = {}
        self.watching: dict[int, str] = {}  # monitor of a registered actor -> its name
        self.proxies: dict[tuple[str, str, int], ActorRef[msgspec.Struct]] = {}
        self.proxy_monitors: dict[int, tuple[str, str, int]] = {}
        self.heard: dict[str, float] = {}
        self.down: set[str] = set()
        self.started_at = 0.0
        self.last_tick = 0.0
        self.subs: list[Subscription] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.received = 0
        self.refused = 0

    async def on_start(self) -> None:
        self.started_at = self.last_tick = self.system.clock.now()
        p = self.prefix
        me = self.ref

        async def inbound(msg: Msg) -> None:
            if me.alive:
                me.tell(_Inbound(msg.subject, msg.data))

        self.subs = [
            await self.client.subscribe(f"{p}.actor.{self.node}", cb=self._serve),
            await self.client.subscribe(f"{p}.node.heartbeat", cb=inbound),
            await self.client.subscribe(f"{p}.registry.down", cb=inbound),
        ]
        await self._beat()
        self.send_after(self.heartbeat_s, self.ref, _Tick())

    async def on_stop(self, reason: ExitReason) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.client.publish(
                f"{self.prefix}.node.heartbeat", _encoder.encode(NodeBeat(self.node, True))
            )
        for name in list(self.local):
            await self._release(name, None)
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # --- registration ------------------------------------------------------------

    @handler
    async def register(self, msg: Register) -> None:
        name, ref = msg.name, msg.ref
        if not name:
            raise Refused("a registered name is a non-empty string", "invalid")
        held = self.local.get(name)
        if held is not None:
            if held == ref:
                return
            raise NameHeld(name, repr(held))
        key = name_key(name)
        value = _encoder.encode(Registration(name, self.node, ref.id, WIRE_VERSION))
        try:
            revision = await self.kv.create(key, value)
        except KeyWrongLastSequenceError:
            revision = await self._take_over(name, key, value)
        except Exception as exc:
            raise Refused(
                f"the registry bucket is unavailable: {type(exc).__name__}", "unavailable"
            ) from None
        if not ref.alive:  # exited while the bucket answered
            await self._delete(key, revision)
            raise Refused(f"{ref!r} exited before {name!r} was registered", "not_found")
        self.local[name] = ref
        self.revisions[name] = revision
        self.watching[self.monitor(ref)] = name

    async def _take_over(self, name: str, key: str, value: bytes) -> int:
        """The name is in the bucket: replace the entry if its holder's node is down, or
        if its holder was an actor of this node that is gone (a registry before a restart
        of the cluster subsystem, whose stop could not reach NATS to delete it)."""
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return await self.kv.create(key, value)
        holder = _decode_registration(entry.value)
        if holder is not None and not (
            self._node_down(holder.node) or self._gone_here(holder.node, holder.actor)
        ):
            raise NameHeld(name, f"actor {holder.actor} on node {holder.node}")
        try:
            return await self.kv.update(key, value, last=entry.revision)
        except KeyWrongLastSequenceError:
            raise NameHeld(name, "another node registered it meanwhile") from None

    def _gone_here(self, node: str, actor: int) -> bool:
        if node != self.node:
            return False
        ref = self.system.get(actor)
        return ref is None or not ref.alive

    @handler
    async def unregister(self, msg: Unregister) -> bool:
        if msg.name not in self.local:
            return False
        await self._release(msg.name, None)
        return True

    async def _release(self, name: str, reason: ExitReason | None) -> None:
        ref = self.local.pop(name, None)
        revision = self.revisions.pop(name, None)
        if revision is not None:
            await self._delete(name_key(name), revision)
        if ref is not None and reason is not None:
            notice = _reason_notice(name, self.node, ref.id, reason)
            with contextlib.suppress(Exception):
                await self.client.publish(f"{self.prefix}.registry.down", _encoder.encode(notice))

    async def _delete(self, key: str, revision: int) -> None:
        with contextlib.suppress(Exception):  # taken over meanwhile, or NATS away: theirs now
            await self.kv.delete(key, last=revision)

    # --- lookup ------------------------------------------------------------------

    @handler
    async def whereis(self, msg: WhereIs) -> AnyRef | None:
        local = self.local.get(msg.name)
        if local is not None:
            return local
        try:
            entry = await self.kv.get(name_key(msg.name))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        except Exception as exc:
            raise Refused(
                f"the registry bucket is unavailable: {type(exc).__name__}", "unavailable"
            ) from None
        holder = _decode_registration(entry.value)
        if holder is None or holder.name != msg.name:
            return None
        if holder.node == self.node or self._node_down(holder.node):
            return None  # a leftover of this node's earlier life, or of a node gone
        key = (holder.node, holder.name, holder.actor)
        proxy = self.proxies.get(key)
        if proxy is not None and proxy.alive:
            return proxy
        client, prefix, types = self.client, self.prefix, self.types
        proxy = self.spawn(
            lambda: RemoteProxy(
                client, prefix, types, holder.node, holder.name, holder.actor, holder.wire
            )
        )
        self.proxies[key] = proxy
        self.proxy_monitors[self.monitor(proxy)] = key
        self.heard.setdefault(holder.node, self.system.clock.now())
        return proxy

    def _node_down(self, node: str) -> bool:
        if node in self.down:
            return True
        if node in self.heard:
            return False
        # never heard since this node started: down once a heartbeat would have come
        return self.system.clock.now() - self.started_at > self.down_after_s

    # --- signals -----------------------------------------------------------------

    @handler
    async def exited(self, msg: Down) -> None:
        name = self.watching.pop(msg.monitor, None)
        if name is not None:
            if self.local.get(name) == msg.actor:
                await self._release(name, msg.reason)
            return
        self.proxy_monitors.pop(msg.monitor, None)
        for key, proxy in list(self.proxies.items()):
            if proxy == msg.actor:
                del self.proxies[key]

    @handler
    def inbound(self, msg: _Inbound) -> None:
        if msg.subject.endswith(".node.heartbeat"):
            try:
                beat = _beat_decoder.decode(msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                self.refused += 1
                return
            if beat.node == self.node:
                return
            if beat.goodbye:
                self.heard.pop(beat.node, None)
                self.down.add(beat.node)
                self._lost(lambda key: key[0] == beat.node)
            else:
                self.heard[beat.node] = self.system.clock.now()
                self.down.discard(beat.node)
            return
        try:
            notice = _exit_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            self.refused += 1
            return
        key = (notice.node, notice.name, notice.actor)
        proxy = self.proxies.get(key)
        if proxy is not None and proxy.alive:
            proxy.tell(_StopProxy(_notice_reason(notice)))

    @handler
    async def tick(self, msg: _Tick) -> None:
        self.send_after(self.heartbeat_s, self.ref, _Tick())
        await self._beat()
        if not self.client.is_connected:  # this node lost NATS: every remote actor is lost
            self._lost(lambda key: True)
            return
        now, last_tick = self.system.clock.now(), self.last_tick
        self.last_tick = now
        if now - last_tick > self.heartbeat_s + self.down_after_s / 2:
            # This tick comes half a lease period late or more: this node was stopped or
            # starved (a loaded machine), and the silence it would judge is its own, its
            # peers' heartbeats still queued. Count every peer as heard now and judge no
            # one (as the runs warden does): a starved node must not cut its live peers
            # off (`noconnection`), failing every remote ask in flight to them.
            for node in self.heard:
                self.heard[node] = now
            return
        for node, last in list(self.heard.items()):
            if now - last > self.down_after_s:
                logger.info("node %r is down (silent %.1f s)", node, now - last)
                del self.heard[node]
                self.down.add(node)
                self._lost(_on_node(node))

    def _lost(self, which: typing.Callable[[tuple[str, str, int]], bool]) -> None:
        for key, proxy in list(self.proxies.items()):
            if which(key) and proxy.alive:
                proxy.tell(_StopProxy(NOCONNECTION))

    async def _beat(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.publish(
                f"{self.prefix}.node.heartbeat", _encoder.encode(NodeBeat(self.node))
            )

    @handler
    def info(self, msg: GetRegistryInfo) -> RegistryInfo:
        return RegistryInfo(
            node=self.node,
            names=tuple(sorted(self.local)),
            proxies=sum(1 for p in self.proxies.values() if p.alive),
            nodes_up=tuple(sorted(self.heard)),
            nodes_down=tuple(sorted(self.down)),
            received=self.received,
            refused=self.refused,
        )

    # --- serving remote messages (a NATS callback on the node's loop) -------------

    async def _serve(self, msg: Msg) -> None:
        self.received += 1
        try:
            answer = self._deliver(msg)
        except Exception as exc:  # never let hostile bytes break the node's subscription
            answer = self._error("malformed", f"{type(exc).__name__}: {exc}")
        if answer is None:
            return
        if isinstance(answer, Answer):
            await self._respond(msg, answer)
            return
        task = asyncio.get_running_loop().create_task(self._answer_ask(msg, *answer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _deliver(self, msg: Msg) -> Answer | tuple[AnyRef, Ask[Any], float] | None:
        """Tell at once; an ask is returned to be awaited; errors as an `Answer`."""
        if len(msg.data) > MAX_ENVELOPE:
            return self._error(
                "malformed", f"envelope of {len(msg.data)} bytes exceeds {MAX_ENVELOPE}"
            )
        try:
            env = _envelope_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            return self._error("malformed", f"envelope: {exc}")
        cls = self.types.by_name(env.type)
        if cls is None:
            return self._error(
                "unknown_type", f"{env.type!r} is not in this node's message-type table"
            )
        try:
            message = msgspec.msgpack.decode(env.body, type=cls)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            return self._error("malformed", f"{env.type}: {exc}")
        if env.ask != isinstance(message, Ask):
            return self._error("malformed", f"{env.type} sent as {'ask' if env.ask else 'tell'}")
        ref = self.local.get(env.target)
        if ref is None or not ref.alive:
            return self._error("noproc", f"no actor registered as {env.target!r} on {self.node!r}")
        if isinstance(message, Ask):
            return (ref, message, env.timeout_s or DEFAULT_ASK_TIMEOUT_S)
        try:
            ref.tell(message)  # type: ignore[arg-type]
        except UnhandledMessage as exc:
            return self._error("unhandled", str(exc))
        return None

    def _error(self, kind: ErrorKind, detail: str) -> Answer:
        self.refused += 1
        return Answer(False, kind=kind, detail=detail)

    async def _answer_ask(self, msg: Msg, ref: AnyRef, message: Ask[Any], timeout: float) -> None:
        try:
            value = await ref.ask(message, timeout=timeout)
            answer = Answer(True, value=msgspec.Raw(_encoder.encode(value)))
        except Refused as exc:
            answer = Answer(False, kind="refused", detail=exc.message, reason=exc.reason)
        except UnhandledMessage as exc:
            answer = self._error("unhandled", str(exc))
        except AskTimeout as exc:
            answer = Answer(False, kind="timeout", detail=str(exc))
        except ActorExited as exc:
            answer = Answer(False, kind="exited", detail=str(exc))
        except Exception as exc:  # the reply does not serialise, the actor is gone, ...
            answer = Answer(False, kind="failed", detail=f"{type(exc).__name__}: {exc}")
        await self._respond(msg, answer)

    async def _respond(self, msg: Msg, answer: Answer) -> None:
        if not msg.reply:
            return  # a tell: nobody to answer
        with contextlib.suppress(Exception):
            await msg.respond(_encoder.encode(answer))


def _on_node(node: str) -> typing.Callable[[tuple[str, str, int]], bool]:
    return lambda key: key[0] == node


def _decode_registration(data: bytes | None) -> Registration | None:
    try:
        return _registration_decoder.decode(data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


async def open_registry_bucket(client: Client, *, bucket: str = REGISTRY_BUCKET) -> KeyValue:
    """The registry bucket (history 1), created if absent."""
    return await open_bucket(client, bucket)
