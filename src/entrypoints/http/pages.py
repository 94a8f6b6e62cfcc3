"""The hosted pages, outside `/api/v1`: the sandbox's checkout page, its result page and a payment
link's public page, as plain HTML forms (no JavaScript).

Invariants
- Public, no credential: the checkout page's capability is the session id (random,
  unguessable), a link's is its slug. A session that is not a test-mode sandbox session on a
  server offering the sandbox answers the very 404 page an unknown id does; so does the checkout
  page of a finished session, and the result page of a pending one.
- Limited per client IP by the API's own request pipeline (`app.py` mounts the pages behind it), in
  the API's buckets: `GET /pay/{slug}` counts as `links.view`, `POST /pay/{slug}` as
  `links.checkout` (the API's `GET /links/{slug}` and `POST /links/{slug}/checkout` count in the
  same ones), Pay and Fail as `pages.submit`, the other pages as `public`. Over a limit the answer
  is a 429 page with `Retry-After` and the `X-RateLimit-*` headers.
- Every answer carries `page_templates.security_headers` (no-store, no framing, a strict CSP) and
  every value in its HTML is escaped (`page_templates`).
- The POSTs accept only `application/x-www-form-urlencoded` (what an HTML form sends; 415
  otherwise). Pay and Fail move the session through the sandbox's signed webhook, the path a real
  provider's event takes, and only while it is pending: the core applies a session's outcome once,
  so a second Pay (or a Pay racing another) pays nothing and answers 409.
- Post/Redirect/Get: Pay and Fail answer 303, to the session's own success or cancel URL when it
  has one (`page_templates.shop_url`), else to the session's result page; a reload never posts
  again. `POST /pay/{slug}` answers 303 to the hosted page of the session it started.
- Domain errors become small HTML pages here: the API's JSON error handler is not for browsers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from entrypoints.http import page_templates as tpl
from entrypoints.http.dependencies import Runtime
from entrypoints.http.errors import STATUS_OF_CODE, ApiError
from entrypoints.http.runtime import HttpRuntime
from payments_core.errors import DomainError, InvalidOperation, NotFound, ProviderUnavailable, ValidationError
from payments_core.model.payments import CheckoutSession
from payments_core.states import CheckoutSessionStatus

SANDBOX: Final = "sandbox"
CHECKOUT_PATH: Final = "/sandbox/checkout"
# The pipeline's options per page (see `pipeline.py`): public, limited per client IP.
PAGE_VIEW: Final = {"public": True}
LINK_VIEW: Final = {"public": True, "rate_limit": "links.view"}
LINK_CHECKOUT: Final = {"public": True, "rate_limit": "links.checkout"}
SUBMIT: Final = {"public": True, "rate_limit": "pages.submit"}
UNLIMITED: Final = {"public": True, "rate_limit": "none"}


# --- answers --------------------------------------------------------------------------------------


def _page(
    title: str,
    body: str,
    status: int = 200,
    test_mode: bool = False,
    form_sources: Iterable[str] = (),
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """A whole document; `body` must come from `page_templates`."""
    all_headers = {**(headers or {}), **tpl.security_headers(form_sources)}
    document = tpl.document(title, body, test_mode)
    return Response(document, status_code=status, media_type=MediaType.HTML, headers=all_headers)


def _message(title: str, text: str, status: int, extra: str = "", **options: Any) -> Response[str]:
    return _page(title, tpl.heading(title) + tpl.paragraph(text) + extra, status, **options)


def _redirect(target: str) -> Redirect:
    return Redirect(target, status_code=303, headers=tpl.security_headers())


def _not_found() -> Response[str]:
    return _message("Not found", "There is nothing to pay here.", 404)


def _failure(error: DomainError) -> Response[str]:
    """A domain error as a browser page; its message only, never its details."""
    if isinstance(error, NotFound | ValidationError):
        return _not_found()
    if isinstance(error, ProviderUnavailable):
        return _message("Try again later", "The payment provider is unavailable.", 503)
    if isinstance(error, InvalidOperation):
        return _message("Cannot pay", "This payment cannot be made now.", 409)
    return _message("Cannot pay", "This payment cannot be made.", 400)


def _refused(request: Request[Any, Any, Any], error: Exception) -> Response[str]:
    """The pipeline's refusal (an `ApiError`) as a page; over a limit, a 429 saying when to retry."""
    refusal = error if isinstance(error, ApiError) else ApiError("INTERNAL_ERROR", "unexpected")
    headers = {**request.scope.get("state", {}).get("rate_limit_headers", {}), **refusal.headers}
    status = STATUS_OF_CODE.get(refusal.code, 400)
    if refusal.code == "RATE_LIMIT_EXCEEDED":
        seconds = refusal.details.get("retryAfter", 60)
        text = f"Too many attempts from your network. Please retry in {seconds} seconds."
        return _message("Too many requests", text, status, headers=headers)
    return _message("Cannot continue", "This request cannot be served now.", status, headers=headers)


