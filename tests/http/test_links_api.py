"""Seed 003 over HTTP: payment links, public pages (per-IP limits) and the tenant's create/disable.

The public routes are limited per client IP, so this module's app trusts the test client as a
proxy and each test speaks from its own `X-Forwarded-For` address.
"""

import itertools
import time
import uuid

import pytest

from entrypoints.http.settings import HttpSettings
from tests.support.http import error_code, running_api, wait_for_a_fresh_window

_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def api(pg_url):
    with running_api(pg_url, HttpSettings(trusted_proxies=frozenset({"testclient"}))) as running:
        yield running


@pytest.fixture
def visitor():
    """Headers of one anonymous visitor with an address of its own."""
    number = next(_addresses)
    return {"X-Forwarded-For": f"198.51.{number // 250}.{number % 250 + 1}"}


def new_slug() -> str:
    return f"summer-promo-{uuid.uuid4().hex[:8]}"


def link_body(**changes):
    return {"amount": 9900, "currency": "USD", "reference": "promo_ref", "slug": new_slug(), **changes}


def created_links(api, tenant) -> int:
    return api.core.audit.list_audit_events(tenant.principal(), action="payment_link.created").total


def payments_of(api, tenant) -> int:
    return api.core.payments.list_payments(tenant.principal()).pagination.total_items


def test_create_a_link_and_read_its_public_page_with_the_seed_fields(api, visitor):
    acme = api.tenant()
    body = link_body(expires_at="2099-12-31T23:59:59Z", usageLimit=100, description="Summer promo")
    created = api.post("/links", json=body, headers=acme.headers())
    assert created.status_code == 201, created.text
    owner_view = created.json()
    assert owner_view["usageLimit"] == 100 and owner_view["used"] == 0
    page = api.get(f"/links/{body['slug']}", headers=visitor)
    assert page.status_code == 200, page.text
    assert page.json() == {
        "slug": body["slug"],
        "amount": 9900,
        "currency": "USD",
        "reference": "promo_ref",
        "description": "Summer promo",
        "status": "active",
        "expires_at": "2099-12-31T23:59:59Z",
        "isExpired": False,
        "usageLimitReached": False,
        "canPay": True,
    }
    assert {key: owner_view[key] for key in page.json()} == page.json()
    assert page.headers["x-ratelimit-limit"] == "10"


