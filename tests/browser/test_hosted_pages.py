"""The hosted pages in a real headless Chromium: what a customer clicks, and what it does to money.

Invariants checked
- Pay on the sandbox checkout page shows the success page, completes the payment and credits the
  tenant's wallet with the payment's net amount (amount less its fee), once.
- Fail shows the failure page, fails the payment, and leaves the wallet as it was.
- A link's public page starts a checkout and lands the browser on that checkout's page.
- Reloading the paid page (the browser posts the form again) and Pay clicked on a second copy of
  the page both answer "Already finished": the wallet is still credited once.
- With a success URL, Pay sends the browser on to the merchant's page.
"""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from payments_core.money import Money

NAVIGATION_SECONDS = 10


def page_text(browser: WebDriver) -> str:
    return str(browser.find_element(By.TAG_NAME, "body").text)


def heading(browser: WebDriver) -> str:
    headings = browser.find_elements(By.TAG_NAME, "h1")
    return str(headings[0].text) if headings else ""


def wait_for_heading(browser: WebDriver, expected: str) -> None:
    """Wait until the page after a navigation shows `expected` as its heading (the old page's
    heading may go stale while it is read)."""
    waiting = WebDriverWait(browser, NAVIGATION_SECONDS, ignored_exceptions=(StaleElementReferenceException,))
    waiting.until(
        lambda driver: heading(driver) == expected,
        message=f"expected the page headed {expected!r}",
    )


def click(browser: WebDriver, label: str) -> None:
    browser.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()


def open_session(api, tenant, amount: str, reference: str, **urls: str):
    return api.core.checkout.create_session(
        tenant.principal(), amount=Money.parse(amount, tenant.currency), reference=reference, **urls
    )


def available(api, tenant) -> Money:
    return api.core.wallet.wallet_balance(tenant.principal()).available


def payment_of(api, tenant, session):
    return api.core.payments.get_payment(tenant.principal(), session.payment_id)


def net_of(payment) -> Money:
    """What a completed payment credits the wallet: its amount less its fee."""
    return payment.amount - (payment.fee or Money.zero(payment.amount.currency))


def test_pay_shows_the_success_page_and_credits_the_wallet(api, site, browser):
    acme = api.tenant(currency="KES")
    session = open_session(api, acme, "1234.50", "order-browser-1")
    before = available(api, acme)

    browser.get(f"{site}/sandbox/checkout/{session.id}")
    assert heading(browser) == "Sandbox checkout"
    shown = page_text(browser)
    assert "1234.50 KES" in shown and "order-browser-1" in shown, shown
    assert payment_of(api, acme, session).status.value == "pending"

    click(browser, "Pay")
    wait_for_heading(browser, "Payment completed")
    assert "You paid 1234.50 KES." in page_text(browser)
    payment = payment_of(api, acme, session)
    assert payment.status.value == "completed"
    assert available(api, acme) - before == net_of(payment) and net_of(payment).minor > 0


def test_fail_shows_the_failure_page_and_leaves_the_wallet_unchanged(api, site, browser):
    acme = api.tenant(currency="KES")
    session = open_session(api, acme, "80.00", "order-declined")
    before = available(api, acme)

    browser.get(f"{site}/sandbox/checkout/{session.id}")
    click(browser, "Fail")
    wait_for_heading(browser, "Payment failed")
    assert "nothing was charged" in page_text(browser)
    assert payment_of(api, acme, session).status.value == "failed"
    assert api.core.checkout.get_session(acme.principal(), session.id).session.status.value == "cancelled"
    assert available(api, acme) == before

    browser.get(f"{site}/sandbox/checkout/{session.id}")
    assert heading(browser) == "Not found"  # a finished checkout offers no Pay button any more


def test_the_link_page_starts_a_checkout_that_the_browser_pays(api, site, browser):
    acme = api.tenant(currency="KES")
    link = api.core.links.create_link(
        acme.principal(), amount=Money.parse("12.50", "KES"), reference="tee-shirt",
        description="A blue tee-shirt, size M",
    )  # fmt: skip
    before = available(api, acme)

    browser.get(f"{site}/pay/{link.slug}")
    assert heading(browser) == "tee-shirt"
    shown = page_text(browser)
    assert "12.50 KES" in shown and "A blue tee-shirt, size M" in shown, shown

    click(browser, "Pay")
    wait_for_heading(browser, "Sandbox checkout")
    prefix = f"{site}/sandbox/checkout/cs_"
    assert browser.current_url.startswith(prefix), browser.current_url
    session_id = browser.current_url.removeprefix(f"{site}/sandbox/checkout/")
    session = api.core.checkout.get_session(acme.principal(), session_id).session
    assert session.link_slug == link.slug and session.status.value == "pending"
    assert "12.50 KES" in page_text(browser) and "tee-shirt" in page_text(browser)

    click(browser, "Pay")
    wait_for_heading(browser, "Payment completed")
    payment = payment_of(api, acme, session)
    assert payment.status.value == "completed"
    assert available(api, acme) - before == net_of(payment)


def test_a_reload_or_a_second_pay_click_pays_once(api, site, browser):
    acme = api.tenant(currency="KES")
    session = open_session(api, acme, "500.00", "order-twice")
    before = available(api, acme)
    page = f"{site}/sandbox/checkout/{session.id}"

    browser.get(page)
    first_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(page)  # the same checkout open twice, both with a live Pay button
    second_tab = browser.current_window_handle

    browser.switch_to.window(first_tab)
    click(browser, "Pay")
    wait_for_heading(browser, "Payment completed")
    credited = available(api, acme)
    assert credited - before == net_of(payment_of(api, acme, session))

    browser.refresh()  # a reload of the paid page posts the Pay form again
    wait_for_heading(browser, "Already finished")
    assert "This checkout is completed." in page_text(browser)

    browser.switch_to.window(second_tab)
    click(browser, "Pay")
    wait_for_heading(browser, "Already finished")

    assert available(api, acme) == credited
    assert payment_of(api, acme, session).status.value == "completed"


def test_pay_sends_the_browser_to_the_merchants_success_url(api, site, browser, shop):
    acme = api.tenant(currency="KES")
    session = open_session(
        api, acme, "42.00", "order-redirect",
        success_url=f"{shop.base_url}/thanks?order=42", cancel_url=f"{shop.base_url}/cancelled",
    )  # fmt: skip

    browser.get(f"{site}/sandbox/checkout/{session.id}")
    click(browser, "Pay")
    wait_for_heading(browser, "Back at the shop")
    assert browser.current_url == f"{shop.base_url}/thanks?order=42"
    assert [path for path in shop.visited if path != "/favicon.ico"] == ["/thanks?order=42"]
    assert payment_of(api, acme, session).status.value == "completed"