def _unsupported_body() -> Response[str]:
    return _message("Unsupported form", f"Send this form as {tpl.FORM}.", 415)


def _is_form(request: Request[Any, Any, Any]) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == tpl.FORM


def _merchant(runtime: HttpRuntime, tenant_id: str) -> str | None:
    """The tenant's name as its customers see it; None when the core does not know it."""
    try:
        name: str = runtime.core.tenants.get_tenant(tenant_id).name
    except DomainError:
        return None
    return name or None


# --- the sandbox checkout page and its result -----------------------------------------------------


def _sandbox_session(runtime: HttpRuntime, session_id: str) -> CheckoutSession | None:
    """The test-mode sandbox session the page may show, pending or not; None for anything else."""
    if runtime.sandbox is None or not runtime.settings.sandbox_enabled:
        return None
    try:
        session: CheckoutSession = runtime.core.checkout.get_hosted_session(session_id)
    except (NotFound, ValidationError):
        return None
    if session.livemode or session.provider != SANDBOX:
        return None
    return session


def _session_facts(session: CheckoutSession) -> list[tuple[str, str, str]]:
    return [
        ("Amount", tpl.format_amount(session.amount), "amount"),
        ("Reference", session.reference, "reference"),
    ]


def _checkout_page(runtime: HttpRuntime, session: CheckoutSession) -> Response[str]:
    base = f"{CHECKOUT_PATH}/{session.id}"
    merchant = _merchant(runtime, session.tenant_id)
    body = (
        tpl.heading("Sandbox checkout")
        + (tpl.paragraph(f"Payment to {merchant}", "merchant") if merchant else "")
        + tpl.facts(_session_facts(session))
        + tpl.button_form(f"{base}/pay", "Pay", primary=True)
        + tpl.button_form(f"{base}/fail", "Fail", primary=False)
    )
    # Pay and Fail may redirect to the shop: the policy must let the form's navigation go there.
    origins = {tpl.origin_of(url) for url in (session.success_url, session.cancel_url)}
    sources = sorted(origin for origin in origins if origin is not None)
    return _page("Checkout", body, test_mode=True, form_sources=sources)


def _result_page(runtime: HttpRuntime, session: CheckoutSession) -> Response[str]:
    merchant = _merchant(runtime, session.tenant_id)
    amount = tpl.format_amount(session.amount)
    if session.status is CheckoutSessionStatus.COMPLETED:
        title, outcome, text = "Payment completed", "completed", f"You paid {amount}."
        back = tpl.shop_url(session.success_url)
    elif session.status is CheckoutSessionStatus.EXPIRED:
        title, outcome, text = "Checkout expired", "expired", "Nothing was charged."
        back = tpl.shop_url(session.cancel_url)
    else:
        title, outcome = "Payment failed", "failed"
        text = "The payment was declined or cancelled; nothing was charged."
        back = tpl.shop_url(session.cancel_url)
    rows = [
        ("Status", outcome, "status"),
        *_session_facts(session),
        ("Payment", session.payment_id, "payment"),
    ]
    rows += [("Merchant", merchant, "merchant")] if merchant else []
    link = tpl.button_link(back, "Back to the shop") if back else ""
    return _page(title, tpl.heading(title) + tpl.paragraph(text) + tpl.facts(rows) + link, test_mode=True)


def _drive(runtime: HttpRuntime, session_id: str, succeed: bool) -> Response[Any]:
    session = _sandbox_session(runtime, session_id)
    if session is None or runtime.sandbox is None:
        return _not_found()
    if session.status is not CheckoutSessionStatus.PENDING:
        result = tpl.button_link(f"{CHECKOUT_PATH}/{session.id}/result", "See the result")
        return _message("Already finished", f"This checkout is {session.status.value}.", 409, result)
    try:
        if succeed:
            runtime.sandbox.complete_checkout(session.provider_reference)
        else:
            runtime.sandbox.fail_checkout(session.provider_reference)
    except DomainError as error:
        return _failure(error)
    target = tpl.shop_url(session.success_url if succeed else session.cancel_url)
    return _redirect(target if target is not None else f"{CHECKOUT_PATH}/{session.id}/result")


