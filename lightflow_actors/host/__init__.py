"""The composition root: the runs configuration, providers and built-in tools, the runs
subtree with its embedded `/ctx` substrate, and the parts `lightflow serve` assembles.

It is the only package that imports `ctx_substrate`, and the one that wires adapters
together (HTTP routes, the MCP endpoint, the observer).

::

    from lightflow_actors.adapters.http import create_app, run_server
    from lightflow_actors.host import RunsHosting, runs_part

    run_server(options, announce, [runs_part(token=options.token)])   # lightflow serve

See specs/runs-http.md (configuration, routes, streams, MCP) and ADRs 0030-0034.
"""

from ._config import (
    CONFIG_ENV,
    AnthropicProvider,
    BuiltinToolsProvider,
    CtxConfig,
    EchoProvider,
    EvaluationConfig,
    OpenAIProvider,
    ProviderConfig,
    PythonProvider,
    RunsConfig,
    RunsSettings,
    SubprocessProvider,
    config_path,
    decode_runs_config,
    load_runs_config,
)
from ._hosting import DEFAULT_PREFIX, EmbeddedSubstrate, RunsHosting
from ._local import (
    create_and_settle,
    hosted,
    local_operations,
    refresh_and_settle,
    retry_and_settle,
    run_hosted,
    submit_and_settle,
)
from ._part import runs_part
from ._provider_setup import (
    AddedProvider,
    ProviderInputError,
    ProviderListing,
    ProviderSetupError,
    ProviderStatus,
    ProviderTest,
    RemovedProvider,
    add_provider,
    list_providers,
    remove_provider,
    test_provider,
)
from ._providers import build_providers, echo_reply, load_callable
from ._serve import (
    DEFAULT_LONG_HANDLER_MS,
    LONG_HANDLER_ENV,
    PARTS,
    PartFactory,
    WatchdogConfigError,
    live_examples,
    long_handler_threshold,
    loop_watchdog,
    runs_api,
    serve_parts,
)
from ._tenants import TenantsPage, node_tenants, tenants_part
from ._tools import BUILTIN_TOOLS, WordCount, WordCountInput, word_count

__all__ = [
    "BUILTIN_TOOLS",
    "CONFIG_ENV",
    "DEFAULT_LONG_HANDLER_MS",
    "DEFAULT_PREFIX",
    "LONG_HANDLER_ENV",
    "PARTS",
    "AddedProvider",
    "AnthropicProvider",
    "BuiltinToolsProvider",
    "CtxConfig",
    "EchoProvider",
    "EmbeddedSubstrate",
    "EvaluationConfig",
    "OpenAIProvider",
    "PartFactory",
    "ProviderConfig",
    "ProviderInputError",
    "ProviderListing",
    "ProviderSetupError",
    "ProviderStatus",
    "ProviderTest",
    "PythonProvider",
    "RemovedProvider",
    "RunsConfig",
    "RunsHosting",
    "RunsSettings",
    "SubprocessProvider",
    "TenantsPage",
    "WatchdogConfigError",
    "WordCount",
    "WordCountInput",
    "add_provider",
    "build_providers",
    "config_path",
    "create_and_settle",
    "decode_runs_config",
    "echo_reply",
    "hosted",
    "list_providers",
    "live_examples",
    "load_callable",
    "load_runs_config",
    "local_operations",
    "long_handler_threshold",
    "loop_watchdog",
    "node_tenants",
    "refresh_and_settle",
    "remove_provider",
    "retry_and_settle",
    "run_hosted",
    "runs_api",
    "runs_part",
    "serve_parts",
    "submit_and_settle",
    "tenants_part",
    "test_provider",
    "word_count",
]
