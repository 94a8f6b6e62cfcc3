"""Inbound provider notifications on each tenant's own unguessable URL (`url_id`).

    POST     /stripe/{url_id}/webhook     Stripe events, signed with the tenant's endpoint secret
    POST     /paystack/{url_id}/webhook   Paystack events, signed with the tenant's secret key
    POST     /mpesa/{url_id}/callback     M-Pesa STK callbacks (unsigned: confirmed by a query)
    GET|POST /pesapal/{url_id}/ipn        Pesapal IPNs (unsigned: they only name an order)

Invariants
- No route takes a credential: the provider's signature is, and for the unsigned providers the
  secret URL itself; every route is limited per IP (`webhooks.inbound`). The `url_id` is never
  logged nor echoed.
- An unknown `url_id`, or one of another provider: 404, nothing read or written.
- A missing signature: 401 UNAUTHENTICATED; one that does not verify (forged, stale, truncated,
  signed with another secret): 400 INVALID_SIGNATURE. Either way nothing is recorded.
- The tenant's configuration decides the mode: its credentials' own (see provider_config).
- Unsigned notifications are claims. An STK callback is applied as the STK status query confirms
  it: the callback's event when both agree, a failure or expiry the query reports, nothing while
  the push is still processing or when the query says paid but the callback does not (the
  callback that carries the receipt will). An M-Pesa B2C/B2B Result has no synchronous query to
  confirm it: acknowledged, not applied, left to reconciliation. A Pesapal IPN is only a pointer:
  the order's status, fetched from Pesapal with the tenant's credentials, is the event.
- A provider down while confirming: 503 PROVIDER_UNAVAILABLE and nothing recorded, so the
  provider's retry can still apply it. Events apply to the URL's tenant's objects only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, TypeVar

import attrs
from litestar import Controller, Request, get, post
from litestar.params import FromPath, RawBody

from adapters.providers.mpesa import MpesaProvider
from adapters.providers.pesapal import PesapalProvider, parse_ipn
from entrypoints.http.dependencies import Runtime
from entrypoints.http.errors import ApiError
from entrypoints.http.runtime import HttpRuntime
from payments_core.errors import InvalidOperation, NotFound, ProviderUnavailable, Unauthenticated
from payments_core.ports import ProviderEvent, ProviderEventType
from payments_core.services.provider_config import InboundEndpoint
from payments_core.services.provider_events import Confirm, EventOutcome

INVALID_SIGNATURE: Final = "INVALID_SIGNATURE"
MAX_NOTIFICATION_BODY: Final = 256 * 1024  # providers' notifications are a few KiB
INBOUND: Final = {"public": True, "rate_limit": "webhooks.inbound"}
STK_OUTCOMES: Final = frozenset(
    {ProviderEventType.PAYMENT_SUCCEEDED, ProviderEventType.PAYMENT_FAILED, ProviderEventType.PAYMENT_EXPIRED}
)
MPESA_ACCEPTED: Final = {"ResultCode": 0, "ResultDesc": "Accepted"}

log = logging.getLogger("payments.http.inbound")
A = TypeVar("A")


# --- shared by every inbound route ---------------------------------------------------------------


def endpoint_of(runtime: HttpRuntime, provider: str, url_id: str) -> InboundEndpoint:
    endpoint = runtime.core.provider_config.inbound_endpoint(provider, url_id)
    if not isinstance(endpoint, InboundEndpoint):
        raise NotFound("webhook endpoint not found", resource="webhook")
    return endpoint


def require_signature(headers: Mapping[str, str], name: str) -> None:
    """401 before anything is read when the signature header is missing or empty."""
    if not headers.get(name.lower(), "").strip():
        raise Unauthenticated(f"the {name} header is required", header=name)


@contextmanager
def signature_checked() -> Iterator[None]:
    """A signature the adapter refused is the request's fault: 400 with a stable code."""
    try:
        yield
    except Unauthenticated as refused:
        raise ApiError(INVALID_SIGNATURE, refused.message, **refused.details) from None


def adapter(runtime: HttpRuntime, name: str, kind: type[A]) -> A:
    """The wired adapter of `name`, which must be the real one (its status queries are needed)."""
    provider = runtime.core.deps.provider(name)
    if not isinstance(provider, kind):
        raise ProviderUnavailable(f"the {name} provider cannot confirm notifications", provider=name)
    return provider


def tenant_secret(runtime: HttpRuntime, endpoint: InboundEndpoint, name: str) -> str:
    """The tenant's secret that signs this provider's notifications; without one nothing can be
    verified: 503, so the provider retries once the tenant configured it."""
    secret = runtime.core.provider_config.provider_secret(endpoint.tenant_id, endpoint.provider, name)
    if not isinstance(secret, str) or not secret:
        raise ProviderUnavailable(
            f"the tenant has no {endpoint.provider} {name}",
            provider=endpoint.provider,
            reason="webhook secret",
        )
    return secret


def outcome_values(outcomes: list[EventOutcome]) -> list[str]:
    return [outcome.value for outcome in outcomes]


# --- M-Pesa: the STK status query confirms a callback ---------------------------------------------


def confirmed_stk(claimed: ProviderEvent, verdict: ProviderEventType | None) -> ProviderEvent | None:
    """What the query proves about a claimed STK outcome (see the module's invariants)."""
    if verdict is None:
        return None
    if verdict is claimed.type:
        return claimed
    if verdict is ProviderEventType.PAYMENT_SUCCEEDED:
        return None  # paid, but this callback does not carry the payment's facts
    reason = "expired" if verdict is ProviderEventType.PAYMENT_EXPIRED else "failed"
    details = {"confirmed_by": "stk_query", "reason": reason}
    return attrs.evolve(claimed, type=verdict, amount=None, details=details)


