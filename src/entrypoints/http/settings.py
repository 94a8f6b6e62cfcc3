"""Server settings: rate limits (the seeds' figures by default) and what the edge trusts.

Every limit is `hits per window` for one bucket. A bucket is per tenant, per user (an API key
counts as its own user) or per client IP, as the seed that sets the limit says. A tenant's plan
multiplies its tenant and user limits (`Tenant.rate_limit_scale`); per-IP limits protect public
pages and are the server's alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import attrs


class Per(StrEnum):
    TENANT = "tenant"
    USER = "user"
    IP = "ip"


@attrs.frozen
class Limit:
    per: Per
    hits: int
    window: timedelta = timedelta(minutes=1)


# Seed 004: every endpoint, 100 per minute per user. Seed 003 sets stricter ones per route.
DEFAULT_LIMIT: Final = Limit(Per.USER, 100)
SEED_LIMITS: Final[Mapping[str, Limit]] = MappingProxyType(
    {
        "default": DEFAULT_LIMIT,
        "checkout.create": Limit(Per.TENANT, 10),
        "checkout.read": Limit(Per.TENANT, 30),
        "refunds.create": Limit(Per.TENANT, 5),
        "links.view": Limit(Per.IP, 10),
        "links.checkout": Limit(Per.IP, 3),
        "api_keys.manage": Limit(Per.TENANT, 10),
        "webhooks.test": Limit(Per.TENANT, 5),
        "webhooks.inbound": Limit(Per.IP, 600),
        # Not in a seed: guessing a 6-digit code must stay slow, whoever holds the token.
        "mfa.enroll": Limit(Per.USER, 10),
        "mfa.verify": Limit(Per.USER, 10),
        # Not in a seed: Pay and Fail on the hosted sandbox checkout page. A customer needs one;
        # a shared address (an office, a carrier's NAT) a few more.
        "pages.submit": Limit(Per.IP, 10),
        "public": Limit(Per.IP, 60),
        # Health and readiness probes: never limited (a load balancer polls them all the time).
        "none": Limit(Per.IP, 0),
    }
)


@attrs.frozen
class HttpSettings:
    limits: Mapping[str, Limit] = SEED_LIMITS
    idempotency_ttl: timedelta = timedelta(hours=24)
    # Proxies whose X-Forwarded-For is believed; without one, the peer address is the client.
    trusted_proxies: frozenset[str] = frozenset()
    public_base_url: str = "http://127.0.0.1:8000"
    # Test-mode helpers (`/sandbox/sessions/{id}/pay`); off means they answer 404 for everyone.
    sandbox_enabled: bool = True

    def limit(self, name: str) -> Limit:
        return self.limits.get(name, self.limits.get("default", DEFAULT_LIMIT))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpSettings:
        env = os.environ if environ is None else environ
        listed = env.get("PAYMENTS_TRUSTED_PROXIES", "").split(",")
        proxies = frozenset(proxy.strip() for proxy in listed if proxy.strip())
        return cls(
            trusted_proxies=proxies,
            public_base_url=env.get("PAYMENTS_PUBLIC_URL", cls().public_base_url),
            sandbox_enabled=env.get("PAYMENTS_SANDBOX", "1") != "0",
        )
