"""What handlers receive by name: `principal` (set by the pipeline) and `core` and `runtime`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import HeaderParameter

from entrypoints.http.runtime import HttpRuntime
from payments_core.errors import Unauthenticated
from payments_core.policies import Principal

# Handler parameters by name: `runtime: Runtime`, `principal: Caller`; the client's retry key.
Runtime = NamedDependency[HttpRuntime]
Caller = NamedDependency[Principal]
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key")]


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


def tenant_currency(runtime: HttpRuntime, principal: Principal) -> str:
    """The currency of an amount whose request names none (seeds 001 and 002): the tenant's own."""
    return str(runtime.core.tenants.get_tenant(principal.tenant_id).currency)
