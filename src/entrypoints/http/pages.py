"""The hosted pages, outside `/api/v1`: the sandbox's checkout page and a payment link's public
page, as plain HTML forms (no JavaScript).

Invariants
- Public, no credential: the checkout page's capability is the session id (random,
  unguessable), a link's is its slug. A session that is not a pending, test-mode sandbox session
  on a server offering the sandbox answers the very 404 page an unknown id does.
- Every value written into HTML goes through `html.escape`.
- The POSTs accept only `application/x-www-form-urlencoded` (what an HTML form sends; 415
  otherwise). Pay and Fail move the session through the sandbox's signed webhook, the path a real
  provider's event takes, and only while it is pending: the core applies a session's outcome once,
  so a second Pay (or a Pay racing another) pays nothing and answers 409.
- Redirects are 303 and go only to the session's own http(s) success or cancel URL, or to the
  hosted page of a session a link just started.
- Domain errors become small HTML pages here: the API's JSON error handler is not for browsers.
"""

from __future__ import annotations

import html
from typing import Any, Final

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from entrypoints.http.dependencies import Runtime
from entrypoints.http.runtime import HttpRuntime
from payments_core.errors import DomainError, InvalidOperation, NotFound, ProviderUnavailable, ValidationError
from payments_core.model.payments import CheckoutSession
from payments_core.states import CheckoutSessionStatus

SANDBOX: Final = "sandbox"
CHECKOUT_PATH: Final = "/sandbox/checkout"
FORM: Final = "application/x-www-form-urlencoded"


# --- rendering ------------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    """A whole document; `title` is escaped here, `body` must already be."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    )
    return Response(document, status_code=status, media_type=MediaType.HTML)


def _message(title: str, text: str, status: int) -> Response[str]:
    return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>", status)


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


def _form(action: str, label: str) -> str:
    return (
        f'<form method="post" action="{html.escape(action)}" enctype="{FORM}">'
        f'<button type="submit">{html.escape(label)}</button></form>'
    )


def _unsupported_body() -> Response[str]:
    return _message("Unsupported form", f"Send this form as {FORM}.", 415)


def _is_form(request: Request[Any, Any, Any]) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == FORM


# --- the sandbox checkout page --------------------------------------------------------------------


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


def _checkout_body(session: CheckoutSession) -> str:
    base = f"{CHECKOUT_PATH}/{session.id}"
    return (
        "<h1>Sandbox checkout</h1>"
        f'<p class="amount">{html.escape(str(session.amount))}</p>'
        f'<p class="reference">{html.escape(session.reference)}</p>'
        f"{_form(base + '/pay', 'Pay')}{_form(base + '/fail', 'Fail')}"
        "<p>Test mode: no real money moves.</p>"
    )


def _web_url(url: str | None) -> str | None:
    return url if url is not None and url.lower().startswith(("https://", "http://")) else None


def _drive(runtime: HttpRuntime, session_id: str, succeed: bool) -> Response[Any]:
    session = _sandbox_session(runtime, session_id)
    if session is None or runtime.sandbox is None:
        return _not_found()
    if session.status is not CheckoutSessionStatus.PENDING:
        return _message("Already finished", f"This checkout is {session.status.value}.", 409)
    try:
        if succeed:
            runtime.sandbox.complete_checkout(session.provider_reference)
        else:
            runtime.sandbox.fail_checkout(session.provider_reference)
    except DomainError as error:
        return _failure(error)
    target = _web_url(session.success_url if succeed else session.cancel_url)
    if target is not None:
        return Redirect(target, status_code=303)
    if succeed:
        return _message("Payment completed", f"You paid {session.amount}.", 200)
    return _message("Payment failed", "The payment was declined; nothing was charged.", 200)


class SandboxCheckoutPage(Controller):
    """Controllers, not bare handlers: Litestar 2.25 breaks a bare sync GET beside a bare sync POST
    on one path (the GET answers an unawaited coroutine)."""

    path = CHECKOUT_PATH
    include_in_schema = False

    @get("/{session_id:str}", media_type=MediaType.HTML, sync_to_thread=True)
    def checkout_page(self, runtime: Runtime, session_id: FromPath[str]) -> Response[str]:
        """The sandbox's hosted checkout page of a pending session."""
        session = _sandbox_session(runtime, session_id)
        if session is None or session.status is not CheckoutSessionStatus.PENDING:
            return _not_found()
        return _page("Checkout", _checkout_body(session))

    @post("/{session_id:str}/pay", media_type=MediaType.HTML, sync_to_thread=True)
    def pay(
        self, request: Request[Any, Any, Any], runtime: Runtime, session_id: FromPath[str]
    ) -> Response[Any]:
        """The customer pays: the sandbox sends `payment.succeeded`."""
        if not _is_form(request):
            return _unsupported_body()
        return _drive(runtime, session_id, succeed=True)

    @post("/{session_id:str}/fail", media_type=MediaType.HTML, sync_to_thread=True)
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

    @get("/{slug:str}", media_type=MediaType.HTML, sync_to_thread=True)
    def link_page(self, runtime: Runtime, slug: FromPath[str]) -> Response[str]:
        """A link's public page: what it charges, and a Pay button while it can be paid."""
        try:
            view = runtime.core.links.get_public_link(slug)
        except DomainError as error:
            return _failure(error)
        link = view.link
        description = f"<p>{html.escape(link.description)}</p>" if link.description else ""
        action = _form(f"/pay/{link.slug}", "Pay") if view.can_pay else "<p>This link cannot be paid now.</p>"
        body = (
            f"<h1>{html.escape(link.reference)}</h1>"
            f'<p class="amount">{html.escape(str(link.amount))}</p>{description}{action}'
        )
        return _page("Pay", body)

    @post("/{slug:str}", media_type=MediaType.HTML, sync_to_thread=True)
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
            return Redirect(f"{CHECKOUT_PATH}/{session.id}", status_code=303)
        return Redirect(session.redirect_url, status_code=303)


PAGES: list[Any] = [SandboxCheckoutPage, PaymentLinkPage]
