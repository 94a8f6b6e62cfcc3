"""A tenant's provider credentials per mode, inbound endpoints, and inbound events scoped to a
tenant and confirmed before they move money."""

from __future__ import annotations

import attrs
import pytest

from payments_core.errors import DomainError, ProviderUnavailable
from payments_core.model.integrations import ProviderEventRecord
from payments_core.money import Money
from payments_core.ports import ProviderEvent, ProviderEventType
from payments_core.services import checkout, provider_events
from payments_core.services.provider_config import (
    inbound_endpoint,
    inbound_path,
    provider_credentials,
    register_provider_config,
)
from payments_core.services.provider_events import EventOutcome
from tests.support.core import Core, make_core

LIVE_STRIPE = "sk_live_51Hq0000000000000000aBcD"
TEST_STRIPE = "sk_test_51Hq0000000000000000aBcD"
MPESA = {
    "consumer_key": "GvzjNnYgNJtwgwfLBkZh65VPwfuKvs0V",
    "consumer_secret": "oOpJICRVlyrGSAkM",
    "passkey": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
    "security_credential": "Q" * 344,
    "shortcode": "174379",
    "initiator_name": "testapi",
    "environment": "production",
}


@pytest.fixture
def core() -> Core:
    return make_core()


def register(core: Core, provider: str, values: dict[str, object], tenant_id: str = "t1") -> str:
    """Registers the configuration; answers the url_id of its inbound URL."""
    view = register_provider_config(core.deps, core.user("alice", tenant_id=tenant_id), provider, values)
    return view.webhook_path.split("/")[4]


def refusal_reason(core: Core, tenant_id: str, provider: str, livemode: bool) -> str:
    with pytest.raises(ProviderUnavailable) as refused:
        provider_credentials(core.deps, tenant_id, provider, livemode)
    assert refused.value.details["provider"] == provider
    return str(refused.value.details["reason"])


# --- credentials per mode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "values", "live"),
    [
        ("stripe", {"secret_key": LIVE_STRIPE, "webhook_secret": "whsec_0000000000000000WXYZ"}, True),
        ("stripe", {"secret_key": TEST_STRIPE}, False),
        ("stripe", {"secret_key": "rk_live_51Hq0000000000000000aBcD"}, True),
        ("paystack", {"secret_key": "sk_live_0000000000000000abcd"}, True),
        ("paystack", {"secret_key": "sk_test_0000000000000000abcd"}, False),
        ("mercadopago", {"access_token": "APP_USR-1111-2222-3333-4444"}, True),
        ("mercadopago", {"access_token": "TEST-1111-2222-3333-4444"}, False),
        ("mpesa", MPESA, True),
        ("mpesa", {**MPESA, "environment": "sandbox"}, False),
        (
            "pesapal",
            {"consumer_key": "k" * 20, "consumer_secret": "s" * 20, "environment": "production"},
            True,
        ),
        ("pesapal", {"consumer_key": "k" * 20, "consumer_secret": "s" * 20, "environment": "sandbox"}, False),
    ],
)
def test_credentials_reach_only_the_mode_they_belong_to(
    core: Core, provider: str, values: dict[str, object], live: bool
) -> None:
    register(core, provider, values)

    found = provider_credentials(core.deps, "t1", provider, live)

    assert found.livemode is live and found.tenant_id == "t1"
    assert {name: found.values[name] for name in values} == {name: str(v) for name, v in values.items()}
    assert refusal_reason(core, "t1", provider, not live) == "mode"


def test_a_tenant_without_credentials_is_refused_and_another_tenants_are_never_used(core: Core) -> None:
    register(core, "stripe", {"secret_key": LIVE_STRIPE})

    assert refusal_reason(core, "t2", "stripe", True) == "credentials"
    assert refusal_reason(core, "t1", "paystack", True) == "credentials"


def test_switching_modes_replaces_the_credentials(core: Core) -> None:
    register(core, "stripe", {"secret_key": TEST_STRIPE})
    register(core, "stripe", {"secret_key": LIVE_STRIPE})

    assert provider_credentials(core.deps, "t1", "stripe", True).values["secret_key"] == LIVE_STRIPE
    assert refusal_reason(core, "t1", "stripe", False) == "mode"


def test_credentials_never_show_their_secrets_in_a_repr(core: Core) -> None:
    register(core, "mpesa", MPESA)

    found = provider_credentials(core.deps, "t1", "mpesa", True)

    assert found.values["passkey"] == MPESA["passkey"]
    for secret in (MPESA["passkey"], MPESA["consumer_secret"], MPESA["security_credential"]):
        assert str(secret) not in repr(found)


def test_each_provider_has_its_own_inbound_route(core: Core) -> None:
    mpesa_id = register(core, "mpesa", MPESA)
    pesapal_id = register(
        core, "pesapal", {"consumer_key": "k" * 20, "consumer_secret": "s" * 20, "environment": "sandbox"}
    )
    stripe_id = register(core, "stripe", {"secret_key": LIVE_STRIPE})

    assert inbound_path(core.deps, "t1", "mpesa") == f"/api/v1/mpesa/{mpesa_id}/callback"
    assert inbound_path(core.deps, "t1", "pesapal") == f"/api/v1/pesapal/{pesapal_id}/ipn"
    assert inbound_path(core.deps, "t1", "stripe") == f"/api/v1/stripe/{stripe_id}/webhook"
    assert inbound_path(core.deps, "t2", "stripe") is None
    assert provider_credentials(core.deps, "t1", "mpesa", True).webhook_path.endswith(f"{mpesa_id}/callback")


