"""A full disk, a spent quota, a lost permission or an exhausted file table refuses the one
request that hit it (`StorageUnavailable`, reason `unavailable`): the runs host does not
crash, so repeated failures never exhaust its supervisor's restart intensity, and once the
cause is gone the next request succeeds."""

from __future__ import annotations

import errno

import pytest

from lightflow_actors.kernel import Refused
from lightflow_actors.runs import AwaitSettled, CreateRun, RunsOperations, StorageUnavailable

from ._support import RunsEnv

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EMFILE]
)
async def test_a_storage_error_refuses_the_request_and_the_host_goes_on(
    runs_env: RunsEnv, host, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    real_create = RunsOperations.new_run  # what the host writes a run with
    failing = {"on": True}

    def create(self: RunsOperations, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if failing["on"]:
            raise OSError(code, "simulated", str(runs_env.runs / "x" / "manifest.json"))
        return real_create(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RunsOperations, "new_run", create)
    async with host() as hosting:
        system = hosting._system
        assert system is not None
        host_before = system.whereis(hosting.names.host)
        for attempt in range(8):  # more than the runs supervisor's restart intensity
            with pytest.raises(Refused) as refused:
                await hosting.call(CreateRun("greet", b'{"name": "Ada"}', f"s{attempt}"))
            assert isinstance(refused.value, StorageUnavailable)
            assert refused.value.reason == "unavailable"
            assert errno.errorcode[code] in str(refused.value)
            assert "manifest.json" in str(refused.value)
        # the same host answered every time: it never crashed
        assert system.whereis(hosting.names.host) is host_before
        failing["on"] = False  # space returns
        await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "ok"))
        view = await hosting.call(AwaitSettled("ok"))
    assert view.status == "succeeded"


async def test_an_unrelated_os_error_is_still_a_crash_of_the_host(
    runs_env: RunsEnv, host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the storage errnos are refusals; anything else is a bug the supervisor handles."""

    def create(self: RunsOperations, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        raise OSError(errno.EBADF, "a bug")

    monkeypatch.setattr(RunsOperations, "new_run", create)
    async with host() as hosting:
        with pytest.raises(Exception) as failed:
            await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "b1"))
        assert not isinstance(failed.value, StorageUnavailable)
