"""Payment links: creating, showing, paying through and disabling a public link, and its usage limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from adapters.providers.sandbox import SandboxProvider, Webhook
from payments_core.errors import DomainError
from payments_core.model.links import PaymentLink
from payments_core.model.payments import CheckoutSession
from payments_core.money import Money
from payments_core.policies import Scope
from payments_core.ports import CheckoutRequest, ProviderCheckout
from payments_core.services import checkout, links, provider_events
from payments_core.services.provider_events import EventOutcome
from payments_core.services.validation import validate_slug
from payments_core.states import CheckoutSessionStatus, PaymentLinkStatus, PaymentStatus
from tests.support.core import T0, Core, make_core

PRICE = Money(9900, "KES")  # 99.00 KES


@pytest.fixture
def core() -> Core:
    return make_core()


def new_link(core: Core, **changes: Any) -> PaymentLink:
    args: dict[str, Any] = {"amount": PRICE, "reference": "promo_ref", "slug": "summer-promo"} | changes
    principal = args.pop("principal", None) or core.user("alice")
    return links.create_link(core.deps, principal, **args)


def link_now(core: Core, slug: str = "summer-promo") -> PaymentLink:
    link = core.store.links.by_slug(slug)
    assert link is not None
    return link


def deliver(core: Core, webhook: Webhook) -> list[EventOutcome]:
    return provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)


def pay(core: Core, session: CheckoutSession) -> None:
    assert deliver(core, core.sandbox.complete_checkout(session.provider_reference)) == [EventOutcome.APPLIED]


def counts(core: Core) -> dict[str, int]:
    tables: dict[str, Any] = {
        "sessions": core.store.sessions, "payments": core.store.payments, "audit": core.store.audit,
        "outbox": core.store.outbox, "links": core.store.links,
    }  # fmt: skip
    return {name: len(list(repo.table.rows())) for name, repo in tables.items()}


def raises_code(code: str, call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


# --- create_link ----------------------------------------------------------------------------------


def test_create_link_stores_an_active_link(core: Core) -> None:
    expiry = T0 + timedelta(days=30)

    link = new_link(core, description="Summer promo", expires_at=expiry, usage_limit=5)

    assert link_now(core) == link
    assert (link.slug, link.tenant_id, link.amount, link.reference) == (
        "summer-promo",
        "t1",
        PRICE,
        "promo_ref",
    )
    assert (link.status, link.used, link.reserved, link.usage_limit) == (PaymentLinkStatus.ACTIVE, 0, 0, 5)
    assert (link.expires_at, link.created_by, link.livemode) == (expiry, "alice", False)
    audit = core.store.audit.search("t1", "payment_link.created", "summer-promo", 0, 10)
    assert audit.total == 1


def test_create_link_without_a_slug_generates_a_valid_one(core: Core) -> None:
    first = new_link(core, slug=None)
    second = new_link(core, slug=None)

    assert validate_slug(first.slug) == first.slug
    assert first.slug != second.slug


def test_a_slug_is_unique_across_tenants(core: Core) -> None:
    new_link(core)
    before = counts(core)

    error = raises_code(
        "IDEMPOTENCY_CONFLICT", lambda: new_link(core, principal=core.user("zoe", tenant_id="t2"))
    )

    assert error.message == "this slug is taken"
    assert counts(core) == before


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": Money(0, "KES")}, "INVALID_AMOUNT", "amount"),
        ({"amount": Money(-9900, "KES")}, "INVALID_AMOUNT", "amount"),
        ({"amount": 9900}, "INVALID_AMOUNT", "amount"),
        ({"reference": ""}, "INVALID_PARAMETER", "reference"),
        ({"reference": "r" * 201}, "INVALID_PARAMETER", "reference"),
        ({"slug": "Summer Promo"}, "INVALID_PARAMETER", "slug"),
        ({"slug": "ab"}, "INVALID_PARAMETER", "slug"),
        ({"slug": "s" * 65}, "INVALID_PARAMETER", "slug"),
        ({"description": "d" * 501}, "INVALID_PARAMETER", "description"),
        ({"expires_at": T0}, "INVALID_PARAMETER", "expires_at"),
        ({"expires_at": T0 - timedelta(days=1)}, "INVALID_PARAMETER", "expires_at"),
        ({"expires_at": datetime(2027, 1, 1)}, "INVALID_PARAMETER", "expires_at"),
        ({"expires_at": "2027-01-01T00:00:00Z"}, "INVALID_PARAMETER", "expires_at"),
        ({"usage_limit": 0}, "INVALID_PARAMETER", "usage_limit"),
        ({"usage_limit": -1}, "INVALID_PARAMETER", "usage_limit"),
        ({"usage_limit": True}, "INVALID_PARAMETER", "usage_limit"),
        ({"usage_limit": "3"}, "INVALID_PARAMETER", "usage_limit"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    core: Core, changes: dict[str, Any], code: str, field: str
) -> None:
    before = counts(core)

    error = raises_code(code, lambda: new_link(core, **changes))

    assert error.details["field"] == field
    assert counts(core) == before


def test_managing_links_needs_payments_write(core: Core) -> None:
    reader = core.user("carol", scopes=[Scope.PAYMENTS_READ])

    raises_code("INSUFFICIENT_PERMISSIONS", lambda: new_link(core, principal=reader))
    new_link(core)
    raises_code("INSUFFICIENT_PERMISSIONS", lambda: links.disable_link(core.deps, reader, "summer-promo"))


# --- get_public_link ------------------------------------------------------------------------------


def test_the_public_view_of_a_fresh_link_can_be_paid(core: Core) -> None:
    link = new_link(core, expires_at=T0 + timedelta(days=1), usage_limit=3)

    view = links.get_public_link(core.deps, "summer-promo")

    assert view.link == link
    assert (view.is_expired, view.usage_limit_reached, view.can_pay) == (False, False, True)


def test_an_expired_link_is_shown_but_cannot_be_paid(core: Core) -> None:
    new_link(core, expires_at=T0 + timedelta(hours=1))
    core.clock.advance(timedelta(hours=1))

    view = links.get_public_link(core.deps, "summer-promo")

    assert (view.is_expired, view.can_pay) == (True, False)


def test_a_disabled_link_is_shown_as_inactive_and_cannot_be_paid(core: Core) -> None:
    new_link(core)
    links.disable_link(core.deps, core.user("alice"), "summer-promo")

    view = links.get_public_link(core.deps, "summer-promo")

    assert (view.link.status, view.can_pay) == (PaymentLinkStatus.INACTIVE, False)


def test_an_unknown_slug_is_not_found(core: Core) -> None:
    raises_code("RESOURCE_NOT_FOUND", lambda: links.get_public_link(core.deps, "no-such-link"))
    raises_code("INVALID_PARAMETER", lambda: links.get_public_link(core.deps, "x" * 500))


# --- start_link_checkout --------------------------------------------------------------------------


def test_starting_a_link_checkout_reserves_one_use(core: Core) -> None:
    new_link(core, usage_limit=2)

    session = links.start_link_checkout(core.deps, "summer-promo", ["card", "promptpay"])

    assert session.status is CheckoutSessionStatus.PENDING
    assert (session.tenant_id, session.amount, session.reference) == ("t1", PRICE, "promo_ref")
    assert (session.link_slug, session.livemode, session.provider) == ("summer-promo", False, "sandbox")
    assert session.method_types == ("card", "promptpay")
    assert (link_now(core).used, link_now(core).reserved) == (0, 1)
    created = core.store.audit.search("t1", "checkout.session.created", session.id, 0, 1).items[0]
    assert (created.actor_kind, created.actor_id) == ("system", "system")


def test_a_completed_link_checkout_turns_its_reservation_into_a_use_and_credits_the_wallet(
    core: Core,
) -> None:
    new_link(core, usage_limit=2)
    session = links.start_link_checkout(core.deps, "summer-promo")

    pay(core, session)

    assert (link_now(core).used, link_now(core).reserved) == (1, 0)
    assert core.wallet() == 9652  # 99.00 less 2.5% (2.475, rounded half up to 2.48)
    assert core.ledger_problems() == []


def test_the_usage_limit_is_reached_after_enough_completions(core: Core) -> None:
    new_link(core, usage_limit=2)
    for _ in range(2):
        pay(core, links.start_link_checkout(core.deps, "summer-promo"))
    before = counts(core)

    view = links.get_public_link(core.deps, "summer-promo")
    error = raises_code("INVALID_OPERATION", lambda: links.start_link_checkout(core.deps, "summer-promo"))

    assert (view.usage_limit_reached, view.can_pay) == (True, False)
    assert error.details == {"currentStatus": "active", "canPay": False, "reason": "usage_limit_reached"}
    assert counts(core) == before


def test_pending_checkouts_hold_the_remaining_uses(core: Core) -> None:
    new_link(core, usage_limit=1)
    links.start_link_checkout(core.deps, "summer-promo")

    error = raises_code("INVALID_OPERATION", lambda: links.start_link_checkout(core.deps, "summer-promo"))

    assert error.details["reason"] == "fully_reserved"
    assert links.get_public_link(core.deps, "summer-promo").usage_limit_reached is False


def test_an_expired_checkout_frees_its_reservation(core: Core) -> None:
    new_link(core, usage_limit=1)
    links.start_link_checkout(core.deps, "summer-promo")
    core.clock.advance(timedelta(minutes=30))

    assert checkout.expire_sessions(core.deps) == 1

    assert (link_now(core).used, link_now(core).reserved) == (0, 0)
    assert links.start_link_checkout(core.deps, "summer-promo").status is CheckoutSessionStatus.PENDING


def test_a_failed_checkout_frees_its_reservation(core: Core) -> None:
    new_link(core, usage_limit=1)
    session = links.start_link_checkout(core.deps, "summer-promo")

    deliver(core, core.sandbox.fail_checkout(session.provider_reference))

    assert (link_now(core).used, link_now(core).reserved) == (0, 0)


def test_a_cancelled_checkout_frees_its_reservation(core: Core) -> None:
    new_link(core, usage_limit=1)
    session = links.start_link_checkout(core.deps, "summer-promo")

    checkout.cancel_session(core.deps, core.user("alice"), session.id)

    assert (link_now(core).used, link_now(core).reserved) == (0, 0)


def test_an_expired_link_refuses_a_checkout_and_stores_nothing(core: Core) -> None:
    new_link(core, expires_at=T0 + timedelta(minutes=5))
    core.clock.advance(timedelta(minutes=5))
    before = counts(core)

    error = raises_code("INVALID_OPERATION", lambda: links.start_link_checkout(core.deps, "summer-promo"))

    assert error.details == {"currentStatus": "active", "canPay": False, "reason": "expired"}
    assert counts(core) == before


def test_a_disabled_link_refuses_a_checkout(core: Core) -> None:
    new_link(core)
    links.disable_link(core.deps, core.user("alice"), "summer-promo")

    error = raises_code("INVALID_OPERATION", lambda: links.start_link_checkout(core.deps, "summer-promo"))

    assert error.details == {"currentStatus": "inactive", "canPay": False, "reason": "inactive"}


def test_a_link_checkout_refuses_unknown_method_types_and_unknown_slugs(core: Core) -> None:
    new_link(core)
    before = counts(core)

    raises_code(
        "INVALID_PARAMETER", lambda: links.start_link_checkout(core.deps, "summer-promo", ["bitcoin"])
    )
    raises_code("RESOURCE_NOT_FOUND", lambda: links.start_link_checkout(core.deps, "winter-promo"))

    assert counts(core) == before


def test_an_unavailable_provider_takes_no_reservation(core: Core) -> None:
    new_link(core, usage_limit=1)
    core.sandbox.unavailable = True

    raises_code("PROVIDER_UNAVAILABLE", lambda: links.start_link_checkout(core.deps, "summer-promo"))

    assert link_now(core).reserved == 0


class RacingProvider(SandboxProvider):
    """A sandbox that lets another customer's checkout commit while ours is at the provider."""

    def __init__(self, core: Core, race: Callable[[], CheckoutSession]) -> None:
        super().__init__(core.clock, signing_secret="whsec_racing")
        self.race = race
        self.raced = False

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        if not self.raced:
            self.raced = True
            self.race()
        return super().start_checkout(request)


