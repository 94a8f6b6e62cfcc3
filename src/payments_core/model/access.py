"""Tenants, their API keys and their people's second factors.

Invariants
- An API key's secret is shown once, at creation; only its SHA-256 hash is kept.
- A revoked key never authenticates again; revocation is a time, not a deletion.
- Test keys (`sk_test_…`) have `livemode == False` and reach only the sandbox provider.
- A person has at most one TOTP factor per tenant; its shared secret is kept sealed (by the
  `SecretBox`), never in plaintext, and never appears in a repr.
- A factor's `last_used_step` only grows: a code is accepted at most once, and never one older
  than the last accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from payments_core.errors import ValidationError
from payments_core.model.common import MAX_SEALED_LENGTH, aware, freeze_strings, text


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


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValidationError(f"{attribute.name} must be a non-negative integer", field=attribute.name)


@attrs.frozen
class MfaFactor:
    """A person's TOTP factor; confirmed once a first code was verified with it."""

    tenant_id: str = attrs.field(validator=text("tenant id", 64))
    user_id: str = attrs.field(validator=text("user id", 200))
    sealed_secret: str = attrs.field(repr=False, validator=text("sealed secret", MAX_SEALED_LENGTH))
    created_at: datetime = attrs.field(validator=aware)
    confirmed_at: datetime | None = attrs.field(default=None, validator=aware)
    # The TOTP time step of the last accepted code: that step and older ones are spent.
    last_used_step: int | None = attrs.field(default=None, validator=_non_negative)
    # Wrong codes in a row; reaching the service's limit locks the factor until `locked_until`.
    failed_attempts: int = attrs.field(
        default=0, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    locked_until: datetime | None = attrs.field(default=None, validator=aware)

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until
