"""What handlers receive by name: `principal` (set by the pipeline) and `core` and `runtime`."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from entrypoints.http.runtime import HttpRuntime
from payments_core.errors import Unauthenticated
from payments_core.policies import Principal

# Handler parameters by name: `runtime: Runtime`, `principal: Caller`.
Runtime = NamedDependency[HttpRuntime]
Caller = NamedDependency[Principal]


def provide_principal(request: Request[Any, Any, Any], runtime: Runtime) -> Principal:
    """Set by the pipeline. Taking `runtime` orders the two dependencies one after the other:
    Litestar resolves independent dependencies in a task group, a cost on every request."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # a public route asked for one: a wiring mistake
        raise Unauthenticated("authentication required")
    return principal


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The caller's address as the pipeline resolved it (trusted proxies considered)."""
    return str(request.scope.get("state", {}).get("client_ip", "unknown"))