def test_a_link_without_a_slug_gets_one_and_needs_no_expiry_or_limit(api, visitor):
    acme = api.tenant()
    created = api.post(
        "/links", json={"amount": 500, "currency": "USD", "reference": "r"}, headers=acme.headers()
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["expires_at"] is None and body["usageLimit"] is None and body["canPay"] is True
    assert api.get(f"/links/{body['slug']}", headers=visitor).json()["amount"] == 500


def test_creating_and_disabling_need_payments_write(api):
    acme = api.tenant()
    reader = acme.headers(scopes=["payments:read"])
    refused = api.post("/links", json=link_body(), headers=reader)
    assert refused.status_code == 403 and error_code(refused) == "INSUFFICIENT_PERMISSIONS"
    assert created_links(api, acme) == 0
    slug = api.post("/links", json=link_body(), headers=acme.headers()).json()["slug"]
    not_allowed = api.post(f"/links/{slug}/disable", headers=reader)
    assert not_allowed.status_code == 403 and error_code(not_allowed) == "INSUFFICIENT_PERMISSIONS"
    assert api.core.links.get_public_link(slug).link.status.value == "active"


def test_creating_without_credentials_is_401(api):
    response = api.post("/links", json=link_body())
    assert response.status_code == 401 and error_code(response) == "UNAUTHENTICATED"


def test_the_same_idempotency_key_replays_and_another_body_is_refused(api):
    acme = api.tenant()
    headers = acme.headers(**{"Idempotency-Key": "link-1"})
    body = link_body()
    first = api.post("/links", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = api.post("/links", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post("/links", json=link_body(), headers=headers)
    assert other.status_code == 400 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert created_links(api, acme) == 1


def test_a_slug_taken_by_another_tenant_is_a_conflict(api):
    acme, globex = api.tenant(), api.tenant()
    body = link_body()
    assert api.post("/links", json=body, headers=acme.headers()).status_code == 201
    taken = api.post("/links", json={**body, "amount": 1}, headers=globex.headers())
    assert taken.status_code == 409 and error_code(taken) == "IDEMPOTENCY_CONFLICT"
    assert api.core.links.get_public_link(body["slug"]).link.amount.minor == 9900
    assert created_links(api, globex) == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "INVALID_AMOUNT"),
        ({"amount": -9900}, "INVALID_AMOUNT"),
        ({"amount": 99.5}, "INVALID_AMOUNT"),
        ({"amount": "10.00"}, "INVALID_AMOUNT"),
        ({"amount": 1000.0}, "INVALID_AMOUNT"),
        ({"amount": 10**30}, "INVALID_AMOUNT"),
        ({"amount": "lots"}, "INVALID_PARAMETER"),
        ({"currency": "XYZ"}, "INVALID_CURRENCY"),
        ({"reference": ""}, "INVALID_PARAMETER"),
        ({"reference": "r" * 201}, "INVALID_PARAMETER"),
        ({"slug": "Summer Promo"}, "INVALID_PARAMETER"),
        ({"slug": "ab"}, "INVALID_PARAMETER"),
        ({"slug": "s" * 65}, "INVALID_PARAMETER"),
        ({"description": "d" * 501}, "INVALID_PARAMETER"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "INVALID_PARAMETER"),
        ({"expires_at": "2099-01-01T00:00:00"}, "INVALID_PARAMETER"),
        ({"expires_at": "next summer"}, "INVALID_PARAMETER"),
        ({"usageLimit": 0}, "INVALID_PARAMETER"),
        ({"usageLimit": 10_000_000}, "INVALID_PARAMETER"),
        ({"usageLimit": "many"}, "INVALID_PARAMETER"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(api, change, code):
    acme = api.tenant()
    response = api.post("/links", json=link_body(**change), headers=acme.headers())
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert created_links(api, acme) == 0


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"currency": "USD"}'])
def test_malformed_or_incomplete_json_is_400(api, content):
    acme = api.tenant()
    headers = acme.headers(**{"Content-Type": "application/json"})
    response = api.post("/links", content=content, headers=headers)
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert created_links(api, acme) == 0


def test_unknown_and_malformed_slugs(api, visitor):
    missing = api.get(f"/links/{new_slug()}", headers=visitor)
    assert missing.status_code == 404 and error_code(missing) == "RESOURCE_NOT_FOUND"
    malformed = api.get("/links/NOT_A_SLUG", headers=visitor)
    assert malformed.status_code == 400 and error_code(malformed) == "INVALID_PARAMETER"
    no_checkout = api.post(f"/links/{new_slug()}/checkout", json={}, headers=visitor)
    assert no_checkout.status_code == 404 and error_code(no_checkout) == "RESOURCE_NOT_FOUND"


def test_a_visitor_starts_a_checkout_for_the_links_tenant(api, visitor):
    acme = api.tenant()
    slug = api.post("/links", json=link_body(), headers=acme.headers()).json()["slug"]
    started = api.post(
        f"/links/{slug}/checkout", json={"methodTypes": ["card", "promptpay"]}, headers=visitor
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert set(body) == {"sessionId", "redirectUrl", "qrImageUrl", "expiresAt"}
    assert body["redirectUrl"] and body["qrImageUrl"] and body["expiresAt"].endswith("Z")
    session = api.core.checkout.get_session(acme.principal(), body["sessionId"]).session
    assert session.amount.minor == 9900 and session.link_slug == slug
    assert session.method_types == ("card", "promptpay")
    without_body = api.post(f"/links/{slug}/checkout", headers=visitor)
    assert without_body.status_code == 201, without_body.text


@pytest.mark.parametrize(
    "body", [{"methodTypes": ["bitcoin"]}, {"methodTypes": "card"}, {"methodTypes": ["card"] * 17}]
)
def test_a_bad_checkout_request_reserves_nothing(api, visitor, body):
    acme = api.tenant()
    slug = api.post("/links", json=link_body(usageLimit=1), headers=acme.headers()).json()["slug"]
    response = api.post(f"/links/{slug}/checkout", json=body, headers=visitor)
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"
    assert payments_of(api, acme) == 0
    assert api.core.links.get_public_link(slug).link.reserved == 0


def test_a_usage_limit_holds_while_pending_and_counts_once_paid(api, visitor):
    acme = api.tenant()
    slug = api.post("/links", json=link_body(usageLimit=1), headers=acme.headers()).json()["slug"]
    started = api.post(f"/links/{slug}/checkout", json={}, headers=visitor).json()
    page = api.get(f"/links/{slug}", headers=visitor).json()
    assert page["canPay"] is False and page["usageLimitReached"] is False
    second = api.post(f"/links/{slug}/checkout", json={}, headers=visitor)
    assert second.status_code == 400 and error_code(second) == "INVALID_OPERATION"
    assert second.json()["error"]["details"]["reason"] == "fully_reserved"
    assert payments_of(api, acme) == 1

    paid = api.post(f"/sandbox/sessions/{started['sessionId']}/pay", headers=acme.headers())
    assert paid.status_code == 200 and paid.json()["status"] == "completed"
    page = api.get(f"/links/{slug}", headers=visitor).json()
    assert page["usageLimitReached"] is True and page["canPay"] is False


def test_disabling_stops_new_checkouts_and_is_one_way(api, visitor):
    acme, globex = api.tenant(), api.tenant()
    slug = api.post("/links", json=link_body(), headers=acme.headers()).json()["slug"]
    foreign = api.post(f"/links/{slug}/disable", headers=globex.headers())
    assert foreign.status_code == 404 and error_code(foreign) == "RESOURCE_NOT_FOUND"
    assert api.get(f"/links/{slug}", headers=visitor).json()["status"] == "active"

    disabled = api.post(f"/links/{slug}/disable", headers=acme.headers())
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["status"] == "inactive" and disabled.json()["canPay"] is False
    assert api.get(f"/links/{slug}", headers=visitor).json()["status"] == "inactive"
    refused = api.post(f"/links/{slug}/checkout", json={}, headers=visitor)
    assert refused.status_code == 400 and error_code(refused) == "INVALID_OPERATION"
    assert refused.json()["error"]["details"]["reason"] == "inactive"
    again = api.post(f"/links/{slug}/disable", headers=acme.headers())
    assert again.status_code == 400 and error_code(again) == "INVALID_OPERATION"
    assert payments_of(api, acme) == 0


def test_the_fourth_checkout_a_minute_from_one_address_is_429(api, visitor):
    acme = api.tenant()
    slug = api.post("/links", json=link_body(), headers=acme.headers()).json()["slug"]
    wait_for_a_fresh_window(api)
    answers = [api.post(f"/links/{slug}/checkout", json={}, headers=visitor) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert [answer.headers["x-ratelimit-remaining"] for answer in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert error_code(limited) == "RATE_LIMIT_EXCEEDED"
    retry_after = limited.json()["error"]["details"]["retryAfter"]
    assert 1 <= retry_after <= 60
    assert limited.headers["retry-after"] == str(retry_after)
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert int(limited.headers["x-ratelimit-reset"]) >= int(time.time())
    assert payments_of(api, acme) == 3

    other_address = {"X-Forwarded-For": "203.0.113.77"}
    assert api.post(f"/links/{slug}/checkout", json={}, headers=other_address).status_code == 201
