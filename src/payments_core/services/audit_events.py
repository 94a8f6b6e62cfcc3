"""Reading the audit trail: the caller's tenant only, newest first, a page at a time.

Invariants
- Audit events are append-only; nothing here writes one.
- A tenant sees its own events and no one else's, whatever the filters.
- A page holds 1 to `MAX_LIMIT` events; `total` counts every match, not only the page.
"""

from __future__ import annotations

from typing import Final

import attrs

from payments_core.errors import ValidationError
from payments_core.model.common import check_text
from payments_core.model.integrations import AuditEvent
from payments_core.policies import Operation, Principal, require_scope
from payments_core.services.context import Deps

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 50
MAX_PAGE: Final = 100_000
MAX_FILTER_LENGTH: Final = 100


@attrs.frozen
class AuditPage:
    items: tuple[AuditEvent, ...]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


def list_audit_events(
    deps: Deps,
    principal: Principal,
    action: str | None = None,
    target_id: str | None = None,
    page: int = 1,
    limit: int = DEFAULT_LIMIT,
) -> AuditPage:
    """One page of the tenant's audit events, optionally of one action and/or one target."""
    require_scope(principal, Operation.AUDIT_READ)
    _check_bounded_int("page", page, MAX_PAGE)
    _check_bounded_int("limit", limit, MAX_LIMIT)
    check_text("action", action, MAX_FILTER_LENGTH, optional=True)
    check_text("target_id", target_id, MAX_FILTER_LENGTH, optional=True)
    with deps.uow() as uow:
        found = uow.audit.search(principal.tenant_id, action, target_id, (page - 1) * limit, limit)
    return AuditPage(items=found.items, total=found.total, page=page, limit=limit)


def _check_bounded_int(field: str, value: object, maximum: int) -> None:
    if type(value) is not int or not 1 <= value <= maximum:
        raise ValidationError(f"{field} must be an integer from 1 to {maximum}", field=field, maximum=maximum)