def stk_confirmation(mpesa: MpesaProvider, endpoint: InboundEndpoint) -> Confirm:
    def confirm(claimed: ProviderEvent) -> ProviderEvent | None:
        if claimed.type not in STK_OUTCOMES:
            log.info(
                "an M-Pesa payout result for tenant %s cannot be confirmed: not applied", endpoint.tenant_id
            )
            return None
        try:
            verdict = mpesa.stk_status(endpoint.tenant_id, endpoint.livemode, claimed.reference)
        except (InvalidOperation, NotFound):  # Daraja does not know that push for these credentials
            return None
        return confirmed_stk(claimed, verdict)

    return confirm


def signed_event(
    runtime: HttpRuntime,
    request: Request[Any, Any, Any],
    provider: str,
    url_id: str,
    body: bytes,
    signature_header: str,
    secret_field: str,
) -> dict[str, Any]:
    """A provider event signed with one of the tenant's own secrets, verified and applied once."""
    endpoint = endpoint_of(runtime, provider, url_id)
    headers = dict(request.headers)
    require_signature(headers, signature_header)
    secret = tenant_secret(runtime, endpoint, secret_field)
    with signature_checked():
        outcomes = runtime.core.provider_events.receive_webhook(
            provider, headers, bytes(body), secret, tenant_id=endpoint.tenant_id
        )
    return {"received": True, "events": outcome_values(outcomes)}


# --- the routes --------------------------------------------------------------------------------


class ProviderWebhooksController(Controller):
    tags = ["provider webhooks"]

    @post(
        "/stripe/{url_id:str}/webhook",
        status_code=200,
        sync_to_thread=True,
        request_max_body_size=MAX_NOTIFICATION_BODY,
        opt={**INBOUND},
    )
    def stripe_webhook(
        self, runtime: Runtime, request: Request[Any, Any, Any], url_id: FromPath[str], body: RawBody
    ) -> dict[str, Any]:
        """A tenant's own Stripe endpoint: verified with the tenant's `webhook_secret`."""
        return signed_event(runtime, request, "stripe", url_id, body, "Stripe-Signature", "webhook_secret")

    @post(
        "/paystack/{url_id:str}/webhook",
        status_code=200,
        sync_to_thread=True,
        request_max_body_size=MAX_NOTIFICATION_BODY,
        opt={**INBOUND},
    )
    def paystack_webhook(
        self, runtime: Runtime, request: Request[Any, Any, Any], url_id: FromPath[str], body: RawBody
    ) -> dict[str, Any]:
        """Signed by Paystack with the tenant's secret key (HMAC-SHA512 of the raw body)."""
        return signed_event(runtime, request, "paystack", url_id, body, "x-paystack-signature", "secret_key")

    @post(
        "/mpesa/{url_id:str}/callback",
        status_code=200,
        sync_to_thread=True,
        request_max_body_size=MAX_NOTIFICATION_BODY,
        opt={**INBOUND},
    )
    def mpesa_callback(
        self, runtime: Runtime, request: Request[Any, Any, Any], url_id: FromPath[str], body: RawBody
    ) -> dict[str, Any]:
        """Daraja's acknowledgement answer, once the callback was confirmed (or found unconfirmable)."""
        endpoint = endpoint_of(runtime, "mpesa", url_id)
        mpesa = adapter(runtime, "mpesa", MpesaProvider)
        outcomes = runtime.core.provider_events.receive_webhook(
            "mpesa",
            dict(request.headers),
            bytes(body),
            endpoint.url_id,  # the secret URL is the credential the adapter insists on
            tenant_id=endpoint.tenant_id,
            confirm=stk_confirmation(mpesa, endpoint),
        )
        return {**MPESA_ACCEPTED, "events": outcome_values(outcomes)}

    @post(
        "/pesapal/{url_id:str}/ipn",
        status_code=200,
        sync_to_thread=True,
        request_max_body_size=MAX_NOTIFICATION_BODY,
        opt={**INBOUND},
    )
    def pesapal_ipn_post(self, runtime: Runtime, url_id: FromPath[str], body: RawBody) -> dict[str, Any]:
        """A POST IPN (JSON body), as the adapter registers it."""
        return _pesapal_ipn(runtime, url_id, bytes(body))

    @get("/pesapal/{url_id:str}/ipn", sync_to_thread=True, opt={**INBOUND})
    def pesapal_ipn_get(
        self, runtime: Runtime, request: Request[Any, Any, Any], url_id: FromPath[str]
    ) -> dict[str, Any]:
        """A GET IPN (query string), for an IPN URL registered as GET."""
        return _pesapal_ipn(runtime, url_id, bytes(request.scope.get("query_string", b"")))


def _pesapal_ipn(runtime: HttpRuntime, url_id: str, ipn_fields: bytes) -> dict[str, Any]:
    """Ask Pesapal about the order the IPN names; apply its verdict; answer Pesapal's acknowledgement."""
    endpoint = endpoint_of(runtime, "pesapal", url_id)
    pesapal = adapter(runtime, "pesapal", PesapalProvider)
    ipn = parse_ipn(ipn_fields)
    try:
        event = pesapal.order_event(endpoint.tenant_id, endpoint.livemode, ipn.tracking_id)
    except (InvalidOperation, NotFound):  # Pesapal does not know that order for these credentials
        event = None
    if event is not None:
        runtime.core.provider_events.apply_event(event, endpoint.tenant_id)
    return ipn.acknowledgement()


ROUTES = [ProviderWebhooksController]
