"""The token key file: created once (0600 in a 0700 folder), read back the same, refused
with a message naming the fix when another user could read it, when it is short,
oversized, a symlink or a folder; hubs derive their own key from it."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.live import (
    LiveHub,
    SecretFileError,
    default_secret_path,
    load_or_create_secret,
)
from lightflow_actors.live_examples.counter import counter

pytestmark = pytest.mark.anyio


def test_created_once_with_private_modes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "live" / "secret.key"
    key = load_or_create_secret(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_secret(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp file left


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_secret(path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys) == 8
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_a_key_others_may_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    load_or_create_secret(path)
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match=r"chmod 600"):
        load_or_create_secret(path)


def test_a_symlink_or_a_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "real.key"
    load_or_create_secret(target)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(SecretFileError, match="symlink"):
        load_or_create_secret(link)
    folder = tmp_path / "folder.key"
    folder.mkdir()
    with pytest.raises(SecretFileError):
        load_or_create_secret(folder)


@settings(max_examples=60, deadline=None)
@given(content=st.binary(max_size=2048))
def test_any_content_is_a_key_or_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("key") / "secret.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    if 32 <= len(content) <= 1024:
        assert load_or_create_secret(path) == content  # invalid UTF-8 is fine: bytes
    else:
        with pytest.raises(SecretFileError, match=str(path)):
            load_or_create_secret(path)


async def test_hubs_sign_with_the_file_and_survive_a_restart(tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    async with ActorSystem("first", seed=1) as system:
        hub = LiveHub(system, {"counter": counter}, secret=key)
        await hub.start()
        token = hub.token("00000000000000ab")
        other = LiveHub(system, {"counter": counter}, secret=key, name="other")
        await other.start()
        assert not other.verify("00000000000000ab", token)  # each hub its own key
        await hub.stop()
        await other.stop()
    async with ActorSystem("second", seed=2) as system:
        hub = LiveHub(system, {"counter": counter}, secret=key)
        await hub.start()
        assert hub.verify("00000000000000ab", token)  # the page of the last boot rejoins
        await hub.stop()


async def test_the_default_key_lives_under_the_xdg_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_secret_path() == tmp_path / "lightflow" / "live" / "secret.key"
    async with ActorSystem("default", seed=1) as system:
        hub = LiveHub(system, {"counter": counter})
        await hub.start()
        await hub.stop()
    assert default_secret_path().is_file()
