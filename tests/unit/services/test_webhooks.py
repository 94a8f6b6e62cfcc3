"""Outbound webhook endpoints and the test event of seed 003 (`POST /webhooks/test`)."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from payments_core.errors import DomainError
from payments_core.model.integrations import WebhookEndpoint
from payments_core.policies import Scope
from payments_core.services.webhooks import (
    MAX_ACTIVE_ENDPOINTS,
    create_endpoint,
    delete_endpoint,
    endpoint_secret,
    list_endpoints,
    send_test_event,
)
from tests.support.core import ALL_SCOPES, T0, Core, make_core

URL = "https://your-webhook.com/endpoint"


@pytest.fixture
def core() -> Core:
    return make_core()


def new_endpoint(core: Core, url: str = URL, tenant_id: str = "t1", **kw: object) -> WebhookEndpoint:
    return create_endpoint(core.deps, core.user("alice", tenant_id=tenant_id), url, **kw).endpoint  # type: ignore[arg-type]


def stored_endpoints(core: Core) -> list[WebhookEndpoint]:
    return list(core.store.webhook_endpoints.table.rows())


def outbox(core: Core, tenant_id: str = "t1") -> list[object]:
    return list(core.store.outbox.for_tenant(tenant_id))


def audit_actions(core: Core, tenant_id: str = "t1") -> list[str]:
    events = sorted(core.store.audit.table.rows(), key=lambda event: event.id)
    return [event.action for event in events if event.tenant_id == tenant_id]


# --- creating --------------------------------------------------------------------------------


def test_creating_an_endpoint_returns_its_signing_secret_once(core: Core) -> None:
    created = create_endpoint(core.deps, core.user("alice"), URL, description="Orders service")

    assert created.secret.startswith("whsec_")
    assert len(created.secret) > len("whsec_") + 20
    assert created.secret not in repr(created)
    assert created.endpoint.url == URL
    assert created.endpoint.event_types == ("*",)
    assert created.endpoint.description == "Orders service"
    assert created.endpoint.created_at == T0
    assert created.endpoint.tenant_id == "t1"


def test_the_repository_holds_the_secret_sealed_and_the_worker_can_open_it(core: Core) -> None:
    created = create_endpoint(core.deps, core.user("alice"), URL)

    [stored] = stored_endpoints(core)
    for name, value in attrs.asdict(stored).items():
        assert created.secret not in repr(value), f"the secret leaked into WebhookEndpoint.{name}"
    assert endpoint_secret(core.deps, "t1", stored.id) == created.secret


def test_each_endpoint_gets_its_own_secret(core: Core) -> None:
    first = create_endpoint(core.deps, core.user("alice"), URL)
    second = create_endpoint(core.deps, core.user("alice"), URL)

    assert first.secret != second.secret


def test_creating_is_audited_without_the_secret(core: Core) -> None:
    created = create_endpoint(core.deps, core.user("alice"), URL)

    [event] = core.store.audit.table.rows()
    assert event.action == "webhook_endpoint.created"
    assert event.target_id == created.endpoint.id
    assert event.details["host"] == "your-webhook.com"
    assert created.secret not in repr(event)


def test_event_types_are_kept_once_each_in_order(core: Core) -> None:
    endpoint = new_endpoint(core, event_types=["payment.succeeded", "refund.created", "payment.succeeded"])

    assert endpoint.event_types == ("payment.succeeded", "refund.created")


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/hooks", "http://127.0.0.1/hooks", "https://a.example/x?y=1"]
)
def test_https_urls_and_plain_http_to_localhost_are_accepted(core: Core, url: str) -> None:
    assert new_endpoint(core, url).url == url


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "ftp://example.com/hook", "javascript:alert(1)", "", "https://",
     "https:///path", "http://localhost.evil.com/hook", "http://127.0.0.1.nip.io/hook",
     "https://exa mple.com", "https://example.com:99999/x", "https://" + "a" * 2050, None, 42],
    ids=["http", "ftp", "javascript", "empty", "scheme-only", "no-host", "localhost-lookalike",
         "loopback-lookalike", "space", "bad-port", "too-long", "none", "int"],
)  # fmt: skip
def test_an_invalid_url_is_refused_and_nothing_is_stored(core: Core, url: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_endpoint(core.deps, core.user("alice"), url)  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "url"
    assert stored_endpoints(core) == []
    assert audit_actions(core) == []


@pytest.mark.parametrize(
    "event_types",
    ["payment.succeeded", [], ["payment"], ["Payment.Succeeded"], ["payment.succeeded."], ["a." + "b" * 99],
     [None], ["payment.*"], [f"payment.t{'x' * i}" for i in range(33)]],
    ids=["bare-string", "empty", "no-dot", "uppercase", "trailing-dot", "too-long", "none", "wildcard-part",
         "too-many"],
)  # fmt: skip
def test_invalid_event_types_are_refused(core: Core, event_types: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_endpoint(core.deps, core.user("alice"), URL, event_types)  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "event_types"
    assert stored_endpoints(core) == []


@pytest.mark.parametrize("description", ["x" * 201, 42])
def test_an_over_long_or_non_string_description_is_refused(core: Core, description: object) -> None:
    with pytest.raises(DomainError) as excinfo:
        create_endpoint(core.deps, core.user("alice"), URL, description=description)  # type: ignore[arg-type]

    assert excinfo.value.details["field"] == "description"
    assert stored_endpoints(core) == []


def test_a_tenant_may_have_at_most_16_active_endpoints(core: Core) -> None:
    for index in range(MAX_ACTIVE_ENDPOINTS):
        new_endpoint(core, f"{URL}/{index}")

    with pytest.raises(DomainError) as excinfo:
        new_endpoint(core, f"{URL}/one-too-many")

    assert excinfo.value.code == "INVALID_OPERATION"
    assert excinfo.value.details["limit"] == 16
    assert len(stored_endpoints(core)) == 16


def test_a_deleted_endpoint_frees_its_place_and_other_tenants_do_not_count(core: Core) -> None:
    first = new_endpoint(core, f"{URL}/0")
    for index in range(1, MAX_ACTIVE_ENDPOINTS):
        new_endpoint(core, f"{URL}/{index}")
    new_endpoint(core, URL, tenant_id="t2")

    delete_endpoint(core.deps, core.user("alice"), first.id)

    assert new_endpoint(core, f"{URL}/again").url == f"{URL}/again"


# --- who may --------------------------------------------------------------------------------


def test_managing_endpoints_needs_a_fresh_mfa(core: Core) -> None:
    endpoint = new_endpoint(core)
    bob = core.user("bob", mfa=False)

    for attempt in (
        lambda: create_endpoint(core.deps, bob, URL),
        lambda: delete_endpoint(core.deps, bob, endpoint.id),
        lambda: send_test_event(core.deps, bob, "payment.succeeded", {}),
    ):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert excinfo.value.code == "MFA_CHALLENGE_REQUIRED"
        assert excinfo.value.details["action"] == "webhooks"
    assert [e.id for e in list_endpoints(core.deps, bob)] == [endpoint.id]
    assert outbox(core) == []


def test_an_api_key_cannot_create_delete_or_test_endpoints(core: Core) -> None:
    endpoint = new_endpoint(core)
    key = core.api_key()

    for attempt in (
        lambda: create_endpoint(core.deps, key, URL),
        lambda: delete_endpoint(core.deps, key, endpoint.id),
        lambda: send_test_event(core.deps, key, "payment.succeeded", {}),
    ):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert excinfo.value.code == "INSUFFICIENT_PERMISSIONS"
    assert len(stored_endpoints(core)) == 1
    assert outbox(core) == []


def test_without_the_webhooks_scope_nothing_is_allowed(core: Core) -> None:
    endpoint = new_endpoint(core)
    viewer = core.user("vic", scopes=ALL_SCOPES - {Scope.WEBHOOKS_MANAGE.value})

    for attempt in (
        lambda: create_endpoint(core.deps, viewer, URL),
        lambda: list_endpoints(core.deps, viewer),
        lambda: delete_endpoint(core.deps, viewer, endpoint.id),
        lambda: send_test_event(core.deps, viewer, "payment.succeeded", {}),
    ):
        with pytest.raises(DomainError) as excinfo:
            attempt()
        assert excinfo.value.code == "INSUFFICIENT_PERMISSIONS"
        assert excinfo.value.details["requiredScopes"] == ["webhooks.manage"]


# --- listing and deleting --------------------------------------------------------------------


def test_listing_shows_the_tenants_active_endpoints_oldest_first(core: Core) -> None:
    first = new_endpoint(core, f"{URL}/1")
    core.clock.advance(timedelta(seconds=1))
    second = new_endpoint(core, f"{URL}/2")
    core.clock.advance(timedelta(seconds=1))
    third = new_endpoint(core, f"{URL}/3")
    delete_endpoint(core.deps, core.user("alice"), second.id)

    assert [e.id for e in list_endpoints(core.deps, core.user("alice"))] == [first.id, third.id]


def test_another_tenant_lists_none_of_the_endpoints(core: Core) -> None:
    new_endpoint(core)

    assert list_endpoints(core.deps, core.user("tom", tenant_id="t2")) == []


def test_deleting_sets_the_deletion_time_and_is_audited(core: Core) -> None:
    endpoint = new_endpoint(core)
    core.clock.advance(timedelta(minutes=1))

    deleted = delete_endpoint(core.deps, core.user("alice"), endpoint.id)

    assert deleted.deleted_at == T0 + timedelta(minutes=1)
    assert core.store.webhook_endpoints.get("t1", endpoint.id) == deleted
    assert audit_actions(core) == ["webhook_endpoint.created", "webhook_endpoint.deleted"]


def test_deleting_twice_is_not_found(core: Core) -> None:
    endpoint = new_endpoint(core)
    first = delete_endpoint(core.deps, core.user("alice"), endpoint.id)
    core.clock.advance(timedelta(minutes=1))

    with pytest.raises(DomainError) as excinfo:
        delete_endpoint(core.deps, core.user("alice"), endpoint.id)

    assert excinfo.value.code == "RESOURCE_NOT_FOUND"
    assert core.store.webhook_endpoints.get("t1", endpoint.id) == first


def test_another_tenant_cannot_delete_the_endpoint(core: Core) -> None:
    endpoint = new_endpoint(core)

    with pytest.raises(DomainError) as excinfo:
        delete_endpoint(core.deps, core.user("tom", tenant_id="t2"), endpoint.id)

    assert excinfo.value.code == "RESOURCE_NOT_FOUND"
    assert core.store.webhook_endpoints.get("t1", endpoint.id).is_active  # type: ignore[union-attr]


def test_the_secret_of_a_deleted_or_foreign_endpoint_is_not_found(core: Core) -> None:
    endpoint = new_endpoint(core)

    with pytest.raises(DomainError) as foreign:
        endpoint_secret(core.deps, "t2", endpoint.id)
    delete_endpoint(core.deps, core.user("alice"), endpoint.id)
    with pytest.raises(DomainError) as deleted:
        endpoint_secret(core.deps, "t1", endpoint.id)

    assert foreign.value.code == deleted.value.code == "RESOURCE_NOT_FOUND"


# --- the test event --------------------------------------------------------------------------


def test_a_test_event_lands_in_the_outbox_for_the_endpoint_marked_as_test(core: Core) -> None:
    endpoint = new_endpoint(core)

    result = send_test_event(
        core.deps, core.user("alice"), "payment.succeeded", {"paymentId": "test_payment_123"}
    )

    [event] = outbox(core)
    assert result.sent is True
    assert result.webhook_event_id == event.id
    assert result.target_url == URL
    assert result.endpoint_id == endpoint.id
    assert event.tenant_id == "t1"
    assert event.endpoint_id == endpoint.id
    assert event.type == "payment.succeeded"
    assert event.data == {"paymentId": "test_payment_123", "test": True}
    assert event.livemode is False
    assert outbox(core, "t2") == []


def test_a_test_event_is_audited(core: Core) -> None:
    endpoint = new_endpoint(core)

    result = send_test_event(core.deps, core.user("alice"), "payment.succeeded", {})

    last = max(core.store.audit.table.rows(), key=lambda event: event.id)
    assert last.action == "webhook.test.sent"
    assert last.target_id == endpoint.id
    assert last.details == {"eventType": "payment.succeeded", "webhookEventId": result.webhook_event_id}


def test_the_callers_data_cannot_unmark_a_test_event(core: Core) -> None:
    new_endpoint(core)

    send_test_event(core.deps, core.user("alice"), "payment.succeeded", {"test": False})

    assert outbox(core)[0].data == {"test": True}


def test_a_test_event_goes_to_the_oldest_active_endpoint_that_wants_the_type(core: Core) -> None:
    new_endpoint(core, f"{URL}/refunds", event_types=["refund.created"])
    core.clock.advance(timedelta(seconds=1))
    deleted = new_endpoint(core, f"{URL}/deleted")
    core.clock.advance(timedelta(seconds=1))
    wanted = new_endpoint(core, f"{URL}/payments", event_types=["payment.succeeded"])
    core.clock.advance(timedelta(seconds=1))
    new_endpoint(core, f"{URL}/everything")
    delete_endpoint(core.deps, core.user("alice"), deleted.id)

    result = send_test_event(core.deps, core.user("alice"), "payment.succeeded", {})

    assert result.endpoint_id == wanted.id
    assert outbox(core)[0].endpoint_id == wanted.id


def test_a_test_event_may_name_its_endpoint_whatever_types_it_wants(core: Core) -> None:
    new_endpoint(core, f"{URL}/first")
    named = new_endpoint(core, f"{URL}/refunds", event_types=["refund.created"])

    result = send_test_event(core.deps, core.user("alice"), "payment.succeeded", {}, endpoint_id=named.id)

    assert result.target_url == f"{URL}/refunds"
    assert outbox(core)[0].endpoint_id == named.id


def test_a_test_event_to_another_tenants_or_a_deleted_endpoint_is_not_found(core: Core) -> None:
    new_endpoint(core)
    foreign = new_endpoint(core, tenant_id="t2")
    deleted = new_endpoint(core, f"{URL}/gone")
    delete_endpoint(core.deps, core.user("alice"), deleted.id)

    for endpoint_id in (foreign.id, deleted.id, "we_999999"):
        with pytest.raises(DomainError) as excinfo:
            send_test_event(core.deps, core.user("alice"), "payment.succeeded", {}, endpoint_id=endpoint_id)
        assert excinfo.value.code == "RESOURCE_NOT_FOUND"
    assert outbox(core) == []
    assert outbox(core, "t2") == []


def test_without_an_endpoint_a_test_event_is_an_invalid_operation(core: Core) -> None:
    new_endpoint(core, tenant_id="t2")

    with pytest.raises(DomainError) as excinfo:
        send_test_event(core.deps, core.user("alice"), "payment.succeeded", {})

    assert excinfo.value.code == "INVALID_OPERATION"
    assert excinfo.value.message == "no webhook endpoint is configured"
    assert outbox(core) == []
    assert outbox(core, "t2") == []


def test_without_an_endpoint_wanting_the_type_a_test_event_is_an_invalid_operation(core: Core) -> None:
    new_endpoint(core, event_types=["refund.created"])

    with pytest.raises(DomainError) as excinfo:
        send_test_event(core.deps, core.user("alice"), "payment.succeeded", {})

    assert excinfo.value.code == "INVALID_OPERATION"
    assert outbox(core) == []


@pytest.mark.parametrize(
    "event_type",
    [
        "payment",
        "Payment.Succeeded",
        "payment succeeded",
        "payment." + "x" * 100,
        "",
        None,
        "payment..succeeded",
    ],
)
def test_an_invalid_test_event_type_is_refused(core: Core, event_type: object) -> None:
    new_endpoint(core)

    with pytest.raises(DomainError) as excinfo:
        send_test_event(core.deps, core.user("alice"), event_type, {})  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "eventType"
    assert outbox(core) == []


@pytest.mark.parametrize(
    "data",
    [
        ["paymentId"],
        "paymentId",
        None,
        {1: "x"},
        {"amount": float("nan")},
        {"when": T0},
        {"blob": "x" * 5000},
    ],
    ids=["list", "string", "none", "int-key", "nan", "datetime", "too-large"],
)
def test_test_event_data_must_be_small_json(core: Core, data: object) -> None:
    new_endpoint(core)

    with pytest.raises(DomainError) as excinfo:
        send_test_event(core.deps, core.user("alice"), "payment.succeeded", data)  # type: ignore[arg-type]

    assert excinfo.value.code == "INVALID_PARAMETER"
    assert excinfo.value.details["field"] == "data"
    assert outbox(core) == []
    assert audit_actions(core) == ["webhook_endpoint.created"]
