"""Observer tests share the operator-app fixtures of the HTTP adapter's tests."""

from ..adapters.http.conftest import demo_process, live_server, operator

__all__ = ["demo_process", "live_server", "operator"]
