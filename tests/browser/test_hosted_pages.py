"""The hosted pages in a real headless Chromium: what a customer clicks, and what it does to money.

Invariants checked
- Pay on the sandbox checkout page shows the success page, completes the payment and credits the
  tenant's wallet with the payment's net amount (amount less its fee), once.
- Fail shows the failure page, fails the payment, and leaves the wallet as it was.
- A link's public page starts a checkout and lands the browser on that checkout's page.
- Pay and Fail land on a result page (Post/Redirect/Get): reloading it shows the result again
  without posting, and Pay clicked on a second copy of the page answers "Already finished"; the
  wallet is still credited once.
- With a success (cancel) URL, Pay (Fail) sends the browser on to the merchant's page on another
  origin: the pages' Content-Security-Policy lets the form's redirect through.
- At a phone's width the page fits the screen and its buttons are tap targets at least 44 px tall.
- Over a per-IP limit the browser is shown a "Too many requests" page.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
from selenium.common.exceptions import JavascriptException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from adapters.memory.edge import InMemoryRateLimiter
from entrypoints.http import create_app
from entrypoints.http.settings import SEED_LIMITS, HttpSettings, Limit, Per
from payments_core.money import Money
from tests.browser.conftest import serving

NAVIGATION_SECONDS = 10
MIN_TAP_TARGET_PX = 44
PHONE = (360, 740)  # a common small phone's CSS viewport


def page_text(browser: WebDriver) -> str:
    return str(browser.find_element(By.TAG_NAME, "body").text)


def heading(browser: WebDriver) -> str:
    """The page's first heading as shown, read in one script: no element handle is kept between
    finding the heading and reading it, so a navigation in between cannot leave it stale."""
    return str(browser.execute_script("const h = document.querySelector('h1'); return h ? h.innerText : '';"))


def wait_for_heading(browser: WebDriver, expected: str) -> None:
    """Wait until the page after a navigation shows `expected` as its heading (a script run while
    the old page is torn down may fail: it is run again)."""
    waiting = WebDriverWait(browser, NAVIGATION_SECONDS, ignored_exceptions=(JavascriptException,))
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
    assert "1,234.50 KES" in shown and "order-browser-1" in shown and "TEST MODE" in shown, shown
    assert payment_of(api, acme, session).status.value == "pending"

    click(browser, "Pay")
    wait_for_heading(browser, "Payment completed")
    assert browser.current_url == f"{site}/sandbox/checkout/{session.id}/result"
    shown = page_text(browser)
    assert "You paid 1,234.50 KES." in shown and session.payment_id in shown, shown
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
    assert heading(browser) == "A blue tee-shirt, size M"
    shown = page_text(browser)
    assert "12.50 KES" in shown and "tee-shirt" in shown and f"Payment to Tenant {acme.id}" in shown, shown

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

    result_url = browser.current_url
    browser.refresh()  # the paid page is a GET: a reload shows it again and posts nothing
    wait_for_heading(browser, "Payment completed")
    assert browser.current_url == result_url == f"{site}/sandbox/checkout/{session.id}/result"
    assert available(api, acme) == credited

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


def test_fail_sends_the_browser_to_the_merchants_cancel_url(api, site, browser, shop):
    acme = api.tenant(currency="KES")
    session = open_session(
        api, acme, "42.00", "order-cancel",
        success_url=f"{shop.base_url}/thanks", cancel_url=f"{shop.base_url}/cancelled?order=43",
    )  # fmt: skip

    browser.get(f"{site}/sandbox/checkout/{session.id}")
    click(browser, "Fail")
    wait_for_heading(browser, "Back at the shop")
    assert browser.current_url == f"{shop.base_url}/cancelled?order=43"
    assert payment_of(api, acme, session).status.value == "failed"


def test_at_a_phones_width_the_buttons_are_tap_targets_that_fit(api, site, browser):
    acme = api.tenant(currency="KES")
    session = open_session(api, acme, "1234567.89", "order-phone")
    browser.set_window_size(*PHONE)

    browser.get(f"{site}/sandbox/checkout/{session.id}")
    viewport_width = browser.execute_script("return document.documentElement.clientWidth")
    assert viewport_width <= PHONE[0]
    assert browser.execute_script("return document.documentElement.scrollWidth") <= viewport_width
    buttons = {
        label: browser.find_element(By.XPATH, f"//button[normalize-space()='{label}']")
        for label in ("Pay", "Fail")
    }
    for label, button in buttons.items():
        assert button.size["height"] >= MIN_TAP_TARGET_PX, (label, button.size)
        assert button.location["x"] >= 0 and button.location["x"] + button.size["width"] <= viewport_width
    # Pay is the primary action, a filled button; Fail a secondary, outlined one.
    colours = {label: button.value_of_css_property("background-color") for label, button in buttons.items()}
    assert colours["Pay"] != colours["Fail"], colours
    body_font = browser.find_element(By.TAG_NAME, "body").value_of_css_property("font-size")
    assert float(body_font.removesuffix("px")) >= 16
    assert "1,234,567.89 KES" in page_text(browser)


def test_over_the_per_address_limit_the_browser_is_told_to_retry_later(api, browser):
    acme = api.tenant(currency="KES")
    link = api.core.links.create_link(acme.principal(), amount=Money.parse("3.00", "KES"), reference="cap")
    # Its own counter and a one-view limit, a day long: two loads a moment apart share one window.
    limits = {**SEED_LIMITS, "links.view": Limit(Per.IP, 1, timedelta(days=1))}
    runtime = attrs.evolve(api.runtime, limiter=InMemoryRateLimiter(), settings=HttpSettings(limits=limits))
    with serving(create_app(runtime)) as limited_site:
        browser.get(f"{limited_site}/pay/{link.slug}")
        assert heading(browser) == "Payment to Tenant " + acme.id
        browser.get(f"{limited_site}/pay/{link.slug}")
        assert heading(browser) == "Too many requests"
        assert "Please retry in" in page_text(browser)
        assert not browser.find_elements(By.TAG_NAME, "form")
