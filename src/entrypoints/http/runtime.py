"""Everything a request needs, built once by the composition root and shared by all requests."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from adapters.auth.tokens import JwtTokens
from adapters.providers.sandbox import SandboxProvider
from entrypoints.http.settings import HttpSettings
from payments_core import PaymentsCore
from payments_core.ports.edge import IdempotencyStore, RateLimiter
from payments_core.ports.views import PaymentViews


def _always_ready() -> bool:
    return True


@attrs.frozen
class HttpRuntime:
    core: PaymentsCore
    tokens: JwtTokens
    idempotency: IdempotencyStore
    limiter: RateLimiter
    # The hottest reads, awaited on the event loop; opened and closed with the app.
    views: PaymentViews
    settings: HttpSettings = attrs.field(factory=HttpSettings)
    sandbox: SandboxProvider | None = None
    # Whether the database answers; `/ready` reports it.
    ready: Callable[[], bool] = _always_ready
