"""Liveness and readiness, for load balancers and orchestrators. Public and never rate limited."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.exceptions import HTTPException

from entrypoints.http.dependencies import Runtime

OPEN = {"public": True, "rate_limit": "none"}


@get("/health", opt=OPEN, tags=["health"], sync_to_thread=False)
def health() -> dict[str, Any]:
    """The process answers."""
    return {"status": "ok"}


@get("/ready", opt=OPEN, tags=["health"], sync_to_thread=True)
def ready(runtime: Runtime) -> dict[str, Any]:
    """The process can serve: its database answers."""
    if not runtime.ready():
        raise HTTPException(status_code=503, detail="the database is not reachable")
    return {"status": "ready"}


ROUTES = [health, ready]
