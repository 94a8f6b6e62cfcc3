"""Tenants and their API keys.

Invariants
- An API key's secret is shown once, at creation; only its SHA-256 hash is kept.
- A revoked key never authenticates again; revocation is a time, not a deletion.
- Test keys (`sk_test_…`) have `livemode == False` and reach only the sandbox provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from payments_core.model.common import aware, freeze_strings, text


@attrs.frozen
class Tenant:
    id: str = attrs.field(validator=text("tenant id", 64))
    name: str = attrs.field(validator=text("name", 200))
    currency: str
    created_at: datetime = attrs.field(validator=aware)
    livemode: bool = True
    providers: tuple[str, ...] = ("sandbox",)  # providers its customers may pay through
    method_providers: Mapping[str, str] = attrs.field(factory=dict, converter=freeze_strings)
    withdrawal_method: str | None = None
    withdrawal_details: Mapping[str, str] = attrs.field(factory=dict, converter=freeze_strings)
    # The tenant's plan: its per-tenant and per-user API rate limits are multiplied by this.
    rate_limit_scale: int = attrs.field(
        default=1, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)]
    )


@attrs.frozen
class ApiKey:
    id: str
    tenant_id: str
    name: str = attrs.field(validator=text("name", 100))
    prefix: str
    secret_hash: str
    last4: str
    scopes: frozenset[str]
    created_by: str
    created_at: datetime = attrs.field(validator=aware)
    livemode: bool = True
    revoked_at: datetime | None = attrs.field(default=None, validator=aware)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
