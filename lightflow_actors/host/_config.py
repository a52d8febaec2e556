"""The runs configuration: where runs, assets and the `/ctx` tree live, and who answers.

One JSON file, decoded once by msgspec (`RunsConfig`): `$LIGHTFLOW_RUNS_CONFIG` when set,
else `$XDG_CONFIG_HOME/lightflow/runs.json` when it exists, else the embedded defaults:
runs under the XDG state dir, the `/ctx` tree (`/ctx/home/<uid>`, as the seed has it, when
`/ctx` exists and is writable; else a plain folder `<state>/ctx`) served by an embedded
substrate (directory backend, no FUSE), and two deterministic offline providers:
`local-echo` (api formats and threads) and `local-tools` (the built-in tools, e.g.
`wordcount`). The HTTP channels are opt-in: providers of kind `openai` (any
OpenAI-compatible server) and `anthropic` (`lightflow provider add` writes them).
See specs/runs-http.md §1 for every field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import platformdirs

from ctx_substrate import Policy, PolicyRule, Routes, SubstrateConfig
from lightflow_actors.cortex import (
    DEFAULT_MOUNT,
    CtxLayout,
    CtxSource,
    TargetKind,
    check_segment_id,
)
from lightflow_actors.flow import (
    EvaluationLimits,
    ProviderAsset,
    ProviderProblem,
    default_assets_root,
    default_state_dir,
    overlay_roots,
    scan_provider_assets,
)
from lightflow_actors.runs import RunsConfigError

from ._tools import BUILTIN_TOOLS

__all__ = [
    "CONFIG_ENV",
    "AnthropicProvider",
    "BuiltinToolsProvider",
    "CtxConfig",
    "EchoProvider",
    "EvaluationConfig",
    "OpenAIProvider",
    "ProviderConfig",
    "PythonProvider",
    "RunsConfig",
    "RunsSettings",
    "SubprocessProvider",
    "config_path",
    "decode_runs_config",
    "load_runs_config",
]

CONFIG_ENV = "LIGHTFLOW_RUNS_CONFIG"
Positive = Annotated[float, msgspec.Meta(gt=0)]
ProviderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class EchoProvider(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="echo"
):
    """The deterministic local provider (the default): answers every api format in that
    format's response shape, and threads with `{"text"}`; the reply is `template` with
    `{user}`, `{system}`, `{model}`, `{format}` replaced. No network, no randomness."""

    name: ProviderName = "local-echo"
    template: str = "echo: {user}"
    model: str = "echo"


Concurrency = Annotated[int, msgspec.Meta(ge=1, le=256)]
"""How many requests a provider serves at once (None: its kind's default)."""


class PythonProvider(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="python"
):
    """A Python callable `fn(ProviderRequest) -> JSON`: `target` is `package.module:fn` or
    `/path/to/file.py:fn`. `blocking` runs a sync function in a worker thread.
    `concurrency` default: 16 for an `async def` or `blocking` function, else 1."""

    name: ProviderName
    target: str
    model: str = ""
    blocking: bool = False
    concurrency: Concurrency | None = None


class OpenAIProvider(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="openai"
):
    """Opt-in: forward api requests to an OpenAI-compatible endpoint configured by the
    channel folder `/ctx/chan/<channel>/` (url, keyref, ...)."""

    name: ProviderName
    channel: str
    timeout_s: Positive = 60.0
    concurrency: Concurrency = 16
    pin_model: bool = False  # send the channel's `mod`, not the model a step names


class AnthropicProvider(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="anthropic"
):
    """Opt-in: forward `anthropic.messages` requests to an Anthropic Messages endpoint
    configured by the channel folder `/ctx/chan/<channel>/` (url, keyref, ...)."""

    name: ProviderName
    channel: str
    timeout_s: Positive = 60.0
    concurrency: Concurrency = 16
    pin_model: bool = False  # send the channel's `mod`, not the model a step names


class BuiltinToolsProvider(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="builtin"
):
    """The built-in deterministic tools (a default, named `local-tools`): typed Python
    functions shipped with lightflow (`wordcount`: `{text}` → `{words, lines}`). `tools`
    narrows the set (default: all). Default routes send each of its tools to it."""

    name: ProviderName = "local-tools"
    tools: tuple[str, ...] | None = None

    def served(self) -> tuple[str, ...]:
        return tuple(BUILTIN_TOOLS) if self.tools is None else self.tools


class SubprocessProvider(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="subprocess"
):
    """A tool run as `argv` without a shell. `mode` `json` (default): the request body (the
    tool's input) on stdin as JSON, stdout parsed as the JSON answer. `mode` `argv`: a
    plain program; the body is `{"args", "stdin"}` and the answer `{"exit_code", "stdout",
    "stderr"}`. `output_limit` bytes of stdout and stderr together."""

    name: ProviderName
    argv: Annotated[tuple[str, ...], msgspec.Meta(min_length=1)]
    mode: Literal["json", "argv"] = "json"
    timeout_s: Positive = 30.0
    output_limit: Annotated[int, msgspec.Meta(ge=1)] = 1 << 20
    concurrency: Concurrency = 4


ProviderConfig = (
    EchoProvider
    | PythonProvider
    | OpenAIProvider
    | AnthropicProvider
    | BuiltinToolsProvider
    | SubprocessProvider
)
TOOL_PROVIDERS = (BuiltinToolsProvider, SubprocessProvider)
IN_PROCESS_PROVIDERS = (EchoProvider, PythonProvider, BuiltinToolsProvider)


class CtxConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The `/ctx` tree. `root` defaults to `$LIGHTFLOW_CTX_MOUNT`, else `/ctx` when it
    exists and is writable (the seed's mount point), else `<state>/ctx`; `embedded`
    (default: true unless the tree comes from `$LIGHTFLOW_CTX_MOUNT`) starts our substrate
    on it with the directory backend (unless another lightflow process serves it: the
    tree lease says). `fuse_mount`: `lightflow serve` also mounts the tree there with the
    FUSE backend (`root`, default `<state>/ctx`, is then its backing folder). `shortcut`:
    requests to in-process Python providers of the embedded substrate are handed to it
    directly, with fewer fsyncs (ADR 0100); false keeps every exchange on the file
    watches with every fsync of the ABI."""

    root: str | None = None
    uid: str | None = None
    embedded: bool | None = None
    watch: Literal["inotify", "poll"] = "inotify"
    fuse_mount: str | None = None
    shortcut: bool = True


class EvaluationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits of the child process that evaluates asset files (specs/flow.md §Evaluation):
    wall time per resolution, address space (`RLIMIT_AS`), evaluations at once, and warm
    workers kept for files that define no code resolution calls (ADR 0110; 0: none)."""

    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    memory_mb: Annotated[int, msgspec.Meta(ge=64, le=1 << 20)] = 512
    max_concurrent: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    warm_workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 4

    def limits(self) -> EvaluationLimits:
        return EvaluationLimits(
            timeout_s=self.timeout_s,
            memory_bytes=self.memory_mb << 20,
            max_concurrent=self.max_concurrent,
            warm_workers=self.warm_workers,
        )


class RunsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the runs host needs; every field has a working default.

    `routes` default: every api format and every thread to the first provider that is not
    a tool provider (`builtin`, `subprocess`), and each built-in tool to the first
    `builtin` provider serving it. `policy` default: each provider may serve exactly what
    the routes send it.
    """

    state_dir: str | None = None
    assets: str | None = None
    asset_overlays: tuple[str, ...] = ()
    ctx: CtxConfig = CtxConfig()
    providers: tuple[ProviderConfig, ...] = (EchoProvider(), BuiltinToolsProvider())
    routes: Routes | None = None
    policy: Policy | None = None
    step_timeout_s: Positive = 600.0
    max_in_flight: Annotated[int, msgspec.Meta(ge=1)] | None = None
    evaluation: EvaluationConfig = EvaluationConfig()

    def settings(self, environ: Mapping[str, str] | None = None) -> RunsSettings:
        """Resolve the defaults against the environment into concrete paths."""
        env = os.environ if environ is None else environ
        state = Path(self.state_dir) if self.state_dir else default_state_dir(environ)
        assets = Path(self.assets) if self.assets else default_assets_root()
        overlays = _overlays(assets, self.asset_overlays, env.get("LIGHTFLOW_ASSETS"))
        mount = env.get("LIGHTFLOW_CTX_MOUNT") or None
        source: CtxSource
        fuse_mount = _fuse_mount(self.ctx, mount, state)
        if fuse_mount is not None and not self.ctx.root:
            # The mount point is the FUSE view; its backing tree is the state folder's.
            source, root, uid = "state", str(state / "ctx"), self.ctx.uid or str(os.getuid())
        elif self.ctx.root:
            source, root, uid = "config", self.ctx.root, self.ctx.uid or str(os.getuid())
        elif mount is not None:
            try:
                layout = CtxLayout.from_env(env)
            except ValueError as exc:  # a uid that is not one path segment (`../x`)
                raise RunsConfigError("LIGHTFLOW_CTX_UID", str(exc)) from None
            source, root, uid = "env", layout.root, self.ctx.uid or layout.uid
        elif _writable_dir(SEED_MOUNT):
            source, root, uid = "ctx", SEED_MOUNT, self.ctx.uid or str(os.getuid())
        else:
            source, root, uid = "state", str(state / "ctx"), self.ctx.uid or str(os.getuid())
        try:
            layout = CtxLayout(root=root, uid=check_segment_id("uid", uid))
        except ValueError as exc:
            raise RunsConfigError("ctx.uid", str(exc)) from None
        embedded = self.ctx.embedded
        if embedded is None:
            embedded = self.ctx.root is not None or mount is None
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise RunsConfigError("providers", f"provider names must be unique, got {names}")
        _check_builtin_tools(self.providers)
        routes = self.routes if self.routes is not None else _default_routes(self.providers)
        configured = self.routes if self.routes is not None else Routes()  # defaults yield
        found, problems = _provider_assets((assets, *overlays), names, configured)
        providers = self.providers + tuple(_as_config(a) for a in found)
        routes = _with_asset_routes(routes, found)
        names = [p.name for p in providers]
        unknown = routes.providers() - set(names)
        if unknown:
            raise RunsConfigError(
                "routes", f"routes name unknown providers {sorted(unknown)}; known: {names}"
            )
        policy = self.policy if self.policy is not None else _routed_policy(routes)
        return RunsSettings(
            state_dir=state,
            assets=assets,
            asset_overlays=overlays,
            layout=layout,
            ctx_source=source,
            embedded=embedded,
            fuse_mount=fuse_mount,
            watch=self.ctx.watch,
            shortcut=self.ctx.shortcut,
            providers=providers,
            routes=routes,
            policy=policy,
            step_timeout_s=self.step_timeout_s,
            max_in_flight=self.max_in_flight,
            evaluation=self.evaluation.limits(),
            provider_assets=tuple(found),
            provider_problems=tuple(problems),
        )


class RunsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A `RunsConfig` with every default resolved (what the host and the CLI use)."""

    state_dir: Path
    assets: Path
    asset_overlays: tuple[Path, ...]  # added to `assets`, shadowing its ids
    layout: CtxLayout
    ctx_source: CtxSource  # why `layout` is this tree (`AbiRecord.source`)
    embedded: bool
    fuse_mount: str | None  # where `serve` mounts the tree with FUSE (layout: its backing)
    watch: Literal["inotify", "poll"]
    providers: tuple[ProviderConfig, ...]
    routes: Routes
    policy: Policy
    step_timeout_s: float
    max_in_flight: int | None
    evaluation: EvaluationLimits = EvaluationLimits()
    provider_assets: tuple[ProviderAsset, ...] = ()  # `@provider`s of the asset folders
    provider_problems: tuple[ProviderProblem, ...] = ()  # those that could not be taken
    shortcut: bool = True  # `ctx.shortcut` (ADR 0100)

    def routed_in_process(self, kind: TargetKind, name: str) -> bool:
        """Whether the routes send this target to a provider that runs in this process
        (a Python callable: `echo`, `python`, `builtin`, an asset `@provider`)."""
        routed = self.routes.route(kind, name)
        if routed is None:
            return False
        for provider in self.providers:
            if provider.name == routed[0]:
                return isinstance(provider, IN_PROCESS_PROVIDERS)
        return False

    def routed_on_loop(self, kind: TargetKind, name: str) -> bool:
        """Whether the routes send this target to an in-process callable that runs on
        the event loop: `echo`, or a `python` provider (an asset `@provider` too) that is
        not `blocking`. Its exchanges may be served in memory and journaled by the run
        (ADR 0122); a blocking callable's call, on a worker thread, keeps its request
        file, so that a restart serves an interrupted call again marked `resumed`."""
        routed = self.routes.route(kind, name)
        if routed is None:
            return False
        for provider in self.providers:
            if provider.name == routed[0]:
                if isinstance(provider, PythonProvider):
                    return not provider.blocking
                return isinstance(provider, EchoProvider)
        return False

    def substrate_config(self, *, fuse: bool = False) -> SubstrateConfig:
        """The embedded substrate's configuration: the directory backend on the tree, and
        with `fuse` (what `serve` asks) the FUSE backend mounted at `fuse_mount` too."""
        mount = self.fuse_mount if fuse else None
        return SubstrateConfig(
            root=self.layout.root,
            mount=mount,
            direct_writers=mount is not None,
            routes=self.routes,
            policy=self.policy,
            uids=(self.layout.uid,),
            watch=self.watch,
        )


SEED_MOUNT = DEFAULT_MOUNT
"""The seed's mount point, used by default when it is a writable folder (tests point it
elsewhere)."""


def _fuse_mount(ctx: CtxConfig, env_mount: str | None, state: Path) -> str | None:
    """`ctx.fuse_mount`, checked: absolute, not the backing tree nor inside it (or it
    inside), and only for a tree this process may serve (not `$LIGHTFLOW_CTX_MOUNT`'s)."""
    if ctx.fuse_mount is None:
        return None
    mount = Path(ctx.fuse_mount)
    if not mount.is_absolute():
        raise RunsConfigError("ctx.fuse_mount", f"{ctx.fuse_mount!r} must be an absolute path")
    if ctx.root is None and env_mount is not None:
        raise RunsConfigError(
            "ctx.fuse_mount",
            "$LIGHTFLOW_CTX_MOUNT says the tree is served elsewhere; a FUSE mount needs this "
            "process to serve it (unset the variable, or set ctx.root)",
        )
    if ctx.embedded is False:
        raise RunsConfigError("ctx.fuse_mount", "needs the embedded substrate (ctx.embedded)")
    backing = Path(ctx.root) if ctx.root else state / "ctx"
    a, b = os.path.abspath(mount), os.path.abspath(backing)
    if a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep):
        raise RunsConfigError(
            "ctx.fuse_mount",
            f"the mount point {a} and the backing tree {b} must not contain each other",
        )
    return a


def _overlays(base: Path, configured: tuple[str, ...], env: str | None) -> tuple[Path, ...]:
    """The config's `asset_overlays`, then `$LIGHTFLOW_ASSETS`'s folders: each must be a
    folder (a typo would hide nothing and add nothing, silently); the base and repeats are
    dropped."""
    found: list[Path] = []
    seen = {base.resolve()}
    sources = [("asset_overlays", Path(p)) for p in configured if p]
    sources += [("LIGHTFLOW_ASSETS", p) for p in overlay_roots(env)]
    for source, path in sources:
        if not path.is_dir():
            raise RunsConfigError(
                source,
                f"{str(path)!r} is not a folder; an asset overlay is a folder with "
                "workflows/, nodes/, ... beside the shipped assets",
            )
        if path.resolve() not in seen:
            seen.add(path.resolve())
            found.append(path)
    return tuple(found)


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _check_builtin_tools(providers: tuple[ProviderConfig, ...]) -> None:
    for provider in providers:
        if isinstance(provider, BuiltinToolsProvider):
            unknown = sorted(set(provider.served()) - set(BUILTIN_TOOLS))
            if unknown:
                raise RunsConfigError(
                    f"providers[{provider.name}].tools",
                    f"no built-in tools {unknown}; the built-in tools are {sorted(BUILTIN_TOOLS)}",
                )


def _default_routes(providers: tuple[ProviderConfig, ...]) -> Routes:
    answering = [p.name for p in providers if not isinstance(p, TOOL_PROVIDERS)]
    tools: dict[str, str] = {}
    for provider in providers:
        if isinstance(provider, BuiltinToolsProvider):
            for tool in provider.served():
                tools.setdefault(tool, provider.name)
    if not answering:
        return Routes(tool=tools)
    return Routes(api={"*": answering[0]}, tool=tools, thread={"*": answering[0]})


def _provider_assets(
    roots: tuple[Path, ...], configured: list[str], routes: Routes
) -> tuple[list[ProviderAsset], list[ProviderProblem]]:
    """The `@provider` functions of the asset folders (ADR 0102), read without running
    them; one whose name or route the runs config already has is a problem (the config
    wins), so a route never changes hands silently. The default routes yield to them."""
    listing = scan_provider_assets(roots)
    found: list[ProviderAsset] = []
    problems = list(listing.problems)
    for asset in listing.providers:
        clash = None
        if asset.decl.name in configured:
            clash = f"provider {asset.decl.name!r} is also in the runs config"
        for kind, name in asset.decl.routes():
            if name in routes.table(kind):
                clash = f"route {kind}/{name} is already configured to {routes.table(kind)[name]}"
        if clash is None:
            found.append(asset)
        else:
            problems.append(
                ProviderProblem(
                    asset.path,
                    asset.line,
                    "duplicate",
                    f"{clash}; the config wins (failure: duplicate)",
                )
            )
    return found, problems


def _as_config(asset: ProviderAsset) -> PythonProvider:
    decl = asset.decl
    return PythonProvider(
        name=decl.name,
        target=asset.target,
        model=decl.model,
        blocking=decl.blocking,
        concurrency=decl.concurrency,
    )


def _with_asset_routes(routes: Routes, found: list[ProviderAsset]) -> Routes:
    if not found:
        return routes
    tables = {"api": dict(routes.api), "tool": dict(routes.tool), "thread": dict(routes.thread)}
    for asset in found:
        for kind, name in asset.decl.routes():
            tables[kind][name] = asset.decl.name
    return Routes(
        api=tables["api"], tool=tables["tool"], thread=tables["thread"], limits=routes.limits
    )


def _routed_policy(routes: Routes) -> Policy:
    """Allow each provider exactly the names routed to it; deny the rest."""
    rules = []
    for provider in sorted(routes.providers()):
        picked = {
            kind: tuple(name for name, p in routes.table(kind).items() if p == provider)
            for kind in ("api", "tool", "thread")
        }
        rules.append(
            PolicyRule(provider, api=picked["api"], tool=picked["tool"], thread=picked["thread"])
        )
    return Policy(rules=tuple(rules), default="deny")


def decode_runs_config(data: bytes, source: str = "<bytes>") -> RunsConfig:
    """Decode a runs config document; `RunsConfigError` names the bad field."""
    try:
        return msgspec.json.decode(data, type=RunsConfig)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RunsConfigError(source, str(exc)) from None
    except UnicodeDecodeError as exc:  # a string that is not UTF-8
        raise RunsConfigError(source, f"not UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise RunsConfigError(source, "nested too deeply") from None


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in force: `$LIGHTFLOW_RUNS_CONFIG`, or the XDG one if it exists."""
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_ENV)
    if named:
        return Path(named)
    default = platformdirs.user_config_path("lightflow") / "runs.json"
    return default if default.is_file() else None


def load_runs_config(environ: Mapping[str, str] | None = None) -> RunsConfig:
    """The runs config from its file (see `config_path`), or the embedded defaults."""
    path = config_path(environ)
    if path is None:
        return RunsConfig()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunsConfigError(str(path), f"cannot read it ({exc.strerror})") from None
    return decode_runs_config(data, str(path))
