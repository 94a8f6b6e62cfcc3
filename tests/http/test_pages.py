"""The hosted pages outside `/api/v1`: the sandbox checkout page (Pay and Fail through the provider
event path, once) and a payment link's public page, as plain HTML with every value escaped."""

import uuid

import attrs
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from entrypoints.http.pages import PAGES
from entrypoints.http.settings import HttpSettings
from payments_core.money import Money

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def pages_app(runtime) -> Litestar:
    return Litestar(
        route_handlers=PAGES, dependencies={"runtime": Provide(lambda: runtime, sync_to_thread=False)}
    )


@pytest.fixture(scope="module")
def client(api):
    """The real app: the pages are mounted beside `/api/v1`."""
    return api.client


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


def test_the_checkout_page_shows_the_amount_and_the_reference_escaped(api, client, acme):
    session = open_session(api, acme, reference="<script>alert(1)</script>")
    page = client.get(f"/sandbox/checkout/{session.id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "1234.50 KES" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
    assert f'action="/sandbox/checkout/{session.id}/pay"' in page.text
    assert f'action="/sandbox/checkout/{session.id}/fail"' in page.text


def test_pay_completes_the_payment_and_credits_the_wallet_once(api, client, acme):
    session = open_session(api, acme)
    before = available(api, acme)
    paid = client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM, content=b"")
    assert paid.status_code == 200 and "Payment completed" in paid.text, paid.text
    assert payment_status(api, acme, session) == "completed"
    credited = available(api, acme)
    assert credited > before
    again = client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM, content=b"")
    assert again.status_code == 409
    assert available(api, acme) == credited and payment_status(api, acme, session) == "completed"
    assert client.get(f"/sandbox/checkout/{session.id}").status_code == 404  # no longer pending


def test_fail_fails_the_payment_and_a_later_pay_changes_nothing(api, client, acme):
    session = open_session(api, acme)
    before = available(api, acme)
    failed = client.post(f"/sandbox/checkout/{session.id}/fail", headers=FORM, content=b"")
    assert failed.status_code == 200 and "Payment failed" in failed.text
    assert payment_status(api, acme, session) == "failed"
    assert session_status(api, acme, session.id) == "cancelled"
    assert client.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM, content=b"").status_code == 409
    assert payment_status(api, acme, session) == "failed" and available(api, acme) == before


def test_pay_and_fail_redirect_to_the_sessions_own_urls(api, client, acme):
    urls = {"success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/cancel"}
    paid, failed = open_session(api, acme, **urls), open_session(api, acme, **urls)
    ok = client.post(f"/sandbox/checkout/{paid.id}/pay", headers=FORM, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "https://shop.example/ok"
    no = client.post(f"/sandbox/checkout/{failed.id}/fail", headers=FORM, follow_redirects=False)
    assert no.status_code == 303 and no.headers["location"] == "https://shop.example/cancel"
    assert payment_status(api, acme, paid) == "completed" and payment_status(api, acme, failed) == "failed"


@pytest.mark.parametrize("action", ["pay", "fail"])
def test_the_posts_take_only_a_form_body(api, client, acme, action):
    session = open_session(api, acme)
    answer = client.post(f"/sandbox/checkout/{session.id}/{action}", json={})
    assert answer.status_code == 415
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
def test_without_the_sandbox_the_checkout_page_is_404(api, client, acme, change):
    session = open_session(api, acme)
    with TestClient(pages_app(attrs.evolve(api.runtime, **change))) as other:
        assert other.get(f"/sandbox/checkout/{session.id}").status_code == 404
        assert other.post(f"/sandbox/checkout/{session.id}/pay", headers=FORM).status_code == 404
    assert payment_status(api, acme, session) == "pending"


def test_a_link_page_starts_a_checkout_that_pay_completes(api, client, acme):
    link = api.core.links.create_link(
        acme.principal(), amount=Money.parse("12.50", "KES"), reference="tee-shirt",
        description="<img src=x onerror=alert(1)>",
    )  # fmt: skip
    page = client.get(f"/pay/{link.slug}")
    assert page.status_code == 200 and "12.50 KES" in page.text and "tee-shirt" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and "<img" not in page.text
    started = client.post(f"/pay/{link.slug}", headers=FORM, follow_redirects=False)
    assert started.status_code == 303
    location = started.headers["location"]
    assert location.startswith("/sandbox/checkout/cs_")
    session_id = location.rsplit("/", 1)[1]
    assert "12.50 KES" in client.get(location).text
    assert client.post(f"{location}/pay", headers=FORM).status_code == 200
    session = api.core.checkout.get_session(acme.principal(), session_id).session
    assert session.link_slug == link.slug and session.status.value == "completed"
    assert payment_status(api, acme, session) == "completed"


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
