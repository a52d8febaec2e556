"""A transient failure (a dependency down, retried by a supervisor) is logged quietly: one
DEBUG line with its traceback, no ERROR; any other crash keeps its ERROR and traceback."""

from __future__ import annotations

import logging

import msgspec
import pytest

from lightflow_actors.kernel import Actor, StartFailed, TransientFailure, handler, is_transient

from ..conftest import Runtime


class BrokerDown(TransientFailure):
    pass


class Fail(msgspec.Struct, frozen=True):
    transient: bool


class Failing(Actor[Fail]):
    @handler
    def fail(self, msg: Fail) -> None:
        if msg.transient:
            raise BrokerDown("the broker is down")
        raise RuntimeError("a bug")


class FailingStart(Actor[Fail]):
    @handler
    def fail(self, msg: Fail) -> None:
        pass

    async def on_start(self) -> None:
        try:
            raise OSError("connection refused")
        except OSError as exc:
            raise BrokerDown("cannot connect") from exc


def test_is_transient_follows_causes_and_start_failures() -> None:
    assert is_transient(BrokerDown("x"))
    assert is_transient(StartFailed("a", BrokerDown("x")))
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = BrokerDown("inner")
    assert is_transient(wrapped)
    assert not is_transient(RuntimeError("x"))
    assert not is_transient(StartFailed("a", RuntimeError("x")))
    assert not is_transient("shutdown") and not is_transient(None)
    loop = RuntimeError("loop")
    loop.__cause__ = loop
    assert not is_transient(loop)


async def test_a_transient_crash_is_one_debug_line(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async with runtime.system(root=False) as system:
        with caplog.at_level(logging.DEBUG, logger="lightflow_actors"):
            quiet = system.spawn(Failing)
            quiet.tell(Fail(transient=True))
            assert isinstance(await system.wait_exit(quiet), BrokerDown)
            loud = system.spawn(Failing)
            loud.tell(Fail(transient=False))
            assert isinstance(await system.wait_exit(loud), RuntimeError)
            with pytest.raises(StartFailed):
                await system.start_actor(FailingStart)
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    by_text = {("broker" in r.getMessage() or "connect" in r.getMessage()): r for r in crashes}
    quiet_records = [r for r in crashes if "BrokerDown" in r.getMessage()]
    assert len(quiet_records) == 2 and all(r.levelno == logging.DEBUG for r in quiet_records)
    assert all(r.exc_info is not None for r in quiet_records)  # the traceback, at DEBUG
    assert by_text[False].levelno == logging.ERROR and "a bug" in by_text[False].getMessage()
