"""The repositories of a tenant's integrations on PostgreSQL: API keys, provider settings, webhook
endpoints, the outbox, the audit log, and the provider events received once.

The invariants are `repositories`' (same answers and errors as the in-memory tables, row-level
security on every tenant-scoped call); the ones particular to these tables:
- Lookups that arrive before a tenant is known run as '*': by API key hash, by webhook URL id,
  and `ProviderEvents.record`.
- `ProviderEvents.record` is exactly-once under concurrency: a second transaction recording the
  same (provider, event id) waits for the first and then answers False (or True if it rolled back).
"""

from __future__ import annotations

from adapters.postgres.rows import ALL_TENANTS, ID, Repository, Table, guarded, paged
from payments_core.model.access import ApiKey
from payments_core.model.integrations import (
    AuditEvent,
    OutboundEvent,
    ProviderConfig,
    ProviderEventRecord,
    WebhookEndpoint,
)
from payments_core.ports import Page

API_KEYS = Table("api_keys", ApiKey, ID, (*ID, "secret_hash", "created_at", "revoked_at"))
PROVIDER_CONFIGS = Table("provider_configs", ProviderConfig, ("tenant_id", "provider"), (
    "tenant_id", "provider", "id", "url_id", "created_at", "updated_at",
))  # fmt: skip
WEBHOOK_ENDPOINTS = Table("webhook_endpoints", WebhookEndpoint, ID, (*ID, "created_at", "deleted_at"))
OUTBOX = Table("outbox_events", OutboundEvent, ID, (*ID, "type", "endpoint_id", "created_at"))
AUDIT = Table("audit_events", AuditEvent, ID, (*ID, "action", "target_id", "at"))
PROVIDER_EVENTS = Table("provider_events", ProviderEventRecord, ("provider", "event_id"), (
    "provider", "event_id", "tenant_id", "type", "reference", "received_at",
))  # fmt: skip
AUDIT_SEARCH = paged(
    """SELECT doc, at, id FROM audit_events
       WHERE tenant_id = %(tenant_id)s
         AND (%(action)s::text IS NULL OR action = %(action)s::text)
         AND (%(target_id)s::text IS NULL OR target_id = %(target_id)s::text)""",
    "at DESC, id DESC",
)


class ApiKeys(Repository[ApiKey]):
    table = API_KEYS
    resource = "api_key"

    def add(self, key: ApiKey) -> None:
        self._insert(key.tenant_id, key)

    def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return self._get(tenant_id, tenant_id, key_id)

    def update(self, key: ApiKey) -> None:
        self._update(key.tenant_id, key)

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        return self._doc(ALL_TENANTS, "SELECT doc FROM api_keys WHERE secret_hash = %s", (secret_hash,))

    def for_tenant(self, tenant_id: str) -> list[ApiKey]:
        return self._docs(
            tenant_id, "SELECT doc FROM api_keys WHERE tenant_id = %s ORDER BY created_at, id", (tenant_id,)
        )


class ProviderConfigs(Repository[ProviderConfig]):
    table = PROVIDER_CONFIGS
    resource = "provider_config"

    def get(self, tenant_id: str, provider: str) -> ProviderConfig | None:
        return self._get(tenant_id, tenant_id, provider)

    def by_url_id(self, url_id: str) -> ProviderConfig | None:
        return self._doc(ALL_TENANTS, "SELECT doc FROM provider_configs WHERE url_id = %s", (url_id,))

    def save(self, config: ProviderConfig) -> None:
        self._upsert(config.tenant_id, config)


class WebhookEndpoints(Repository[WebhookEndpoint]):
    table = WEBHOOK_ENDPOINTS
    resource = "webhook_endpoint"

    def add(self, endpoint: WebhookEndpoint) -> None:
        self._insert(endpoint.tenant_id, endpoint)

    def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return self._get(tenant_id, tenant_id, endpoint_id)

    def update(self, endpoint: WebhookEndpoint) -> None:
        self._update(endpoint.tenant_id, endpoint)

    def for_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        return self._docs(
            tenant_id,
            """SELECT doc FROM webhook_endpoints WHERE tenant_id = %s AND deleted_at IS NULL
               ORDER BY created_at, id""",
            (tenant_id,),
        )


class Outbox(Repository[OutboundEvent]):
    table = OUTBOX
    resource = "outbound_event"

    def add(self, event: OutboundEvent) -> None:
        self._insert(event.tenant_id, event)

    def for_tenant(self, tenant_id: str) -> list[OutboundEvent]:
        return self._docs(
            tenant_id,
            "SELECT doc FROM outbox_events WHERE tenant_id = %s ORDER BY created_at, id",
            (tenant_id,),
        )


class Audit(Repository[AuditEvent]):
    table = AUDIT
    resource = "audit_event"

    def append(self, event: AuditEvent) -> None:
        self._insert(event.tenant_id, event)

    def search(
        self, tenant_id: str, action: str | None, target_id: str | None, offset: int, limit: int
    ) -> Page[AuditEvent]:
        total, items = self._count_and_docs(
            tenant_id,
            AUDIT_SEARCH,
            {
                "tenant_id": tenant_id,
                "action": action,
                "target_id": target_id,
                "offset": offset,
                "limit": limit,
            },
        )
        return Page(tuple(items), total)


class ProviderEvents(Repository[ProviderEventRecord]):
    table = PROVIDER_EVENTS
    resource = "provider_event"

    def record(self, event: ProviderEventRecord) -> bool:
        with guarded():
            inserted = self._execute(ALL_TENANTS, self.table.insert_sql, self.table.row(event)).rowcount
        return inserted == 1
