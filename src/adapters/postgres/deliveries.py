"""Webhook delivery state in PostgreSQL (`webhook_deliveries`, `webhook_fanouts`; migration 0009).

Invariants
- Same behaviour as the in-memory store (adapters/memory/deliveries.py), in SQL.
- Every call is one short transaction of its own, never held open across an HTTP request: the
  worker claims, sends with no transaction open, then records the outcome.
- `claim_due` is one statement: it selects due rows `FOR UPDATE SKIP LOCKED` and, in the same
  statement, counts the attempt and pushes `next_attempt_at` to the end of the lease. Concurrent
  workers skip each other's rows; a row claimed and committed meanwhile is re-checked against the
  new version (READ COMMITTED re-evaluates the WHERE) and is no longer due. So no delivery is sent
  by two workers at once.
- `update` is a compare-and-set on `version` (which every change raises by one).
- The worker's cross-tenant reads and claims run with `app.tenant_id` = '*'; everything about
  one delivery runs scoped to its tenant, so row-level security backs every `tenant_id` filter.
- No psycopg exception leaves this module (`rows.guarded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, LiteralString

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from adapters.postgres.codec import load
from adapters.postgres.rows import ALL_TENANTS, guarded
from payments_core.model.integrations import OutboundEvent
from payments_core.ports import Page
from payments_core.ports.deliveries import ClaimedDelivery, WebhookDelivery
from payments_core.states import DeliveryStatus

_SCOPE: Final = "SELECT set_config('app.tenant_id', %s, true)"

_UNFANNED: Final = """
SELECT o.doc FROM outbox_events o
WHERE o.created_at >= %s
  AND NOT EXISTS (SELECT FROM webhook_fanouts f WHERE f.tenant_id = o.tenant_id AND f.event_id = o.id)
