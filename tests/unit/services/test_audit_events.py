"""The audit trail: every audited action of keys, provider config and webhooks, listed newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments_core.errors import DomainError
from payments_core.policies import Principal, Scope
from payments_core.services.api_keys import create_api_key, revoke_api_key
from payments_core.services.audit_events import list_audit_events
from payments_core.services.provider_config import register_provider_config, update_provider_config
from payments_core.services.webhooks import create_endpoint, delete_endpoint, send_test_event
from tests.support.core import ALL_SCOPES, T0, Core, make_core

TOKEN = "APP_USR-xxxx-xxxx-xxxx-1234"
AUDITED_ACTIONS = [
    "api_key.created",
    "api_key.revoked",
    "provider_config.registered",
    "provider_config.updated",
    "webhook_endpoint.created",
    "webhook.test.sent",
    "webhook_endpoint.deleted",
]


@pytest.fixture
def core() -> Core:
    return make_core()


def every_audited_action(core: Core, tenant_id: str = "t1") -> dict[str, str]:
    """Perform each audited action once, a minute apart; the secrets shown along the way."""
    secrets: dict[str, str] = {}

    def user() -> Principal:  # a fresh MFA each minute
        return core.user("alice", tenant_id=tenant_id)

    def tick() -> None:
        core.clock.advance(timedelta(minutes=1))

    key = create_api_key(core.deps, user(), "Server")
    secrets["api_key"] = key.secret
    tick()
    revoke_api_key(core.deps, user(), key.id)
    tick()
    register_provider_config(core.deps, user(), "mercadopago", {"access_token": TOKEN})
    tick()
    update_provider_config(core.deps, user(), "mercadopago", {"webhook_secret": "whsec_0000000000000000abcd"})
    tick()
    endpoint = create_endpoint(core.deps, user(), "https://hooks.example.com/in")
    secrets["endpoint"] = endpoint.secret
    tick()
    send_test_event(core.deps, user(), "payment.succeeded", {"paymentId": "test_payment_123"})
    tick()
    delete_endpoint(core.deps, user(), endpoint.endpoint.id)
    return secrets


def reader(core: Core, tenant_id: str = "t1") -> Principal:
    return core.user("fiona", scopes=[Scope.FINANCE_VIEW], tenant_id=tenant_id, mfa=False)


def test_every_audited_action_is_listed_newest_first(core: Core) -> None:
    every_audited_action(core)

    page = list_audit_events(core.deps, reader(core))

    assert [event.action for event in page.items] == list(reversed(AUDITED_ACTIONS))
    assert [event.at for event in page.items] == [T0 + timedelta(minutes=m) for m in range(6, -1, -1)]
    assert page.total == 7
    assert not page.has_more


def test_each_event_says_who_did_what_to_which_target(core: Core) -> None:
    every_audited_action(core)

    page = list_audit_events(core.deps, reader(core), action="api_key.created")

    [event] = page.items
    assert (event.actor_kind, event.actor_id, event.target_type, event.tenant_id) == (
        "user",
        "alice",
        "api_key",
        "t1",
    )
    assert event.target_id.startswith("key_")


def test_no_audit_event_carries_a_secret(core: Core) -> None:
    secrets = every_audited_action(core)

    page = list_audit_events(core.deps, reader(core))

    for event in page.items:
        for secret in (*secrets.values(), TOKEN, "whsec_0000000000000000abcd"):
            assert secret not in repr(event.details), event.action


def test_another_tenant_sees_none_of_the_events(core: Core) -> None:
    every_audited_action(core)

    page = list_audit_events(core.deps, reader(core, "t2"))

    assert page.items == ()
    assert page.total == 0


def test_each_tenant_sees_only_its_own_events(core: Core) -> None:
    every_audited_action(core)
    create_api_key(core.deps, core.user("tom", tenant_id="t2"), "Theirs")

    theirs = list_audit_events(core.deps, reader(core, "t2"))
    mine = list_audit_events(core.deps, reader(core))

    assert [(event.action, event.tenant_id) for event in theirs.items] == [("api_key.created", "t2")]
    assert {event.tenant_id for event in mine.items} == {"t1"}
    assert mine.total == 7


def test_filtering_by_action(core: Core) -> None:
    every_audited_action(core)

    page = list_audit_events(core.deps, reader(core), action="webhook.test.sent")

    assert [event.action for event in page.items] == ["webhook.test.sent"]


def test_filtering_by_target(core: Core) -> None:
    every_audited_action(core)
    key_event = list_audit_events(core.deps, reader(core), action="api_key.created").items[0]

    page = list_audit_events(core.deps, reader(core), target_id=key_event.target_id)

    assert [event.action for event in page.items] == ["api_key.revoked", "api_key.created"]


def test_a_filter_naming_another_tenants_target_finds_nothing(core: Core) -> None:
    every_audited_action(core)
    key_event = list_audit_events(core.deps, reader(core), action="api_key.created").items[0]

    page = list_audit_events(core.deps, reader(core, "t2"), target_id=key_event.target_id)

    assert page.items == ()


def test_pages_split_the_events_without_overlap(core: Core) -> None:
    every_audited_action(core)

    pages = [list_audit_events(core.deps, reader(core), page=n, limit=3) for n in (1, 2, 3, 4)]

    assert [len(page.items) for page in pages] == [3, 3, 1, 0]
    assert [page.has_more for page in pages] == [True, True, False, False]
    assert [event.action for page in pages for event in page.items] == list(reversed(AUDITED_ACTIONS))
    assert {page.total for page in pages} == {7}


def test_the_default_page_holds_up_to_50_events(core: Core) -> None:
    for index in range(51):
        create_api_key(core.deps, core.user("alice"), f"Key {index}")
        core.clock.advance(timedelta(seconds=1))

    page = list_audit_events(core.deps, reader(core))

    assert (len(page.items), page.total, page.limit, page.has_more) == (50, 51, 50, True)
    assert page.items[0].at == T0 + timedelta(seconds=50)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit", 0),
        ("limit", 101),
        ("limit", "10"),
        ("limit", True),
        ("limit", 2.0),
        ("page", 0),
        ("page", -1),
        ("page", "2"),
        ("page", 100_001),
        ("action", "x" * 101),
        ("action", 5),
        ("target_id", ""),
    ],
)
def test_out_of_range_or_mistyped_paging_and_filters_are_refused(
    core: Core, field: str, value: object
) -> None:
    with pytest.raises(DomainError) as excinfo:
        list_audit_events(core.deps, reader(core), **{field: value})  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == field


def test_the_largest_limit_is_accepted(core: Core) -> None:
    every_audited_action(core)

    assert len(list_audit_events(core.deps, reader(core), limit=100).items) == 7


def test_reading_the_audit_trail_needs_finance_view(core: Core) -> None:
    every_audited_action(core)
    outsider = core.user("olga", scopes=ALL_SCOPES - {Scope.FINANCE_VIEW.value})

    with pytest.raises(DomainError) as excinfo:
        list_audit_events(core.deps, outsider)

    assert excinfo.value.code == "INSUFFICIENT_PERMISSIONS"
    assert excinfo.value.details["requiredScopes"] == ["finance:view"]
