"""Payment links: a public slug anyone can pay (seed 003 `/links/:slug`), within an expiry and a usage limit.

Usage semantics
- `used` counts completed payments; `reserved` counts checkouts started from the link and still
  pending.
- A link can start a checkout only while it is active, not expired and `used + reserved <
  usage_limit` (always, without a limit). The reservation is taken in the same unit of work that
  stores the session, so concurrent customers cannot oversell it.
- A checkout that expires, fails or is cancelled frees its reservation; one that completes turns
  it into a use (`checkout.apply_session_event` and the sweep do that accounting).
- Disabling a link (active -> inactive, never back) stops new checkouts; checkouts already started
  may still complete, since the customer may be paying at that moment.
- Slugs are public URLs: unique across every tenant. A link's livemode is its creator's, and
  decides which provider its checkouts reach (test mode: the sandbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import attrs

from payments_core.errors import IdempotencyConflict, InvalidOperation, ValidationError
from payments_core.model.links import PaymentLink
from payments_core.model.payments import CheckoutSession
from payments_core.money import Money
from payments_core.policies import Operation, Principal, require_scope
from payments_core.ports import UnitOfWork
from payments_core.services.checkout import (
    MAX_REFERENCE,
    SessionDraft,
    _open_session,
    validate_amount,
    validate_method_types,
    validate_text,
)
from payments_core.services.context import Deps, audit, emit, found, tenant_of
from payments_core.services.validation import validate_slug
from payments_core.states import PaymentLinkStatus

MAX_DESCRIPTION: Final = 500
MAX_USAGE_LIMIT: Final = 1_000_000


@attrs.frozen
class LinkView:
    """A link as its public page shows it, with what is derived from the time of asking."""

    link: PaymentLink
    is_expired: bool
    usage_limit_reached: bool
    can_pay: bool

    @classmethod
    def at(cls, link: PaymentLink, now: datetime) -> LinkView:
        return cls(link, link.is_expired(now), link.usage_limit_reached(), link.can_pay(now))


def create_link(
    deps: Deps,
    principal: Principal,
    amount: Money,
    reference: str,
    slug: str | None = None,
    description: str | None = None,
    expires_at: datetime | None = None,
    usage_limit: int | None = None,
) -> PaymentLink:
    require_scope(principal, Operation.LINKS_MANAGE)
    now = deps.clock.now()
    price = validate_amount(amount)
    ref = validate_text(reference, "reference", MAX_REFERENCE)
    about = None if description is None else validate_text(description, "description", MAX_DESCRIPTION)
    _check_expiry(expires_at, now)
    _check_usage_limit(usage_limit)
    chosen = validate_slug(slug) if slug is not None else _generated_slug(deps)
    link = PaymentLink(
        slug=chosen, tenant_id=principal.tenant_id, amount=price, reference=ref, created_at=now,
        updated_at=now, created_by=principal.subject, livemode=principal.livemode, description=about,
        expires_at=expires_at, usage_limit=usage_limit,
    )  # fmt: skip
    with deps.uow() as uow:
        tenant_of(uow, principal.tenant_id)
        if uow.links.by_slug(chosen) is not None:
            raise IdempotencyConflict("this slug is taken", slug=chosen)
        uow.links.add(link)
        _record(uow, deps, principal, link, "payment_link.created")
        uow.commit()
    return link


def get_public_link(deps: Deps, slug: str) -> LinkView:
    """Public: anyone with the slug sees the link, a disabled one too (as inactive, not payable)."""
    validate_slug(slug)
    with deps.uow() as uow:
        link = found(uow.links.by_slug(slug), "payment_link", slug)
    return LinkView.at(link, deps.clock.now())


def start_link_checkout(deps: Deps, slug: str, method_types: Sequence[str] = ()) -> CheckoutSession:
    """Public: a customer starts paying the link; one reservation is held while the checkout is pending."""
    validate_slug(slug)
    methods = validate_method_types(method_types)
    with deps.uow() as uow:
        link = found(uow.links.by_slug(slug), "payment_link", slug)
        _require_payable(link, deps.clock.now())
        tenant = tenant_of(uow, link.tenant_id)
    provider = deps.checkout_provider(tenant, link.livemode, methods[0] if methods else None)
    draft = SessionDraft(
        link.tenant_id, link.amount, link.reference, link.livemode, provider, methods, link_slug=link.slug
    )
    return _open_session(deps, None, draft, reserve=lambda uow: _reserve(uow, deps, link.slug))


def disable_link(deps: Deps, principal: Principal, slug: str) -> PaymentLink:
    require_scope(principal, Operation.LINKS_MANAGE)
    with deps.uow() as uow:
        link = found(uow.links.get(principal.tenant_id, slug), "payment_link", slug)
        disabled = link.moved(PaymentLinkStatus.INACTIVE, deps.clock.now())
        uow.links.update(disabled)
        _record(uow, deps, principal, disabled, "payment_link.disabled")
        uow.commit()
    return disabled


def refusal_reason(link: PaymentLink, now: datetime) -> str | None:
    """Why the link cannot start a checkout now, or None when it can."""
    if link.status is not PaymentLinkStatus.ACTIVE:
        return "inactive"
    if link.is_expired(now):
        return "expired"
    if link.usage_limit_reached():
        return "usage_limit_reached"
    if not link.can_pay(now):
        return "fully_reserved"  # every remaining use is held by a pending checkout; retry later
    return None


def _require_payable(link: PaymentLink, now: datetime) -> None:
    reason = refusal_reason(link, now)
    if reason is not None:
        raise InvalidOperation(
            "this payment link cannot be paid", currentStatus=link.status.value, canPay=False, reason=reason
        )


def _reserve(uow: UnitOfWork, deps: Deps, slug: str) -> None:
    """Re-check and reserve inside the storing unit of work: the check and the count are one step."""
    link = found(uow.links.by_slug(slug), "payment_link", slug)
    now = deps.clock.now()
    _require_payable(link, now)
    uow.links.update(link.counted(now, reserved=1))


def _generated_slug(deps: Deps) -> str:
    return validate_slug(deps.ids.new_id("pl").lower().replace("_", "-"))


def _check_expiry(expires_at: object, now: datetime) -> None:
    if expires_at is None:
        return
    if not isinstance(expires_at, datetime) or expires_at.utcoffset() is None:
        raise ValidationError("expires_at must be a timezone-aware time", field="expires_at")
    if expires_at <= now:
        raise ValidationError("expires_at must be in the future", field="expires_at")


def _check_usage_limit(usage_limit: object) -> None:
    if usage_limit is None:
        return
    if type(usage_limit) is not int or not 1 <= usage_limit <= MAX_USAGE_LIMIT:
        raise ValidationError(
            f"usage_limit must be a whole number from 1 to {MAX_USAGE_LIMIT}", field="usage_limit"
        )


def _record(uow: UnitOfWork, deps: Deps, principal: Principal, link: PaymentLink, action: str) -> None:
    data = {
        "slug": link.slug,
        "status": link.status.value,
        "amount": link.amount.minor,
        "currency": link.amount.currency,
        "reference": link.reference,
        "usageLimit": link.usage_limit,
        "expiresAt": link.expires_at.isoformat() if link.expires_at is not None else None,
    }
    audit(uow, deps, principal, action, "payment_link", link.slug, link.tenant_id, **data)
    emit(uow, deps, link.tenant_id, action, data, link.livemode)