def test_an_inbound_url_names_its_tenant_and_mode_for_its_own_provider_only(core: Core) -> None:
    url_id = register(core, "mpesa", MPESA, tenant_id="t2")

    endpoint = inbound_endpoint(core.deps, "mpesa", url_id)

    assert endpoint is not None
    assert (endpoint.tenant_id, endpoint.provider, endpoint.livemode) == ("t2", "mpesa", True)
    assert inbound_endpoint(core.deps, "pesapal", url_id) is None
    assert inbound_endpoint(core.deps, "mpesa", "wh_unknown") is None
    assert inbound_endpoint(core.deps, "mpesa", "x" * 500) is None


def test_callback_base_urls_must_be_https(core: Core) -> None:
    register(core, "mpesa", {**MPESA, "callback_base_url": "https://hooks.example.com"})

    assert provider_credentials(core.deps, "t1", "mpesa", True).values["callback_base_url"] == (
        "https://hooks.example.com"
    )
    with pytest.raises(DomainError) as refused:
        register(core, "mpesa", {**MPESA, "callback_base_url": "http://hooks.example.com"})
    assert refused.value.details["field"] == "callback_base_url"


# --- inbound events: tenant scope and confirmation ---------------------------------------------------


def pending_checkout(core: Core, tenant_id: str = "t1") -> tuple[str, ProviderEvent, object]:
    """A sandbox checkout of 10.00 KES, and the signed webhook (not delivered) that completes it."""
    principal = core.user("alice", tenant_id=tenant_id)
    session = checkout.create_session(core.deps, principal, Money.parse("10.00", "KES"), "order-1")
    deliver, core.sandbox.deliver = core.sandbox.deliver, None
    webhook = core.sandbox.complete_checkout(session.provider_reference)
    core.sandbox.deliver = deliver
    [event] = core.sandbox.parse_webhook(webhook.headers, webhook.body)
    return session.id, event, webhook


def session_status(core: Core, session_id: str, tenant_id: str = "t1") -> str:
    return checkout.get_session(
        core.deps, core.user("alice", tenant_id=tenant_id), session_id
    ).session.status.value


def still_recordable(core: Core, event: ProviderEvent) -> bool:
    record = ProviderEventRecord(event.provider, event.event_id, event.type.value, "x", core.clock.now())
    with core.deps.uow() as uow:
        return bool(uow.provider_events.record(record))  # rolled back: the probe changes nothing


def test_an_event_delivered_to_another_tenants_url_is_ignored_and_not_recorded(core: Core) -> None:
    session_id, event, webhook = pending_checkout(core, "t1")
    receive = provider_events.receive_webhook

    assert receive(core.deps, "sandbox", webhook.headers, webhook.body, tenant_id="t2") == [
        EventOutcome.IGNORED
    ]
    assert session_status(core, session_id) == "pending" and core.wallet("t1") == 0
    assert still_recordable(core, event)
    assert receive(core.deps, "sandbox", webhook.headers, webhook.body, tenant_id="t1") == [
        EventOutcome.APPLIED
    ]
    assert session_status(core, session_id) == "completed" and core.wallet("t1") > 0


def test_an_unconfirmed_event_is_neither_applied_nor_recorded(core: Core) -> None:
    session_id, event, webhook = pending_checkout(core)
    asked: list[str] = []

    def not_yet(claimed: ProviderEvent) -> ProviderEvent | None:
        asked.append(claimed.reference)
        return None

    outcomes = provider_events.receive_webhook(
        core.deps, "sandbox", webhook.headers, webhook.body, confirm=not_yet
    )

    assert outcomes == [EventOutcome.UNCONFIRMED] and asked == [event.reference]
    assert session_status(core, session_id) == "pending" and still_recordable(core, event)


def test_a_provider_down_while_confirming_records_nothing(core: Core) -> None:
    session_id, event, webhook = pending_checkout(core)

    def down(claimed: ProviderEvent) -> ProviderEvent | None:
        raise ProviderUnavailable("the sandbox provider did not answer", provider="sandbox")

    with pytest.raises(ProviderUnavailable):
        provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body, confirm=down)

    assert session_status(core, session_id) == "pending" and still_recordable(core, event)


def test_the_confirmed_verdict_is_what_is_applied(core: Core) -> None:
    session_id, _, webhook = pending_checkout(core)

    def failed(claimed: ProviderEvent) -> ProviderEvent | None:
        return attrs.evolve(claimed, type=ProviderEventType.PAYMENT_FAILED, amount=None)

    outcomes = provider_events.receive_webhook(
        core.deps, "sandbox", webhook.headers, webhook.body, confirm=failed
    )

    assert outcomes == [EventOutcome.APPLIED]
    assert session_status(core, session_id) == "cancelled" and core.wallet() == 0
    again = provider_events.receive_webhook(core.deps, "sandbox", webhook.headers, webhook.body)
    assert again == [EventOutcome.DUPLICATE] and core.wallet() == 0
