"""The janitor's claims in PostgreSQL: `next_check_at` and `status_checks` (migration 0012).

Invariants
- Same behaviour as the in-memory store (adapters/memory/janitor.py), in SQL.
- Every call is one statement in a transaction of its own, never held open across a provider
  call: the janitor claims, asks with no transaction open, then applies in a unit of work.
- `claim_due` selects due rows `FOR NO KEY UPDATE SKIP LOCKED` and, in the same statement, counts
  the check and pushes `next_check_at` to the end of the lease. Concurrent janitors skip each
  other's rows, and rows a webhook is changing right now; a row claimed and committed meanwhile
  is re-checked against its new version (READ COMMITTED re-evaluates the WHERE) and is no longer
  due. So no object is claimed by two janitors at once.
- `reschedule` is a compare-and-set on `status_checks` (which every claim raises by one).
- Claims read across tenants (`app.tenant_id` = '*'); a reschedule runs scoped to the object's
  tenant, so row-level security backs its `tenant_id` filter.
- No psycopg exception leaves this module (`rows.guarded`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, LiteralString

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from adapters.postgres.rows import ALL_TENANTS, guarded
from payments_core.ports.janitor import CheckKind, PendingCheck

_SCOPE: Final = "SELECT set_config('app.tenant_id', %s, true)"

# Each claim: due rows locked and skipped if locked (see the invariants), then claimed in the same
# statement. `since` is when the object was created; a withdrawal's, when it last changed (approved).
_CLAIM: Final[dict[CheckKind, LiteralString]] = {
    CheckKind.CHECKOUT: """
