"""Checkout sessions: creation, reading, cancelling, expiring, and the provider events that finish them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from adapters.providers.sandbox import SandboxProvider, Webhook
from payments_core.errors import DomainError, NotFound
from payments_core.fees import FeeOperation, FeeRule, FeeSchedule
from payments_core.model.payments import CheckoutSession, Payment
from payments_core.money import Money
from payments_core.policies import Scope
from payments_core.ports import CheckoutRequest, ProviderCheckout
from payments_core.services import checkout, provider_events
from payments_core.services.context import Deps
from payments_core.services.provider_events import EventOutcome
from payments_core.services.tenants import create_tenant
from payments_core.states import CheckoutSessionStatus, PaymentStatus
from tests.support.core import T0, Core, make_core

KES_1000 = Money(100000, "KES")  # 1000.00 KES


@pytest.fixture
def core() -> Core:
    return make_core()


def open_session(core: Core, deps: Deps | None = None, **changes: Any) -> CheckoutSession:
    args: dict[str, Any] = {"amount": KES_1000, "reference": "order_12345"} | changes
    principal = args.pop("principal", None) or core.user("alice")
    return checkout.create_session(deps or core.deps, principal, **args)


def payment_of(core: Core, session: CheckoutSession) -> Payment:
    payment = core.store.payments.get(session.tenant_id, session.payment_id)
    assert payment is not None
    return payment


def stored(core: Core, session: CheckoutSession) -> CheckoutSession:
    found = core.store.sessions.get(session.tenant_id, session.id)
    assert found is not None
    return found


def deliver(core: Core, webhook: Webhook) -> list[EventOutcome]:
    return provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)


def provider_event(core: Core, event_type: str, reference: str, amount: Money = KES_1000) -> Webhook:
    """A correctly signed sandbox event the sandbox's own commands would not send (a late resend)."""
    body = json.dumps(
        {
            "id": f"sbx_evt_manual_{event_type}_{amount.minor}",
            "type": event_type,
            "data": {"reference": reference, "amount": amount.minor, "currency": amount.currency},
        }
    ).encode()
    return Webhook(core.sandbox.sign(body), body)


def counts(core: Core) -> dict[str, int]:
    """Rows of every table a checkout writes to."""
    tables: dict[str, Any] = {
        "sessions": core.store.sessions, "payments": core.store.payments, "audit": core.store.audit,
        "outbox": core.store.outbox, "links": core.store.links,
    }  # fmt: skip
    return {name: len(list(repo.table.rows())) for name, repo in tables.items()}


def audit_actions(core: Core, target_id: str, tenant_id: str = "t1") -> list[str]:
    page = core.store.audit.search(tenant_id, None, target_id, 0, 100)
    return sorted(event.action for event in page.items)


def outbox_types(core: Core, tenant_id: str = "t1") -> list[str]:
    return [event.type for event in core.store.outbox.for_tenant(tenant_id)]


