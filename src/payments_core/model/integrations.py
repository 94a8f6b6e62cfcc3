"""Provider configurations, webhook endpoints, outbound events and the audit trail.

Invariants
- Secrets (provider access tokens, webhook signing secrets) are stored sealed by the secret box
  and only ever shown masked (`APP_USR-…1234`); the webhook secret once, at creation or rotation.
- A webhook endpoint signs with its current secret and, until `previous_secret_expires_at`, with
  the one its last rotation replaced (at most two secrets at a time).
- Audit events and outbound events are append-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from payments_core.model.common import aware, freeze_metadata, freeze_sealed, freeze_strings


@attrs.frozen
class ProviderConfig:
    id: str
    tenant_id: str
    provider: str
    url_id: str  # the unguessable part of this tenant's inbound webhook URL
    settings: Mapping[str, Any] = attrs.field(converter=freeze_metadata)
    sealed_secrets: Mapping[str, str] = attrs.field(converter=freeze_sealed)
    secret_hints: Mapping[str, str] = attrs.field(converter=freeze_strings)  # masked forms
    created_at: datetime = attrs.field(validator=aware)
    updated_at: datetime = attrs.field(validator=aware)


@attrs.frozen
class WebhookEndpoint:
    id: str
    tenant_id: str
    url: str
    sealed_secret: str
    event_types: tuple[str, ...]
    created_at: datetime = attrs.field(validator=aware)
    description: str | None = None
    deleted_at: datetime | None = attrs.field(default=None, validator=aware)
    # The secret a rotation replaced, still signing beside the new one until it expires.
    previous_sealed_secret: str | None = None
    previous_secret_expires_at: datetime | None = attrs.field(default=None, validator=aware)

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    def signing_secrets_sealed(self, now: datetime) -> tuple[str, ...]:
        """The current secret first, then the previous one while its overlap lasts, so that a
        receiver still checking the old secret keeps accepting deliveries mid-rotation."""
        expires_at = self.previous_secret_expires_at
        if self.previous_sealed_secret is None or expires_at is None or now >= expires_at:
            return (self.sealed_secret,)
        return (self.sealed_secret, self.previous_sealed_secret)

    def wants(self, event_type: str) -> bool:
        return not self.event_types or "*" in self.event_types or event_type in self.event_types


@attrs.frozen
class AuditEvent:
    id: str
    tenant_id: str
    action: str
    actor_kind: str
    actor_id: str
    target_type: str
    target_id: str
    at: datetime = attrs.field(validator=aware)
    details: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_metadata)


@attrs.frozen
class ProviderEventRecord:
    """An inbound provider event, kept so that a replay or a concurrent duplicate has no effect."""

    provider: str
    event_id: str
    type: str
    reference: str
    received_at: datetime = attrs.field(validator=aware)
    tenant_id: str | None = None
    details: Mapping[str, str] = attrs.field(factory=dict, converter=freeze_strings)


@attrs.frozen
class OutboundEvent:
    """A webhook to a tenant, written in the same unit of work as the change it reports."""

    id: str
    tenant_id: str
    type: str
    created_at: datetime = attrs.field(validator=aware)
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_metadata)
    endpoint_id: str | None = None  # None: every endpoint that wants this type
    livemode: bool = True
