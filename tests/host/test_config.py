"""The runs configuration: embedded defaults, environment overrides, decoding errors that
name the field, providers built from it (a bad Python target is a clear error)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.cortex import CtxLayout
from lightflow_actors.host import (
    CONFIG_ENV,
    BuiltinToolsProvider,
    CtxConfig,
    EchoProvider,
    OpenAIProvider,
    PythonProvider,
    RunsConfig,
    build_providers,
    decode_runs_config,
    load_runs_config,
)
from lightflow_actors.runs import RunsConfigError

from ..runs._support import PROVIDERS


def test_the_embedded_defaults(tmp_path: Path) -> None:
    settings = RunsConfig().settings({"XDG_STATE_HOME": str(tmp_path)})
    assert settings.embedded
    assert settings.providers == (EchoProvider(), BuiltinToolsProvider())
    assert settings.layout.root.endswith("/ctx")
    # The state folder comes from the environment handed in, not the process's.
    assert settings.state_dir == tmp_path / "lightflow"
    assert settings.routes.route("api", "anthropic.messages") == (
        "local-echo",
        "route api/* -> local-echo",
    )
    # The shipped tools go to the built-in tools; no other tool is routed.
    assert settings.routes.route("tool", "wordcount") == (
        "local-tools",
        "route tool/wordcount -> local-tools",
    )
    assert settings.routes.route("tool", "grep") is None
    assert settings.policy.decide("local-echo", "thread", "news").allowed
    assert settings.policy.decide("local-tools", "tool", "wordcount").allowed
    assert not settings.policy.decide("local-echo", "tool", "wordcount").allowed
    assert not settings.policy.decide("local-tools", "api", "openai.chat").allowed
    assert not settings.policy.decide("stranger", "api", "openai.chat").allowed
    assert settings.substrate_config().uids == (settings.layout.uid,)


def test_default_routes_skip_tool_providers_for_api_and_threads() -> None:
    config = decode_runs_config(
        msgspec.json.encode(
            {
                "providers": [
                    {"kind": "subprocess", "name": "wc", "argv": ["/usr/bin/wc"]},
                    {"kind": "builtin", "name": "mine", "tools": ["wordcount"]},
                    {"kind": "builtin", "name": "spare"},
                    {"kind": "python", "name": "py", "target": "m:f"},
                ]
            }
        )
    )
    routes = config.settings({}).routes
    assert routes.api == {"*": "py"} and routes.thread == {"*": "py"}
    assert routes.tool == {"wordcount": "mine"}
    only_tools = RunsConfig(providers=(BuiltinToolsProvider(),)).settings({}).routes
    assert (only_tools.api, only_tools.thread) == ({}, {})


def test_a_mounted_tree_is_served_by_someone_else(tmp_path: Path) -> None:
    env = {"LIGHTFLOW_CTX_MOUNT": str(tmp_path / "ctx"), "LIGHTFLOW_CTX_UID": "4242"}
    settings = RunsConfig(state_dir=str(tmp_path / "s")).settings(env)
    assert settings.layout == CtxLayout(root=str(tmp_path / "ctx"), uid="4242")
    assert not settings.embedded
    chosen = decode_runs_config(
        msgspec.json.encode({"ctx": {"root": str(tmp_path / "mine"), "uid": "7"}})
    ).settings(env)
    assert chosen.embedded and chosen.layout == CtxLayout(root=str(tmp_path / "mine"), uid="7")


@pytest.mark.parametrize(
    "document,words",
    [
        (b"{", "truncated"),
        (b"[]", "Expected `object`"),
        (b'{"statedir": "x"}', "statedir"),
        (b'{"providers": [{"kind": "magic", "name": "m"}]}', "magic"),
        (b'{"providers": [{"kind": "python", "name": "../x", "target": "a:b"}]}', "name"),
        (b'{"providers": [{"kind": "python", "name": "p"}]}', "target"),
        (b'{"step_timeout_s": 0}', "step_timeout_s"),
        (b'{"max_in_flight": 0}', "max_in_flight"),
        (b'{"ctx": {"watch": "fuse"}}', "watch"),
        (b'{"routes": {"api": {"*": 3}}}', "routes"),
        (b'{"providers": [{"kind": "subprocess", "name": "t", "argv": []}]}', "argv"),
        (
            b'{"providers": [{"kind": "subprocess", "name": "t", "argv": ["x"], "mode": "sh"}]}',
            "mode",
        ),
        (b'{"providers": [{"kind": "builtin", "tools": "wordcount"}]}', "tools"),
    ],
)
def test_decoding_errors_name_the_field(document: bytes, words: str) -> None:
    with pytest.raises(RunsConfigError) as error:
        decode_runs_config(document, "runs.json")
    assert words in str(error.value) and "runs.json" in str(error.value)


@pytest.mark.parametrize(
    "document,words",
    [
        ({"providers": [{"kind": "echo"}, {"kind": "echo"}]}, "unique"),
        ({"routes": {"api": {"*": "ghost"}}}, "ghost"),
        ({"ctx": {"root": "/tmp/x", "uid": "a/b"}}, "uid"),
        ({"providers": [{"kind": "builtin", "tools": ["grep"]}]}, r"no built-in tools \['grep'\]"),
    ],
)
def test_inconsistent_configs_are_refused(document: dict[str, object], words: str) -> None:
    config = decode_runs_config(msgspec.json.encode(document))
    with pytest.raises(RunsConfigError, match=words):
        config.settings({})


def test_the_config_file_is_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text('{"step_timeout_s": 5}')
    assert load_runs_config({CONFIG_ENV: str(path)}).step_timeout_s == 5
    with pytest.raises(RunsConfigError, match="cannot read"):
        load_runs_config({CONFIG_ENV: str(tmp_path / "missing.json")})
    assert load_runs_config({"XDG_CONFIG_HOME": str(tmp_path / "none")}) == RunsConfig()


@pytest.mark.parametrize(
    "target,words",
    [
        ("no-colon", "not `module:function`"),
        (f"{PROVIDERS}:missing", "no callable"),
        (f"{PROVIDERS}:", "not `module:function`"),
        ("/nonexistent/p.py:chat", "importing"),
        ("no_such_module_here:fn", "importing"),
        ("os:sep", "no callable"),
    ],
)
def test_a_bad_python_provider_target_is_a_clear_error(target: str, words: str) -> None:
    layout = CtxLayout(root="/tmp/ctx", uid="1")
    with pytest.raises(RunsConfigError, match=words):
        build_providers((PythonProvider(name="p", target=target),), layout)


def test_providers_are_built_for_every_kind() -> None:
    layout = CtxLayout(root="/tmp/ctx", uid="1")
    config = decode_runs_config(
        msgspec.json.encode(
            {
                "providers": [
                    {"kind": "echo"},
                    {"kind": "python", "name": "py", "target": f"{PROVIDERS}:chat"},
                    {"kind": "openai", "name": "oa", "channel": "openai"},
                    {"kind": "subprocess", "name": "wc", "argv": ["/usr/bin/wc"]},
                    {"kind": "subprocess", "name": "wcl", "argv": ["wc"], "mode": "argv"},
                    {"kind": "builtin"},
                ]
            }
        )
    )
    names = [spec.name for spec in build_providers(config.providers, layout)]
    assert names == ["local-echo", "py", "oa", "wc", "wcl", "local-tools"]
    with pytest.raises(RunsConfigError, match="channel"):
        build_providers((OpenAIProvider(name="oa", channel="../up"),), layout)


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_a_config_or_a_config_error(data: bytes) -> None:
    with contextlib.suppress(RunsConfigError):
        decode_runs_config(data)


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["state_dir", "assets", "ctx", "providers", "routes", "kind", "name"])
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@given(json_documents)
def test_any_json_decodes_to_a_config_or_a_config_error(document: object) -> None:
    try:
        config = decode_runs_config(msgspec.json.encode(document))
    except RunsConfigError:
        return
    with contextlib.suppress(RunsConfigError):
        config.settings({"XDG_STATE_HOME": "/tmp/lightflow-hypothesis"})


def test_a_fuse_mount_keeps_the_tree_in_the_state_folder(tmp_path: Path) -> None:
    mount = str(tmp_path / "mnt")
    config = RunsConfig(state_dir=str(tmp_path / "state"), ctx=CtxConfig(fuse_mount=mount))
    settings = config.settings({})
    assert settings.fuse_mount == mount and settings.ctx_source == "state"
    assert settings.layout.root == str(tmp_path / "state" / "ctx")
    assert settings.substrate_config().mount is None  # only serve mounts it
    mounted = settings.substrate_config(fuse=True)
    assert (mounted.root, mounted.mount, mounted.direct_writers) == (
        settings.layout.root,
        mount,
        True,
    )
    backed = RunsConfig(ctx=CtxConfig(root=str(tmp_path / "b"), fuse_mount=mount)).settings({})
    assert (backed.layout.root, backed.ctx_source) == (str(tmp_path / "b"), "config")


@pytest.mark.parametrize(
    ("ctx", "environ", "words"),
    [
        ({"fuse_mount": "relative/mnt"}, {}, "must be an absolute path"),
        ({"fuse_mount": "/t/b", "root": "/t/b"}, {}, "must not contain each other"),
        ({"fuse_mount": "/t/b/m", "root": "/t/b"}, {}, "must not contain each other"),
        ({"fuse_mount": "/t", "root": "/t/b"}, {}, "must not contain each other"),
        ({"fuse_mount": "/t/m"}, {"LIGHTFLOW_CTX_MOUNT": "/x"}, "served elsewhere"),
        ({"fuse_mount": "/t/m", "embedded": False}, {}, "needs the embedded substrate"),
    ],
)
def test_a_bad_fuse_mount_is_a_config_error(
    ctx: dict[str, object], environ: dict[str, str], words: str
) -> None:
    config = decode_runs_config(msgspec.json.encode({"ctx": ctx}))
    with pytest.raises(RunsConfigError, match=r"ctx\.fuse_mount") as info:
        config.settings(environ)
    assert words in str(info.value)