class SandboxCheckoutPage(Controller):
    """Controllers, not bare handlers: Litestar 2.25 breaks a bare sync GET beside a bare sync POST
    on one path (the GET answers an unawaited coroutine)."""

    path = CHECKOUT_PATH
    include_in_schema = False
    exception_handlers = {ApiError: _refused}

    @get("/{session_id:str}", media_type=MediaType.HTML, sync_to_thread=True, opt=PAGE_VIEW)
    def checkout_page(self, runtime: Runtime, session_id: FromPath[str]) -> Response[str]:
        """The sandbox's hosted checkout page of a pending session."""
        session = _sandbox_session(runtime, session_id)
        if session is None or session.status is not CheckoutSessionStatus.PENDING:
            return _not_found()
        return _checkout_page(runtime, session)

    @get("/{session_id:str}/result", media_type=MediaType.HTML, sync_to_thread=True, opt=PAGE_VIEW)
    def result_page(self, runtime: Runtime, session_id: FromPath[str]) -> Response[str]:
        """Where Pay and Fail land (Post/Redirect/Get): the outcome of a finished session."""
        session = _sandbox_session(runtime, session_id)
        if session is None or session.status is CheckoutSessionStatus.PENDING:
            return _not_found()
        return _result_page(runtime, session)

    @post("/{session_id:str}/pay", media_type=MediaType.HTML, sync_to_thread=True, opt=SUBMIT)
    def pay(
        self, request: Request[Any, Any, Any], runtime: Runtime, session_id: FromPath[str]
    ) -> Response[Any]:
        """The customer pays: the sandbox sends `payment.succeeded`."""
        if not _is_form(request):
            return _unsupported_body()
        return _drive(runtime, session_id, succeed=True)

    @post("/{session_id:str}/fail", media_type=MediaType.HTML, sync_to_thread=True, opt=SUBMIT)
    def fail(
        self, request: Request[Any, Any, Any], runtime: Runtime, session_id: FromPath[str]
    ) -> Response[Any]:
        """The payment is declined: the sandbox sends `payment.failed`."""
        if not _is_form(request):
            return _unsupported_body()
        return _drive(runtime, session_id, succeed=False)


# --- a payment link's public page -----------------------------------------------------------------


class PaymentLinkPage(Controller):
    path = "/pay"
    include_in_schema = False
    exception_handlers = {ApiError: _refused}

    @get("/{slug:str}", media_type=MediaType.HTML, sync_to_thread=True, opt=LINK_VIEW)
    def link_page(self, runtime: Runtime, slug: FromPath[str]) -> Response[str]:
        """A link's public page: what it charges, and a Pay button while it can be paid."""
        try:
            view = runtime.core.links.get_public_link(slug)
        except DomainError as error:
            return _failure(error)
        link = view.link
        merchant = _merchant(runtime, link.tenant_id)
        title = link.description or (f"Payment to {merchant}" if merchant else "Payment")
        to_merchant = (
            tpl.paragraph(f"Payment to {merchant}", "merchant") if merchant and link.description else ""
        )
        rows = [
            ("Amount", tpl.format_amount(link.amount), "amount"),
            ("Reference", link.reference, "reference"),
        ]
        pay = (
            tpl.button_form(f"/pay/{link.slug}", "Pay")
            if view.can_pay
            else tpl.paragraph("This link cannot be paid now.")
        )
        body = tpl.heading(title) + to_merchant + tpl.facts(rows) + pay
        # A test-mode link's checkout is this server's sandbox page; a live one's is the provider's
        # own https page, whose origin is known only once the checkout has started.
        sources = ("https:",) if link.livemode else ()
        return _page("Pay", body, test_mode=not link.livemode, form_sources=sources)

    @post("/{slug:str}", media_type=MediaType.HTML, sync_to_thread=True, opt=LINK_CHECKOUT)
    def start_checkout(
        self, request: Request[Any, Any, Any], runtime: Runtime, slug: FromPath[str]
    ) -> Response[Any]:
        """Start a checkout for the link and send the customer to its hosted page."""
        if not _is_form(request):
            return _unsupported_body()
        try:
            session: CheckoutSession = runtime.core.links.start_link_checkout(slug)
        except DomainError as error:
            return _failure(error)
        if session.provider == SANDBOX and not session.livemode:
            return _redirect(f"{CHECKOUT_PATH}/{session.id}")
        target = tpl.shop_url(session.redirect_url)
        if target is None:  # a provider without a page (M-Pesa prompts the phone)
            return _message("Payment started", "Finish paying as your payment provider asks.", 200)
        return _redirect(target)


@get(
    "/favicon.ico", status_code=204, include_in_schema=False, sync_to_thread=False, opt=UNLIMITED,
    response_headers={"Cache-Control": "public, max-age=86400"},
)  # fmt: skip
def favicon() -> None:
    """No icon: an empty answer keeps browsers' automatic requests out of the 404s."""


PAGES: list[Any] = [SandboxCheckoutPage, PaymentLinkPage, favicon]
