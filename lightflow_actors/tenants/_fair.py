"""`FairQueue`: work waiting for a shared resource, served round-robin across tenants.

Deficit round robin (Shreedhar & Varghese, 1995) with a cost of one per item: each tenant
with work waiting has its own FIFO; a round visits the tenants in the order they started
waiting and serves each up to its `weight` items before moving on. A tenant that floods
the queue therefore delays only its own work: a quiet tenant's item waits for at most one
round (one item per other waiting tenant, times their weights), however many items the
noisy one queued. Within one tenant, order stays FIFO.

An item may not be servable now (its route is at its limit, its tenant must wait for its
provider-call budget): `pop` skips it, and it keeps its place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["FairQueue"]

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Per-tenant FIFOs served by weighted round robin.

    ::

        queue: FairQueue[str] = FairQueue()
        queue.push("noisy", "a"); queue.push("noisy", "b"); queue.push("quiet", "c")
        queue.pop()   # ("noisy", "a"), then ("quiet", "c"), then ("noisy", "b")
    """

    __slots__ = ("_credit", "_queues", "_ring", "_size", "_weight")

    def __init__(self, weight: Callable[[str], int] | None = None) -> None:
        self._queues: dict[str, deque[T]] = {}
        self._ring: deque[str] = deque()  # tenants with work waiting; the head is served
        self._credit = 0  # items the head may still take this round
        self._weight = weight or (lambda _tenant: 1)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def push(self, tenant: str, item: T) -> None:
        """Queue `item` last among `tenant`'s."""
        queue = self._queues.get(tenant)
        if queue is None:
            queue = self._queues[tenant] = deque()
            self._ring.append(tenant)
            if len(self._ring) == 1:
                self._credit = self._weight(tenant)
        queue.append(item)
        self._size += 1

    def push_front(self, tenant: str, item: T) -> None:
        """Put `item` back first among `tenant`'s (work handed back, to be served next)."""
        queue = self._queues.get(tenant)
        if queue is None:
            queue = self._queues[tenant] = deque()
            self._ring.appendleft(tenant)
            self._credit = self._weight(tenant)
        queue.appendleft(item)
        self._size += 1

    def pop(
        self,
        servable: Callable[[str, T], bool] | None = None,
        ready: Callable[[str], bool] | None = None,
    ) -> tuple[str, T] | None:
        """The next `(tenant, item)` in round-robin order whose tenant is `ready` and whose
        item is `servable`, or None when none is (then nothing changes but the round's
        position). `ready` is asked once per tenant and turn: a tenant that must wait (its
        budget) is passed over without looking at its items."""
        ring = self._ring
        for _ in range(len(ring)):
            tenant = ring[0]
            if self._credit <= 0:
                self._next()
                continue
            if ready is not None and not ready(tenant):
                self._next()
                continue
            queue = self._queues[tenant]
            found = self._take(queue, tenant, servable)
            if found is not None:
                self._credit -= 1
                if not queue:
                    del self._queues[tenant]
                    ring.popleft()
                    self._credit = self._weight(ring[0]) if ring else 0
                elif self._credit <= 0:
                    self._next()
                return tenant, found
            self._next()  # nothing of this tenant can go now: its turn passes
        return None

    def remove(self, tenant: str, item: T) -> bool:
        """Take `item` (this very object) out of `tenant`'s line, wherever it waits; False
        when it is not there. A tenant left with nothing waiting leaves the round."""
        queue = self._queues.get(tenant)
        if queue is None:
            return False
        for index, queued in enumerate(queue):
            if queued is item:
                del queue[index]
                self._size -= 1
                if not queue:
                    del self._queues[tenant]
                    was_head = self._ring[0] == tenant
                    self._ring.remove(tenant)
                    if was_head:
                        self._credit = self._weight(self._ring[0]) if self._ring else 0
                return True
        return False

    def drain(self) -> Iterator[tuple[str, T]]:
        """Take every item (round-robin order), emptying the queue."""
        while self._ring:
            popped = self.pop()
            if popped is None:  # pragma: no cover - pop without a filter always finds one
                return
            yield popped

    def count(self, tenant: str) -> int:
        """Items of `tenant` waiting."""
        queue = self._queues.get(tenant)
        return 0 if queue is None else len(queue)

    def waiting(self) -> dict[str, int]:
        """Items waiting, by tenant."""
        return {tenant: len(queue) for tenant, queue in self._queues.items()}

    def _take(
        self, queue: deque[T], tenant: str, servable: Callable[[str, T], bool] | None
    ) -> T | None:
        if servable is None:
            self._size -= 1
            return queue.popleft()
        for index, item in enumerate(queue):
            if servable(tenant, item):
                del queue[index]
                self._size -= 1
                return item
        return None

    def _next(self) -> None:
        self._ring.rotate(-1)
        self._credit = self._weight(self._ring[0]) if self._ring else 0