WITH due AS (
    SELECT tenant_id, id FROM payments p
    WHERE status = 'pending' AND provider = ANY(%(providers)s) AND session_id IS NOT NULL
      AND EXISTS (SELECT FROM checkout_sessions s
                  WHERE s.tenant_id = p.tenant_id AND s.id = p.session_id AND s.status = 'pending')
      AND created_at < %(older_than)s AND created_at >= %(newer_than)s
      AND (next_check_at IS NULL OR next_check_at <= %(now)s)
    ORDER BY created_at, id LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE payments t SET next_check_at = %(until)s, status_checks = t.status_checks + 1
FROM due, checkout_sessions s
WHERE t.tenant_id = due.tenant_id AND t.id = due.id AND s.tenant_id = t.tenant_id AND s.id = t.session_id
RETURNING t.tenant_id, t.id, t.provider, s.provider_reference AS reference,
    (t.doc->>'livemode')::boolean AS livemode, t.created_at AS since, t.status_checks AS checks,
    s.expires_at, NULL::text AS payment_reference
""",
    CheckKind.PAYMENT: """
WITH due AS (
    SELECT tenant_id, id FROM payments
    WHERE status = 'pending' AND provider = ANY(%(providers)s) AND session_id IS NULL
      AND provider_reference <> ''
      AND created_at < %(older_than)s AND created_at >= %(newer_than)s
      AND (next_check_at IS NULL OR next_check_at <= %(now)s)
    ORDER BY created_at, id LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE payments t SET next_check_at = %(until)s, status_checks = t.status_checks + 1
FROM due WHERE t.tenant_id = due.tenant_id AND t.id = due.id
RETURNING t.tenant_id, t.id, t.provider, t.provider_reference AS reference,
    (t.doc->>'livemode')::boolean AS livemode, t.created_at AS since, t.status_checks AS checks,
    NULL::timestamptz AS expires_at, NULL::text AS payment_reference
""",
    CheckKind.REFUND: """
WITH due AS (
    SELECT tenant_id, id FROM refunds
    WHERE status = 'pending' AND provider = ANY(%(providers)s) AND provider_refund_id <> ''
      AND created_at < %(older_than)s AND created_at >= %(newer_than)s
      AND (next_check_at IS NULL OR next_check_at <= %(now)s)
    ORDER BY created_at, id LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE refunds t SET next_check_at = %(until)s, status_checks = t.status_checks + 1
FROM due, payments p
WHERE t.tenant_id = due.tenant_id AND t.id = due.id AND p.tenant_id = t.tenant_id AND p.id = t.payment_id
RETURNING t.tenant_id, t.id, t.provider, t.provider_refund_id AS reference,
    (p.doc->>'livemode')::boolean AS livemode, t.created_at AS since, t.status_checks AS checks,
    NULL::timestamptz AS expires_at, p.provider_reference AS payment_reference
""",
    CheckKind.PAYOUT: """
WITH due AS (
    SELECT tenant_id, id FROM withdrawals
    WHERE status = 'processing' AND provider = ANY(%(providers)s) AND provider_reference <> ''
      AND (doc->>'updated_at')::timestamptz < %(older_than)s
      AND (doc->>'updated_at')::timestamptz >= %(newer_than)s
      AND (next_check_at IS NULL OR next_check_at <= %(now)s)
    ORDER BY (doc->>'updated_at')::timestamptz, id LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE withdrawals t SET next_check_at = %(until)s, status_checks = t.status_checks + 1
FROM due WHERE t.tenant_id = due.tenant_id AND t.id = due.id
RETURNING t.tenant_id, t.id, t.provider, t.provider_reference AS reference,
    (t.doc->>'livemode')::boolean AS livemode, (t.doc->>'updated_at')::timestamptz AS since,
    t.status_checks AS checks, NULL::timestamptz AS expires_at, NULL::text AS payment_reference
""",
}

_RESCHEDULE_PAYMENT: Final = """
UPDATE payments SET next_check_at = %s WHERE tenant_id = %s AND id = %s AND status_checks = %s
"""
_RESCHEDULE: Final[dict[CheckKind, LiteralString]] = {
    CheckKind.CHECKOUT: _RESCHEDULE_PAYMENT,
    CheckKind.PAYMENT: _RESCHEDULE_PAYMENT,
    CheckKind.REFUND: """
UPDATE refunds SET next_check_at = %s WHERE tenant_id = %s AND id = %s AND status_checks = %s
""",
    CheckKind.PAYOUT: """
UPDATE withdrawals SET next_check_at = %s WHERE tenant_id = %s AND id = %s AND status_checks = %s
""",
}


class PostgresJanitorStore:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def claim_due(
        self,
        kind: CheckKind,
        providers: frozenset[str],
        *,
        now: datetime,
        older_than: datetime,
        newer_than: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[PendingCheck]:
        params = {
            "providers": sorted(providers),
            "now": now,
            "older_than": older_than,
            "newer_than": newer_than,
            "until": lease_until,
            "limit": limit,
        }
        with guarded(), self._pool.connection() as conn:
            conn.execute(_SCOPE, (ALL_TENANTS,))
            with conn.cursor(row_factory=dict_row) as cursor:
                rows = cursor.execute(_CLAIM[kind], params).fetchall()
        checks = [_check(kind, row) for row in rows]
        return sorted(checks, key=lambda check: (check.since, check.object_id))

    def reschedule(self, check: PendingCheck, next_check_at: datetime) -> bool:
        params = (next_check_at, check.tenant_id, check.object_id, check.checks)
        with guarded(), self._pool.connection() as conn:
            conn.execute(_SCOPE, (check.tenant_id,))
            updated: int = conn.execute(_RESCHEDULE[check.kind], params).rowcount
        return updated == 1


def _check(kind: CheckKind, row: dict[str, Any]) -> PendingCheck:
    return PendingCheck(
        kind=kind,
        tenant_id=row["tenant_id"],
        object_id=row["id"],
        provider=row["provider"],
        reference=row["reference"],
        livemode=bool(row["livemode"]),
        since=row["since"],
        checks=row["checks"],
        expires_at=row["expires_at"],
        payment_reference=row["payment_reference"],
    )
