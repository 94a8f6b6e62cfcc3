"""The hosted pages outside `/api/v1`: the sandbox checkout page (Pay and Fail through the provider
event path, once, then Post/Redirect/Get to a result page) and a payment link's public page, as
plain HTML with every value escaped, hardened headers, and the API's own per-IP limits.

The pages are limited per client IP, so this module's app trusts the test client as a proxy and
each test speaks from its own `X-Forwarded-For` address.
"""

import itertools
import time
import uuid

import attrs
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from entrypoints.http.page_templates import format_amount
from entrypoints.http.pages import PAGES
from entrypoints.http.settings import SEED_LIMITS, HttpSettings
from payments_core.money import Money
from payments_core.policies import Principal
from tests.support.http import TenantHandle, error_code, running_api, wait_for_a_fresh_window

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HARDENED = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_addresses = itertools.count(1)


def pages_app(runtime) -> Litestar:
    return Litestar(
        route_handlers=PAGES, dependencies={"runtime": Provide(lambda: runtime, sync_to_thread=False)}
    )


@pytest.fixture(scope="module")
def api(pg_url):
    with running_api(pg_url, HttpSettings(trusted_proxies=frozenset({"testclient"}))) as running:
        yield running


@pytest.fixture
def client(api):
    """The real app (the pages beside `/api/v1`), speaking from an address of this test's own."""
    number = next(_addresses)
    api.client.headers["X-Forwarded-For"] = f"192.0.{number // 250}.{number % 250 + 1}"
    yield api.client
    del api.client.headers["X-Forwarded-For"]


@pytest.fixture
def acme(api):
    return api.tenant(currency="KES")


def open_session(api, tenant, amount="1234.50", reference="order-1", **urls):
    return api.core.checkout.create_session(
        tenant.principal(), amount=Money.parse(amount, tenant.currency), reference=reference, **urls
    )


def session_status(api, tenant, session_id):
    return api.core.checkout.get_session(tenant.principal(), session_id).session.status.value


def payment_status(api, tenant, session):
    return api.core.payments.get_payment(tenant.principal(), session.payment_id).status.value


def available(api, tenant):
    return api.core.wallet.wallet_balance(tenant.principal()).available.minor


def payments_of(api, tenant) -> int:
    return api.core.payments.list_payments(tenant.principal()).pagination.total_items


def csp(answer) -> dict[str, str]:
    """The Content-Security-Policy as {directive: its sources}."""
    directives = (part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
    return {name: rest[0] if rest else "" for name, *rest in directives}


def assert_hardened(answer, form_action="'self'"):
    for name, value in HARDENED.items():
        assert answer.headers.get(name) == value, (name, answer.status_code)
    policy = csp(answer)
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"
    assert policy["style-src"] == "'unsafe-inline'" and policy["form-action"] == form_action


def assert_limited_page(answer, limit: int):
    """A 429 page over `limit`: HTML saying when to retry, with the headers the API sends."""
    assert answer.status_code == 429 and answer.headers["content-type"].startswith("text/html")
    assert "Too many requests" in answer.text
    retry_after = int(answer.headers["retry-after"])
    assert 1 <= retry_after <= 60 and f"retry in {retry_after} seconds" in answer.text
    assert answer.headers["x-ratelimit-limit"] == str(limit)
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert int(answer.headers["x-ratelimit-reset"]) >= int(time.time())
    assert_hardened(answer)


# --- the checkout page, Pay and Fail -------------------------------------------------------------


def test_the_checkout_page_labels_the_amount_reference_and_merchant(api, client, acme):
    session = open_session(api, acme, amount="1234567.50")
    page = client.get(f"/sandbox/checkout/{session.id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<dt>Amount</dt><dd class="amount">1,234,567.50 KES</dd>' in page.text
    assert '<dt>Reference</dt><dd class="reference">order-1</dd>' in page.text
    assert f"Payment to Tenant {acme.id}" in page.text and "TEST MODE" in page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert f'action="/sandbox/checkout/{session.id}/pay"' in page.text
    assert f'action="/sandbox/checkout/{session.id}/fail"' in page.text
    assert '"button primary">Pay<' in page.text and '"button secondary">Fail<' in page.text
    assert_hardened(page)


def test_pay_redirects_to_a_result_page_that_a_reload_does_not_repay(api, client, acme):
    session = open_session(api, acme)
    before = available(api, acme)
    paid = client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM, follow_redirects=False)
    assert paid.status_code == 303, paid.text
    assert paid.headers["location"] == f"/sandbox/checkout/{session.id}/result"
    assert_hardened(paid)
    assert payment_status(api, acme, session) == "completed"
    credited = available(api, acme)
    assert credited > before
    for _ in range(2):  # the result, and its reload: a GET that pays nothing
        result = client.get(paid.headers["location"])
        assert result.status_code == 200 and "Payment completed" in result.text
        assert "You paid 1,234.50 KES." in result.text and '<dd class="status">completed</dd>' in result.text
        assert '<dd class="reference">order-1</dd>' in result.text
        assert f'<dd class="payment">{session.payment_id}</dd>' in result.text
        assert "Back to the shop" not in result.text  # the session has no success URL
        assert_hardened(result)
        assert available(api, acme) == credited
    again = client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM, follow_redirects=False)
    assert again.status_code == 409 and "Already finished" in again.text
    assert f'href="/sandbox/checkout/{session.id}/result"' in again.text
    assert_hardened(again)
    assert available(api, acme) == credited and payment_status(api, acme, session) == "completed"
    assert client.get(f"/sandbox/checkout/{session.id}").status_code == 404  # no longer pending