def test_two_customers_racing_for_the_last_use_cannot_oversell_it(core: Core) -> None:
    new_link(core, usage_limit=1)
    racing = RacingProvider(core, lambda: links.start_link_checkout(core.deps, "summer-promo"))
    deps = attrs.evolve(core.deps, providers={"sandbox": racing})

    error = raises_code("INVALID_OPERATION", lambda: links.start_link_checkout(deps, "summer-promo"))

    assert error.details["reason"] == "fully_reserved"
    assert (link_now(core).used, link_now(core).reserved) == (0, 1)
    assert counts(core)["sessions"] == 1


# --- disable_link ---------------------------------------------------------------------------------


def test_disabling_a_link_makes_it_inactive_once(core: Core) -> None:
    new_link(core)

    disabled = links.disable_link(core.deps, core.user("alice"), "summer-promo")
    error = raises_code(
        "INVALID_OPERATION", lambda: links.disable_link(core.deps, core.user("alice"), "summer-promo")
    )

    assert disabled.status is PaymentLinkStatus.INACTIVE
    assert link_now(core) == disabled
    assert error.details["currentStatus"] == "inactive"
    assert core.store.audit.search("t1", "payment_link.disabled", "summer-promo", 0, 10).total == 1


def test_another_tenant_cannot_disable_a_link(core: Core) -> None:
    new_link(core)

    raises_code(
        "RESOURCE_NOT_FOUND",
        lambda: links.disable_link(core.deps, core.user("zoe", tenant_id="t2"), "summer-promo"),
    )

    assert link_now(core).status is PaymentLinkStatus.ACTIVE


def test_a_checkout_started_before_the_link_was_disabled_may_still_complete(core: Core) -> None:
    new_link(core, usage_limit=1)
    session = links.start_link_checkout(core.deps, "summer-promo")
    links.disable_link(core.deps, core.user("alice"), "summer-promo")

    pay(core, session)

    assert (link_now(core).used, link_now(core).reserved) == (1, 0)
    payment = core.store.payments.get("t1", session.payment_id)
    assert payment is not None
    assert payment.status is PaymentStatus.COMPLETED
