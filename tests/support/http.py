"""The HTTP app on a real PostgreSQL for the API tests, and tenants to call it as.

api = Api(...)                       # one per test module (see tests/http/conftest.py)
acme = api.tenant()                  # a fresh tenant: its own users, tokens and API key
api.client.get("/api/v1/payments", headers=acme.headers())
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import attrs
from litestar.testing import TestClient

from adapters.auth.tokens import JwtTokens, TokenSettings
from adapters.crypto.secret_box import FernetSecretBox
from adapters.memory.system import SystemClock
from adapters.postgres.deliveries import PostgresDeliveryStore
from adapters.postgres.edge import PostgresIdempotencyStore, PostgresRateLimiter
from adapters.postgres.pool import make_pool
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.postgres.views import PostgresPaymentViews
from adapters.providers.sandbox import SandboxProvider
from entrypoints.composition import wire_core
from entrypoints.http import HttpRuntime, create_app
from entrypoints.http.settings import HttpSettings
from payments_core import PaymentsCore
from payments_core.money import Money
from payments_core.policies import Principal, Scope

ALL_SCOPES = frozenset(scope.value for scope in Scope)
JWT_SECRET = "test-secret-for-the-http-suite-0123456789"
BASE = "/api/v1"


@attrs.define
class TenantHandle:
    """One tenant seen from outside: ids, and the credentials of its people and keys."""

    api: Api
    id: str
    currency: str

    def token(
        self,
        user: str = "alice",
        scopes: Iterable[str] = ALL_SCOPES,
        mfa: bool = True,
        livemode: bool = False,
        mfa_at: datetime | None = None,
    ) -> str:
        now = self.api.clock.now()
        verified = mfa_at if mfa_at is not None else (now if mfa else None)
        return self.api.tokens.issue(self.id, user, scopes, now, verified, livemode)

    def headers(
        self, user: str = "alice", scopes: Iterable[str] = ALL_SCOPES, **extra: str
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, scopes)}", **extra}

    def principal(self, user: str = "alice", scopes: Iterable[str] = ALL_SCOPES) -> Principal:
        return Principal.user(self.id, user, scopes, self.api.clock.now(), livemode=False)

    def api_key(self, scopes: Iterable[str] | None = None, livemode: bool = False) -> str:
        created = self.api.core.api_keys.create_api_key(self.principal(), "tests", livemode, scopes)
        return str(created.secret)

    def paid_payment(self, amount: str = "99.00", user: str = "alice") -> str:
        """A payment completed through a sandbox checkout, as a customer would pay it."""
        session = self.api.core.checkout.create_session(
            self.principal(user),
            amount=Money.parse(amount, self.currency),
            reference=f"ord-{uuid.uuid4().hex[:8]}",
        )
        self.api.sandbox.complete_checkout(session.provider_reference)
        return str(session.payment_id)

    def pending_payment(self, amount: str = "99.00") -> str:
        session = self.api.core.checkout.create_session(
            self.principal(),
            amount=Money.parse(amount, self.currency),
            reference=f"ord-{uuid.uuid4().hex[:8]}",
        )
        return str(session.payment_id)


@attrs.define
class Api:
    client: TestClient[Any]
    core: PaymentsCore
    tokens: JwtTokens
    sandbox: SandboxProvider
    clock: SystemClock
    runtime: HttpRuntime

    def tenant(self, currency: str = "USD", rate_limit_scale: int = 1) -> TenantHandle:
        tenant_id = f"ten_{uuid.uuid4().hex[:12]}"
        self.core.tenants.create_tenant(
            tenant_id, f"Tenant {tenant_id}", currency, livemode=False, rate_limit_scale=rate_limit_scale
        )
        return TenantHandle(self, tenant_id, currency)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(BASE + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(BASE + path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.client.put(BASE + path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.client.patch(BASE + path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(BASE + path, **kwargs)


@contextmanager
def running_api(database_url: str, settings: HttpSettings | None = None) -> Iterator[Api]:
    pool = make_pool(database_url, max_size=8)
    clock = SystemClock()
    core, sandbox = wire_core(
        PostgresUnitOfWorkFactory(pool, clock),
        clock,
        "whsec_http_tests",
        FernetSecretBox([FernetSecretBox.new_key()]),
        delivery_store=PostgresDeliveryStore(pool),
    )
    tokens = JwtTokens(TokenSettings(secret=JWT_SECRET, ttl=timedelta(minutes=10)))
    runtime = HttpRuntime(
        core=core,
        tokens=tokens,
        idempotency=PostgresIdempotencyStore(pool),
        limiter=PostgresRateLimiter(pool),
        views=PostgresPaymentViews(database_url),
        settings=settings or HttpSettings(),
        sandbox=sandbox,
    )
    try:
        with TestClient(create_app(runtime)) as client:
            yield Api(client, core, tokens, sandbox, clock, runtime)
    finally:
        pool.close()


def error_code(response: Any) -> str:
    """The stable code of an error answer, in either envelope."""
    body = response.json()
    if "errors" in body:
        return str(body["errors"][0]["code"])
    return str(body["error"]["code"])


def wait_for_a_fresh_window(api: Api, margin_seconds: float = 5.0) -> None:
    """Rate limits count per clock minute (fixed windows of real time): start a burst where it
    cannot straddle two, so that all of it is counted in one. A hundred requests on a busy
    machine take seconds: give such a burst a wider margin."""
    now = api.clock.now()
    left = 60 - now.second - now.microsecond / 1_000_000
    if left < margin_seconds:
        time.sleep(left + 0.1)