def test_fail_fails_the_payment_and_a_later_pay_changes_nothing(api, client, acme):
    session = open_session(api, acme)
    before = available(api, acme)
    failed = client.post(f"/sandbox/checkout/{session.id}/fail", headers=FORM, follow_redirects=False)
    assert failed.status_code == 303
    assert failed.headers["location"] == f"/sandbox/checkout/{session.id}/result"
    result = client.get(failed.headers["location"])
    assert (
        result.status_code == 200 and "Payment failed" in result.text and "nothing was charged" in result.text
    )
    assert '<dd class="status">failed</dd>' in result.text
    assert payment_status(api, acme, session) == "failed"
    assert session_status(api, acme, session.id) == "cancelled"
    assert client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM).status_code == 409
    assert payment_status(api, acme, session) == "failed" and available(api, acme) == before


def test_pay_and_fail_redirect_to_the_sessions_own_urls(api, client, acme):
    urls = {
        "success_url": "https://shop.example/ok?a=1&b=2",
        "cancel_url": "https://pay.shop.example:8443/no",
    }
    paid, failed = open_session(api, acme, **urls), open_session(api, acme, **urls)
    page = client.get(f"/sandbox/checkout/{paid.id}")
    # The forms' answers redirect there: the policy must let the form navigation go on.
    assert_hardened(page, form_action="'self' https://pay.shop.example:8443 https://shop.example")
    ok = client.post(f"/sandbox/checkout/{paid.id}/pay", headers=FORM, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "https://shop.example/ok?a=1&b=2"
    no = client.post(f"/sandbox/checkout/{failed.id}/fail", headers=FORM, follow_redirects=False)
    assert no.status_code == 303 and no.headers["location"] == "https://pay.shop.example:8443/no"
    assert payment_status(api, acme, paid) == "completed" and payment_status(api, acme, failed) == "failed"
    # The result pages stay reachable, with the way back to the shop.
    assert (
        'href="https://shop.example/ok?a=1&amp;b=2"' in client.get(f"/sandbox/checkout/{paid.id}/result").text
    )
    assert (
        'href="https://pay.shop.example:8443/no"' in client.get(f"/sandbox/checkout/{failed.id}/result").text
    )


def test_the_result_page_exists_only_for_a_finished_sandbox_session(api, client, acme):
    pending = open_session(api, acme)
    for session_id in (pending.id, f"cs_{uuid.uuid4().hex}", "<b>"):
        answer = client.get(f"/sandbox/checkout/{session_id}/result")
        assert answer.status_code == 404 and "<b>" not in answer.text, session_id
        assert_hardened(answer)
    assert payment_status(api, acme, pending) == "pending"


@pytest.mark.parametrize("action", ["pay", "fail"])
def test_the_posts_take_only_a_form_body(api, client, acme, action):
    session = open_session(api, acme)
    answer = client.post(f"/sandbox/checkout/{session.id}/{action}", json={})
    assert answer.status_code == 415
    assert_hardened(answer)
    assert payment_status(api, acme, session) == "pending"


def test_unknown_malformed_and_finished_sessions_are_a_plain_404(api, client, acme):
    for session_id in (f"cs_{uuid.uuid4().hex}", "cs_nothex", "<b>"):
        for answer in (
            client.get(f"/sandbox/checkout/{session_id}"),
            client.post(f"/sandbox/checkout/{session_id}/pay", headers=FORM),
        ):
            assert answer.status_code == 404 and "<b>" not in answer.text, session_id
    cancelled = open_session(api, acme)
    api.core.checkout.cancel_session(acme.principal(), cancelled.id)
    assert client.get(f"/sandbox/checkout/{cancelled.id}").status_code == 404
    assert client.post(f"/sandbox/checkout/{cancelled.id}/pay", headers=FORM).status_code == 409
    assert session_status(api, acme, cancelled.id) == "cancelled"
    assert payment_status(api, acme, cancelled) == "cancelled"


@pytest.mark.parametrize(
    "change",
    [{"settings": HttpSettings(sandbox_enabled=False)}, {"sandbox": None}],
    ids=["disabled", "absent"],
)
def test_without_the_sandbox_the_checkout_page_is_404(api, acme, change):
    session = open_session(api, acme)
    with TestClient(pages_app(attrs.evolve(api.runtime, **change))) as other:
        assert other.get(f"/sandbox/checkout/{session.id}").status_code == 404
        assert other.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM).status_code == 404
    assert payment_status(api, acme, session) == "pending"