ORDER BY o.seq LIMIT %s
"""

_MARK_FANNED: Final = """
INSERT INTO webhook_fanouts (tenant_id, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""

_INSERT: Final = """
INSERT INTO webhook_deliveries (tenant_id, id, event_id, endpoint_id, event_type, status, attempts, version,
    created_at, next_attempt_at, retry_until, last_status_code, last_error, delivered_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""

_CLAIM: Final = """
WITH due AS (
    SELECT tenant_id, id FROM webhook_deliveries
    WHERE status IN ('pending', 'retrying') AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = %(until)s, version = d.version + 1
FROM due WHERE d.tenant_id = due.tenant_id AND d.id = due.id
RETURNING d.tenant_id, d.id, d.event_id, d.endpoint_id, d.event_type, d.status, d.attempts, d.version,
    d.created_at, d.next_attempt_at, d.retry_until, d.last_status_code, d.last_error, d.delivered_at,
    (SELECT o.doc FROM outbox_events o WHERE o.tenant_id = d.tenant_id AND o.id = d.event_id) AS event
"""

_UPDATE: Final = """
UPDATE webhook_deliveries
SET status = %s, attempts = %s, next_attempt_at = %s, retry_until = %s, last_status_code = %s,
    last_error = %s, delivered_at = %s, version = version + 1
WHERE tenant_id = %s AND id = %s AND version = %s
RETURNING tenant_id, id, event_id, endpoint_id, event_type, status, attempts, version, created_at,
    next_attempt_at, retry_until, last_status_code, last_error, delivered_at
"""

_GET: Final = """
SELECT tenant_id, id, event_id, endpoint_id, event_type, status, attempts, version, created_at,
    next_attempt_at, retry_until, last_status_code, last_error, delivered_at
FROM webhook_deliveries WHERE tenant_id = %s AND id = %s
"""

_SEARCH: Final = """
WITH found AS (
    SELECT tenant_id, id, event_id, endpoint_id, event_type, status, attempts, version, created_at,
        next_attempt_at, retry_until, last_status_code, last_error, delivered_at
    FROM webhook_deliveries
    WHERE tenant_id = %(tenant)s
      AND (%(status)s::text IS NULL OR status = %(status)s::text)
      AND (%(event)s::text IS NULL OR event_id = %(event)s::text)
),
page AS (SELECT * FROM found ORDER BY created_at DESC, id DESC OFFSET %(offset)s LIMIT %(limit)s)
SELECT (SELECT count(*) FROM found) AS total, page.*
FROM (VALUES (1)) AS one LEFT JOIN page ON true
ORDER BY page.created_at DESC, page.id DESC
"""


def _delivery(row: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        event_id=row["event_id"],
        endpoint_id=row["endpoint_id"],
        event_type=row["event_type"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        version=row["version"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        retry_until=row["retry_until"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


def _values(delivery: WebhookDelivery) -> tuple[Any, ...]:
    return (
        delivery.tenant_id, delivery.id, delivery.event_id, delivery.endpoint_id, delivery.event_type,
        delivery.status.value, delivery.attempts, delivery.version, delivery.created_at,
        delivery.next_attempt_at, delivery.retry_until, delivery.last_status_code, delivery.last_error,
        delivery.delivered_at,
    )  # fmt: skip


class PostgresDeliveryStore:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def _rows(self, scope: str, query: LiteralString, params: Any) -> list[dict[str, Any]]:
        """One statement in a transaction of its own, scoped to `scope`."""
        with guarded(), self._pool.connection() as conn:
            return _scoped(conn, scope, query, params)

    def unfanned_events(self, since: datetime, limit: int) -> list[OutboundEvent]:
        rows = self._rows(ALL_TENANTS, _UNFANNED, (since, limit))
        return [load(OutboundEvent, row["doc"]) for row in rows]

    def fan_out(self, event: OutboundEvent, deliveries: Sequence[WebhookDelivery]) -> None:
        with guarded(), self._pool.connection() as conn:
            conn.execute(_SCOPE, (event.tenant_id,))
            conn.execute(_MARK_FANNED, (event.tenant_id, event.id))
            if deliveries:
                with conn.cursor() as cursor:
                    cursor.executemany(_INSERT, [_values(delivery) for delivery in deliveries])

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        rows = self._rows(ALL_TENANTS, _CLAIM, {"now": now, "limit": limit, "until": now + lease})
        claimed = [
            ClaimedDelivery(_delivery(row), load(OutboundEvent, row["event"]))
            for row in rows
            if row["event"] is not None
        ]
        return sorted(claimed, key=lambda claim: claim.delivery.id)

    def update(self, delivery: WebhookDelivery, expected_version: int) -> WebhookDelivery | None:
        params = (
            delivery.status.value, delivery.attempts, delivery.next_attempt_at, delivery.retry_until,
            delivery.last_status_code, delivery.last_error, delivery.delivered_at,
            delivery.tenant_id, delivery.id, expected_version,
        )  # fmt: skip
        rows = self._rows(delivery.tenant_id, _UPDATE, params)
        return _delivery(rows[0]) if rows else None

    def get(self, tenant_id: str, delivery_id: str) -> WebhookDelivery | None:
        rows = self._rows(tenant_id, _GET, (tenant_id, delivery_id))
        return _delivery(rows[0]) if rows else None

    def search(
        self,
        tenant_id: str,
        status: DeliveryStatus | None,
        event_id: str | None,
        offset: int,
        limit: int,
    ) -> Page[WebhookDelivery]:
        params = {
            "tenant": tenant_id,
            "status": status.value if status is not None else None,
            "event": event_id,
            "offset": offset,
            "limit": limit,
        }
        rows = self._rows(tenant_id, _SEARCH, params)
        total = int(rows[0]["total"]) if rows else 0
        return Page(tuple(_delivery(row) for row in rows if row["id"] is not None), total)


def _scoped(conn: Connection[Any], scope: str, query: LiteralString, params: Any) -> list[dict[str, Any]]:
    conn.execute(_SCOPE, (scope,))
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description is not None else []