def raises_code(code: str, call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


# --- create_session ----------------------------------------------------------------------------


def test_create_session_opens_a_pending_session_and_its_pending_payment(core: Core) -> None:
    session = open_session(core)

    assert session.status is CheckoutSessionStatus.PENDING
    assert (session.tenant_id, session.amount, session.reference) == ("t1", KES_1000, "order_12345")
    assert session.provider == "sandbox"
    assert session.redirect_url == f"/sandbox/checkout/{session.id}"
    assert session.qr_image_url == f"/sandbox/checkout/{session.id}/qr.svg"
    assert session.expires_at == T0 + timedelta(minutes=30)
    payment = payment_of(core, session)
    assert payment.status is PaymentStatus.PENDING
    assert (payment.session_id, payment.amount, payment.method) == (session.id, KES_1000, "card")
    assert (payment.provider, payment.description, payment.livemode) == ("sandbox", "order_12345", False)


def test_create_session_stores_exactly_what_it_returns(core: Core) -> None:
    session = open_session(
        core, method_types=["pix"], success_url="https://shop.example/ok", cancel_url="https://shop.example/no",
        client_phone_number="5511966609208", customer_id="cust_1", idempotency_key="key-1",
    )  # fmt: skip

    assert stored(core, session) == session
    assert session.method_types == ("pix",)
    assert session.success_url == "https://shop.example/ok"
    assert session.client_phone_number == "5511966609208"
    assert payment_of(core, session).customer_id == "cust_1"


def test_the_first_method_type_is_the_payment_method_and_a_lone_one_is_selected(core: Core) -> None:
    several = open_session(core, method_types=["pix", "card", "pix"])
    one = open_session(core, method_types=["boleto"])

    assert several.method_types == ("pix", "card")  # duplicates dropped, order kept
    assert payment_of(core, several).method == "pix"
    assert several.selected_payment_method is None  # the customer picks on the hosted page
    assert one.selected_payment_method == "boleto"


def test_create_session_is_audited_and_announced(core: Core) -> None:
    session = open_session(core)

    assert audit_actions(core, session.id) == ["checkout.session.created"]
    event = core.store.audit.search("t1", "checkout.session.created", session.id, 0, 1).items[0]
    assert (event.actor_kind, event.actor_id) == ("user", "alice")
    assert outbox_types(core) == ["checkout.session.created"]


def test_an_api_key_creates_a_session_without_mfa(core: Core) -> None:
    session = open_session(core, principal=core.api_key())

    assert session.status is CheckoutSessionStatus.PENDING
    assert session.livemode is False


def test_a_user_without_mfa_is_challenged_and_nothing_is_stored(core: Core) -> None:
    before = counts(core)

    error = raises_code(
        "MFA_CHALLENGE_REQUIRED", lambda: open_session(core, principal=core.user("bob", mfa=False))
    )

    assert error.details["action"] == "create-payment"
    assert counts(core) == before


def test_a_user_whose_mfa_is_stale_is_challenged(core: Core) -> None:
    alice = core.user("alice")
    core.clock.advance(timedelta(minutes=6))

    raises_code("MFA_CHALLENGE_REQUIRED", lambda: open_session(core, principal=alice))


def test_creating_a_session_needs_payments_write(core: Core) -> None:
    reader = core.user("carol", scopes=[Scope.PAYMENTS_READ])

    raises_code("INSUFFICIENT_PERMISSIONS", lambda: open_session(core, principal=reader))


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": Money(0, "KES")}, "INVALID_AMOUNT", "amount"),
        ({"amount": Money(-100, "KES")}, "INVALID_AMOUNT", "amount"),
        ({"amount": 10000}, "INVALID_AMOUNT", "amount"),
        ({"amount": "100.00"}, "INVALID_AMOUNT", "amount"),
        ({"reference": ""}, "INVALID_PARAMETER", "reference"),
        ({"reference": "   "}, "INVALID_PARAMETER", "reference"),
        ({"reference": "r" * 201}, "INVALID_PARAMETER", "reference"),
        ({"reference": 12345}, "INVALID_PARAMETER", "reference"),
        ({"method_types": ["bitcoin"]}, "INVALID_PARAMETER", "methodTypes"),
        ({"method_types": "card"}, "INVALID_PARAMETER", "methodTypes"),
        ({"method_types": [1]}, "INVALID_PARAMETER", "methodTypes"),
        ({"success_url": "ftp://shop.example/ok"}, "INVALID_PARAMETER", "successUrl"),
        ({"cancel_url": "http://shop.example/no"}, "INVALID_PARAMETER", "cancelUrl"),
        ({"client_phone_number": "+55 11 96660-9208"}, "INVALID_PARAMETER", "client_phone_number"),
        ({"customer_id": "c" * 129}, "INVALID_PARAMETER", "customer_id"),
        ({"idempotency_key": "k" * 256}, "INVALID_PARAMETER", "idempotencyKey"),
        ({"idempotency_key": ""}, "INVALID_PARAMETER", "idempotencyKey"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    core: Core, changes: dict[str, Any], code: str, field: str
) -> None:
    before = counts(core)

    error = raises_code(code, lambda: open_session(core, **changes))

    assert error.details["field"] == field
    assert counts(core) == before


def test_an_unknown_method_type_lists_the_allowed_ones(core: Core) -> None:
    error = raises_code("INVALID_PARAMETER", lambda: open_session(core, method_types=["card", "bitcoin"]))

    assert "card" in error.details["allowedValues"]
    assert "bitcoin" not in error.details["allowedValues"]


def test_an_over_precise_amount_is_refused_at_the_edge_before_any_use_case() -> None:
    with pytest.raises(DomainError) as caught:
        Money.parse("1000.001", "KES")

    assert caught.value.code == "INVALID_AMOUNT"


def test_an_amount_below_the_fee_rules_minimum_is_refused_before_the_provider(core: Core) -> None:
    schedule = FeeSchedule([FeeRule(FeeOperation.PAYMENT, "KES", minimum_operation_minor=5000)])
    deps = attrs.evolve(core.deps, fees=core.deps.fees.with_tenant_schedule("t1", schedule))
    before = counts(core)

    raises_code("INVALID_AMOUNT", lambda: open_session(core, deps, amount=Money(4999, "KES")))

    assert counts(core) == before
    assert open_session(core, deps, amount=Money(5000, "KES")).status is CheckoutSessionStatus.PENDING


def test_an_unavailable_provider_stores_nothing(core: Core) -> None:
    core.sandbox.unavailable = True
    before = counts(core)

    raises_code("PROVIDER_UNAVAILABLE", lambda: open_session(core))

    assert counts(core) == before


def test_a_live_principal_reaches_the_provider_the_tenant_maps_its_method_to(core: Core) -> None:
    create_tenant(
        core.deps, "t3", "Tenant Three", "KES", ("sandbox", "mpesa"), method_providers={"mpesa": "mpesa"}
    )
    mpesa = SandboxProvider(core.clock, signing_secret="whsec_mpesa")
    deps = attrs.evolve(core.deps, providers={"sandbox": core.sandbox, "mpesa": mpesa})
    live = core.user("dan", tenant_id="t3", livemode=True)

    live_session = open_session(core, deps, principal=live, method_types=["mpesa"])
    test_session = open_session(
        core, deps, principal=core.user("dan", tenant_id="t3"), method_types=["mpesa"]
    )

    assert (live_session.provider, live_session.livemode) == ("mpesa", True)
    assert (test_session.provider, test_session.livemode) == ("sandbox", False)


# --- idempotency --------------------------------------------------------------------------------


def test_the_same_key_and_content_returns_the_first_session(core: Core) -> None:
    first = open_session(core, idempotency_key="order-12345-attempt")
    before = counts(core)

    again = open_session(core, idempotency_key="order-12345-attempt")

    assert again == first
    assert counts(core) == before


def test_the_same_key_with_other_content_is_a_conflict(core: Core) -> None:
    open_session(core, idempotency_key="order-12345-attempt")
    before = counts(core)

    raises_code(
        "IDEMPOTENCY_CONFLICT",
        lambda: open_session(core, idempotency_key="order-12345-attempt", amount=Money(100001, "KES")),
    )

    assert counts(core) == before


def test_idempotency_keys_belong_to_one_tenant(core: Core) -> None:
    mine = open_session(core, idempotency_key="shared-key")
    theirs = open_session(core, principal=core.user("zoe", tenant_id="t2"), idempotency_key="shared-key")

    assert theirs.id != mine.id
    assert theirs.tenant_id == "t2"


class RacingProvider(SandboxProvider):
    """A sandbox that lets a concurrent duplicate commit while our provider call is in flight."""

    def __init__(self, core: Core, race: Callable[[], CheckoutSession]) -> None:
        super().__init__(core.clock, signing_secret="whsec_racing")
        self.race = race
        self.winner: CheckoutSession | None = None

    def start_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        if self.winner is None:
            self.winner = self.race()
        return super().start_checkout(request)


def test_a_concurrent_duplicate_loses_and_gets_the_winner(core: Core) -> None:
    racing = RacingProvider(core, lambda: open_session(core, idempotency_key="race"))
    deps = attrs.evolve(core.deps, providers={"sandbox": racing})

    loser = open_session(core, deps, idempotency_key="race")

    assert loser == racing.winner
    assert counts(core)["sessions"] == 1


def test_a_concurrent_duplicate_with_other_content_conflicts(core: Core) -> None:
    racing = RacingProvider(core, lambda: open_session(core, idempotency_key="race"))
    deps = attrs.evolve(core.deps, providers={"sandbox": racing})

    raises_code(
        "IDEMPOTENCY_CONFLICT", lambda: open_session(core, deps, idempotency_key="race", reference="other")
    )

    assert counts(core)["sessions"] == 1


# --- get_session and list_sessions_by_phone --------------------------------------------------------


def test_get_session_counts_down_with_the_clock(core: Core) -> None:
    session = open_session(core)
    alice = core.user("alice")

    assert checkout.get_session(core.deps, alice, session.id).remaining_seconds == 1800
    core.clock.advance(timedelta(minutes=10))
    assert checkout.get_session(core.deps, alice, session.id).remaining_seconds == 1200
    core.clock.advance(timedelta(minutes=21))
    assert checkout.get_session(core.deps, alice, session.id).remaining_seconds == 0


def test_get_session_maps_seed_000_names_onto_the_session(core: Core) -> None:
    session = open_session(core, client_phone_number="5511966609208")

    view = checkout.get_session(core.deps, core.user("alice"), session.id)

    assert view.session == session
    assert view.payment.id == session.payment_id
    assert view.total_amount == KES_1000
    assert view.payment_link == session.redirect_url
    assert view.preference_id == session.provider_reference
    assert view.payment_id_external is None  # nobody paid yet
    assert view.session.current_step == "awaiting_payment"


def test_a_completed_session_shows_the_providers_payment_and_no_time_left(core: Core) -> None:
    session = open_session(core)
    core.clock.advance(timedelta(minutes=5))
    deliver(core, core.sandbox.complete_checkout(session.provider_reference))

    view = checkout.get_session(core.deps, core.user("alice"), session.id)

    assert view.remaining_seconds == 0
    assert view.payment_id_external == session.provider_reference
    assert view.session.confirmed_at == T0 + timedelta(minutes=5)
    assert view.session.current_step == "payment_confirmed"


def test_another_tenant_cannot_read_a_session(core: Core) -> None:
    session = open_session(core)

    raises_code(
        "RESOURCE_NOT_FOUND",
        lambda: checkout.get_session(core.deps, core.user("zoe", tenant_id="t2"), session.id),
    )
    raises_code(
        "RESOURCE_NOT_FOUND", lambda: checkout.get_session(core.deps, core.user("alice"), "cs_missing")
    )


def test_reading_a_session_needs_payments_read(core: Core) -> None:
    session = open_session(core)
    agent = core.user("carol", scopes=[Scope.CONVERSATIONS_VIEW])

    raises_code("INSUFFICIENT_PERMISSIONS", lambda: checkout.get_session(core.deps, agent, session.id))


def test_sessions_by_phone_are_the_tenants_own_newest_first(core: Core) -> None:
    older = open_session(core, client_phone_number="5511966609208")
    core.clock.advance(timedelta(seconds=1))
    newer = open_session(core, client_phone_number="5511966609208")
    open_session(core, client_phone_number="254712345678")
    open_session(core, principal=core.user("zoe", tenant_id="t2"), client_phone_number="5511966609208")

    views = checkout.list_sessions_by_phone(core.deps, core.user("alice"), "5511966609208")

    assert [view.session.id for view in views] == [newer.id, older.id]


def test_sessions_by_phone_of_an_unknown_number_is_empty(core: Core) -> None:
    assert checkout.list_sessions_by_phone(core.deps, core.user("alice"), "5511900000000") == []


@pytest.mark.parametrize("phone", [None, "", "+5511966609208", "5511966", "5" * 16, 5511966609208])
def test_sessions_by_phone_need_a_valid_phone_number(core: Core, phone: Any) -> None:
    error = raises_code(
        "INVALID_PARAMETER", lambda: checkout.list_sessions_by_phone(core.deps, core.user("alice"), phone)
    )

    assert error.details["field"] == "client_phone_number"


def test_sessions_by_phone_need_payments_read(core: Core) -> None:
    agent = core.user("carol", scopes=[Scope.FINANCE_VIEW])

    raises_code(
        "INSUFFICIENT_PERMISSIONS", lambda: checkout.list_sessions_by_phone(core.deps, agent, "5511966609208")
    )


# --- cancel_session -----------------------------------------------------------------------------


def test_cancelling_a_session_cancels_its_payment(core: Core) -> None:
    session = open_session(core)

    cancelled = checkout.cancel_session(core.deps, core.user("alice"), session.id)

    assert cancelled.status is CheckoutSessionStatus.CANCELLED
    assert stored(core, session) == cancelled
    payment = payment_of(core, session)
    assert payment.status is PaymentStatus.CANCELLED
    assert payment.metadata["cancellationReason"] == "cancelled"
    assert "checkout.session.cancelled" in audit_actions(core, session.id)
    assert outbox_types(core)[-2:] == ["checkout.session.cancelled", "payment.cancelled"]


@pytest.mark.parametrize("status", ["cancelled", "completed"])
def test_only_a_pending_session_can_be_cancelled(core: Core, status: str) -> None:
    session = open_session(core)
    if status == "cancelled":
        checkout.cancel_session(core.deps, core.user("alice"), session.id)
    else:
        deliver(core, core.sandbox.complete_checkout(session.provider_reference))
    before = counts(core)

    error = raises_code(
        "INVALID_OPERATION", lambda: checkout.cancel_session(core.deps, core.user("alice"), session.id)
    )

    assert error.details["currentStatus"] == status
    assert counts(core) == before


def test_another_tenant_cannot_cancel_a_session(core: Core) -> None:
    session = open_session(core)

    raises_code(
        "RESOURCE_NOT_FOUND",
        lambda: checkout.cancel_session(core.deps, core.user("zoe", tenant_id="t2"), session.id),
    )

    assert stored(core, session).status is CheckoutSessionStatus.PENDING


def test_cancelling_needs_payments_write(core: Core) -> None:
    session = open_session(core)
    reader = core.user("carol", scopes=[Scope.PAYMENTS_READ])

    raises_code("INSUFFICIENT_PERMISSIONS", lambda: checkout.cancel_session(core.deps, reader, session.id))


# --- provider events ------------------------------------------------------------------------------


def test_a_completed_checkout_credits_the_wallet_net_of_the_platform_fee(core: Core) -> None:
    session = open_session(core)

    outcomes = deliver(core, core.sandbox.complete_checkout(session.provider_reference))

    assert outcomes == [EventOutcome.APPLIED]
    assert core.wallet() == 97500  # 1000.00 KES less 2.5%
    assert core.ledger_problems() == []
    assert stored(core, session).status is CheckoutSessionStatus.COMPLETED
    payment = payment_of(core, session)
    assert (payment.status, payment.fee) == (PaymentStatus.COMPLETED, Money(2500, "KES"))
    assert "checkout.session.completed" in outbox_types(core)


def test_a_duplicate_webhook_applies_once(core: Core) -> None:
    session = open_session(core)
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    deliver(core, webhook)

    assert deliver(core, webhook) == [EventOutcome.DUPLICATE]
    assert core.wallet() == 97500
    assert core.ledger_problems() == []


def test_a_second_success_event_for_a_completed_session_changes_nothing(core: Core) -> None:
    session = open_session(core)
    deliver(core, core.sandbox.complete_checkout(session.provider_reference))
    before = counts(core)

    outcomes = deliver(core, provider_event(core, "payment.succeeded", session.provider_reference))

    assert outcomes == [EventOutcome.IGNORED]
    assert core.wallet() == 97500
    assert counts(core) == before


def test_a_failed_checkout_fails_its_payment_and_moves_no_money(core: Core) -> None:
    session = open_session(core)

    outcomes = deliver(core, core.sandbox.fail_checkout(session.provider_reference))

    assert outcomes == [EventOutcome.APPLIED]
    assert stored(core, session).status is CheckoutSessionStatus.CANCELLED
    assert payment_of(core, session).status is PaymentStatus.FAILED
    assert core.wallet() == 0
    assert core.ledger_problems() == []


def test_a_provider_expiry_expires_the_session_and_fails_its_payment(core: Core) -> None:
    session = open_session(core)

    deliver(core, core.sandbox.expire_checkout(session.provider_reference))

    assert stored(core, session).status is CheckoutSessionStatus.EXPIRED
    assert payment_of(core, session).status is PaymentStatus.FAILED
    assert core.wallet() == 0


def test_a_late_failure_never_undoes_a_completion(core: Core) -> None:
    session = open_session(core)
    deliver(core, core.sandbox.complete_checkout(session.provider_reference))

    outcomes = deliver(core, provider_event(core, "payment.failed", session.provider_reference))

    assert outcomes == [EventOutcome.IGNORED]
    assert stored(core, session).status is CheckoutSessionStatus.COMPLETED
    assert payment_of(core, session).status is PaymentStatus.COMPLETED
    assert core.wallet() == 97500


@pytest.mark.parametrize("amount", [Money(99999, "KES"), Money(100000, "USD")])
def test_an_event_whose_amount_differs_is_audited_and_not_applied(core: Core, amount: Money) -> None:
    session = open_session(core)

    outcomes = deliver(core, provider_event(core, "payment.succeeded", session.provider_reference, amount))

    assert outcomes == [EventOutcome.IGNORED]
    assert "provider_event.amount_mismatch" in audit_actions(core, session.id)
    assert stored(core, session).status is CheckoutSessionStatus.PENDING
    assert core.wallet() == 0


@pytest.mark.parametrize("close", ["cancel", "sweep"])
def test_a_payment_after_close_is_recorded_for_reconciliation_and_books_nothing(
    core: Core, close: str
) -> None:
    session = open_session(core)
    if close == "cancel":
        checkout.cancel_session(core.deps, core.user("alice"), session.id)
    else:
        core.clock.advance(timedelta(minutes=31))
        checkout.expire_sessions(core.deps)
    closed = stored(core, session)

    outcomes = deliver(core, core.sandbox.complete_checkout(session.provider_reference))

    assert outcomes == [EventOutcome.IGNORED]
    assert stored(core, session) == closed
    assert payment_of(core, session).status is PaymentStatus.CANCELLED
    assert "checkout.session.paid_after_close" in audit_actions(core, session.id)
    assert outbox_types(core)[-1] == "checkout.session.paid_after_close"
    assert core.wallet() == 0
    assert core.ledger_problems() == []


# --- expire_sessions -----------------------------------------------------------------------------


def test_the_sweep_expires_sessions_past_their_time_and_cancels_their_payments(core: Core) -> None:
    due = open_session(core)
    core.clock.advance(timedelta(minutes=20))
    fresh = open_session(core)
    core.clock.advance(timedelta(minutes=10))

    assert checkout.expire_sessions(core.deps) == 1

    assert stored(core, due).status is CheckoutSessionStatus.EXPIRED
    payment = payment_of(core, due)
    assert payment.status is PaymentStatus.CANCELLED
    assert payment.metadata["cancellationReason"] == "expired"
    assert stored(core, fresh).status is CheckoutSessionStatus.PENDING
    assert "checkout.session.expired" in audit_actions(core, due.id)


def test_the_sweep_leaves_finished_sessions_alone_and_runs_again_harmlessly(core: Core) -> None:
    paid = open_session(core)
    deliver(core, core.sandbox.complete_checkout(paid.provider_reference))
    open_session(core)
    core.clock.advance(timedelta(hours=1))

    assert checkout.expire_sessions(core.deps) == 1
    assert checkout.expire_sessions(core.deps) == 0
    assert stored(core, paid).status is CheckoutSessionStatus.COMPLETED


def test_the_sweep_covers_every_tenant_within_its_limit(core: Core) -> None:
    open_session(core)
    open_session(core)
    open_session(core, principal=core.user("zoe", tenant_id="t2"))
    core.clock.advance(timedelta(minutes=30))

    assert checkout.expire_sessions(core.deps, limit=2) == 2
    assert checkout.expire_sessions(core.deps, limit=2) == 1
    statuses = {session.status for session in core.store.sessions.table.rows()}
    assert statuses == {CheckoutSessionStatus.EXPIRED}


@attrs.define
class InterruptedUnitsOfWork:
    """A unit-of-work factory that lets something happen just before its `nth` unit of work."""

    inner: Callable[[], Any]
    nth: int
    meanwhile: Callable[[], object]
    opened: int = 0

    def __call__(self) -> Any:
        self.opened += 1
        if self.opened == self.nth:
            self.meanwhile()
        return self.inner()


def test_a_success_landing_while_the_sweep_runs_wins(core: Core) -> None:
    session = open_session(core)
    core.clock.advance(timedelta(minutes=31))
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    racing = InterruptedUnitsOfWork(core.deps.uow, 2, lambda: deliver(core, webhook))

    expired = checkout.expire_sessions(attrs.evolve(core.deps, uow=racing))

    assert expired == 0
    assert stored(core, session).status is CheckoutSessionStatus.COMPLETED
    assert core.wallet() == 97500


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_the_sweep_refuses_a_nonsense_limit(core: Core, limit: Any) -> None:
    raises_code("INVALID_PARAMETER", lambda: checkout.expire_sessions(core.deps, limit=limit))


def test_an_expired_session_refuses_a_later_provider_expiry(core: Core) -> None:
    session = open_session(core)
    core.clock.advance(timedelta(minutes=30))
    checkout.expire_sessions(core.deps)

    outcomes = deliver(core, core.sandbox.expire_checkout(session.provider_reference))

    assert outcomes == [EventOutcome.IGNORED]
    assert payment_of(core, session).status is PaymentStatus.CANCELLED


def test_a_hosted_page_finds_any_tenants_session_by_its_id_alone():
    core = make_core()
    mine = checkout.create_session(
        core.deps, core.user("alice"), amount=Money.parse("10.00", "KES"), reference="o-1"
    )
    theirs = checkout.create_session(
        core.deps,
        core.user("zed", tenant_id=core.other_tenant.id),
        amount=Money.parse("20.00", "KES"),
        reference="o-2",
    )
    assert checkout.get_hosted_session(core.deps, mine.id).id == mine.id
    assert checkout.get_hosted_session(core.deps, theirs.id).tenant_id == core.other_tenant.id


@pytest.mark.parametrize("session_id", ["cs_" + "0" * 32, "cs_nope", "", "x" * 101, "cs_\n1"])
def test_an_unknown_or_malformed_hosted_session_id_is_not_found(session_id):
    core = make_core()
    with pytest.raises(NotFound):
        checkout.get_hosted_session(core.deps, session_id)