# --- escaping, amounts, the favicon --------------------------------------------------------------


def test_every_value_is_escaped_on_every_page(api, client):
    tenant_id = f"ten_{uuid.uuid4().hex[:12]}"
    api.core.tenants.create_tenant(tenant_id, '<script>alert("name")</script> & "Co"', "KES", livemode=False)
    evil = TenantHandle(api, tenant_id, "KES")
    session = open_session(api, evil, reference='"><script>alert("ref")</script>')
    link = api.core.links.create_link(
        evil.principal(), amount=Money.parse("5.00", "KES"), reference='ref"<script>x</script>',
        description='<script>alert("desc")</script>"',
    )  # fmt: skip
    checkout = client.get(f"/sandbox/checkout/{session.id}")
    client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM, follow_redirects=False)
    result = client.get(f"/sandbox/checkout/{session.id}/result")
    link_page = client.get(f"/pay/{link.slug}")
    name = "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; &amp; &quot;Co&quot;"
    for page in (checkout, result, link_page):
        assert page.status_code == 200 and "<script" not in page.text.lower()
        assert name in page.text
    assert "&quot;&gt;&lt;script&gt;alert(&quot;ref&quot;)&lt;/script&gt;" in checkout.text + result.text
    assert "<h1>&lt;script&gt;alert(&quot;desc&quot;)&lt;/script&gt;&quot;</h1>" in link_page.text
    assert "ref&quot;&lt;script&gt;x&lt;/script&gt;" in link_page.text


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Money(123456789, "KES"), "1,234,567.89 KES"),
        (Money(2**53 - 1, "USD"), "90,071,992,547,409.91 USD"),  # beyond a float's cents
        (Money(1234567, "JPY"), "1,234,567 JPY"),
        (Money(1234567, "KWD"), "1,234.567 KWD"),
        (Money(5, "USD"), "0.05 USD"),
        (Money(-150000, "USD"), "-1,500.00 USD"),
    ],
)
def test_amounts_are_written_exactly_from_minor_units(amount, shown):
    assert format_amount(amount) == shown


def test_the_favicon_is_an_empty_answer(client):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 204 and answer.content == b""


# --- a payment link's page -----------------------------------------------------------------------


def test_a_link_page_starts_a_checkout_that_pay_completes(api, client, acme):
    link = api.core.links.create_link(
        acme.principal(), amount=Money.parse("12.50", "KES"), reference="tee-shirt",
        description="<img src=x onerror=alert(1)>",
    )  # fmt: skip
    page = client.get(f"/pay/{link.slug}")
    assert page.status_code == 200 and "TEST MODE" in page.text
    assert "<h1>&lt;img src=x onerror=alert(1)&gt;</h1>" in page.text and "<img" not in page.text
    assert '<dt>Amount</dt><dd class="amount">12.50 KES</dd>' in page.text
    assert '<dt>Reference</dt><dd class="reference">tee-shirt</dd>' in page.text
    assert f"Payment to Tenant {acme.id}" in page.text
    assert_hardened(page)
    started = client.post(f"/pay/{link.slug}", headers=FORM, follow_redirects=False)
    assert started.status_code == 303
    assert_hardened(started)
    location = started.headers["location"]
    assert location.startswith("/sandbox/checkout/cs_")
    session_id = location.rsplit("/", 1)[1]
    assert "12.50 KES" in client.get(location).text
    paid = client.post(f"{location}/pay", headers=FORM)  # followed to the result page
    assert paid.status_code == 200 and "Payment completed" in paid.text
    session = api.core.checkout.get_session(acme.principal(), session_id).session
    assert session.link_slug == link.slug and session.status.value == "completed"
    assert payment_status(api, acme, session) == "completed"


def test_a_link_without_a_description_is_headed_by_its_merchant(api, client, acme):
    link = api.core.links.create_link(acme.principal(), amount=Money.parse("7.00", "KES"), reference="inv-77")
    page = client.get(f"/pay/{link.slug}")
    assert page.status_code == 200
    assert f"<h1>Payment to Tenant {acme.id}</h1>" in page.text and "<h1>inv-77" not in page.text
    assert '<dd class="reference">inv-77</dd>' in page.text


def test_a_live_links_form_may_lead_to_its_providers_https_page(api, client):
    live = api.tenant(currency="KES")
    principal = Principal.user(live.id, "alice", live.principal().scopes, api.clock.now(), livemode=True)
    link = api.core.links.create_link(principal, amount=Money.parse("3.00", "KES"), reference="live-mug")
    page = client.get(f"/pay/{link.slug}")
    assert page.status_code == 200 and "TEST MODE" not in page.text
    assert_hardened(page, form_action="'self' https:")


def test_link_pages_refuse_unknown_disabled_links_and_non_form_posts(api, client, acme):
    link = api.core.links.create_link(acme.principal(), amount=Money.parse("5.00", "KES"), reference="mug")
    assert client.post(f"/pay/{link.slug}", json={}).status_code == 415
    assert api.core.links.get_public_link(link.slug).link.reserved == 0
    assert client.get("/pay/no-such-link-here").status_code == 404
    assert client.post("/pay/no-such-link-here", headers=FORM).status_code == 404
    api.core.links.disable_link(acme.principal(), link.slug)
    page = client.get(f"/pay/{link.slug}")
    assert page.status_code == 200 and "cannot be paid" in page.text and "<form" not in page.text
    assert client.post(f"/pay/{link.slug}", headers=FORM, follow_redirects=False).status_code == 409
    assert api.core.links.get_public_link(link.slug).link.reserved == 0


# --- per-IP limits: the API's own buckets --------------------------------------------------------


def test_link_checkouts_count_in_the_apis_per_address_limit(api, client, acme):
    limit = SEED_LIMITS["links.checkout"].hits
    link = api.core.links.create_link(acme.principal(), amount=Money.parse("9.00", "KES"), reference="tee")
    wait_for_a_fresh_window(api)
    assert api.post(f"/links/{link.slug}/checkout", json={}).status_code == 201

    def start(**headers):
        return client.post(f"/pay/{link.slug}", headers={**FORM, **headers}, follow_redirects=False)

    started = [start() for _ in range(limit - 1)]
    assert [(answer.status_code, answer.headers["x-ratelimit-remaining"]) for answer in started] == [
        (303, str(left)) for left in range(limit - 2, -1, -1)
    ]
    assert_limited_page(start(), limit)
    refused = api.post(f"/links/{link.slug}/checkout", json={})
    assert refused.status_code == 429 and error_code(refused) == "RATE_LIMIT_EXCEEDED"
    assert payments_of(api, acme) == limit  # the refused ones started nothing
    assert start(**{"X-Forwarded-For": "203.0.113.77"}).status_code == 303  # another address


def test_link_page_views_count_in_the_apis_per_address_limit(api, client, acme):
    limit = SEED_LIMITS["links.view"].hits
    link = api.core.links.create_link(acme.principal(), amount=Money.parse("9.00", "KES"), reference="cap")
    wait_for_a_fresh_window(api)
    assert api.get(f"/links/{link.slug}").status_code == 200
    views = [client.get(f"/pay/{link.slug}") for _ in range(limit - 1)]
    assert [answer.status_code for answer in views] == [200] * (limit - 1)
    assert views[-1].headers["x-ratelimit-remaining"] == "0"
    assert_limited_page(client.get(f"/pay/{link.slug}"), limit)
    assert api.get(f"/links/{link.slug}").status_code == 429


def test_pay_and_fail_are_limited_per_address(api, client, acme):
    limit = SEED_LIMITS["pages.submit"].hits
    session = open_session(api, acme)
    wait_for_a_fresh_window(api)
    misses = [
        client.post(f"/sandbox/checkout/cs_{uuid.uuid4().hex}/{action}", headers=FORM)
        for action in itertools.islice(itertools.cycle(["pay", "fail"]), limit)
    ]
    assert [answer.status_code for answer in misses] == [404] * limit
    assert misses[-1].headers["x-ratelimit-remaining"] == "0"
    assert_limited_page(client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM), limit)
    assert_limited_page(client.post(f"/sandbox/checkout/{session.id}/fail", headers=FORM), limit)
    assert payment_status(api, acme, session) == "pending"
