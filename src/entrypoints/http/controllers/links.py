"""Seed 003: payment links. Public pages anyone with the slug may see and pay; the tenant creates
and disables them. Amounts in integer minor units (`9900` USD is 99.00).

Invariants
- `GET /links/{slug}` and `POST /links/{slug}/checkout` are public and limited per client IP
  (10 and 3 a minute); they reveal only what the seed's public page shows (plus the description
  the merchant wrote for the payer), never the tenant or the usage counters.
- Slugs are unique across tenants (they are public URLs); disabling another tenant's link is 404.
- A link's checkout reaches the provider of its creator's mode (test mode: the sandbox), and
  holds one use of the link while pending (the core's reservation).

The create body (seed 003 documents only the public view, so the names follow it and the core's
`PaymentLink`):

    {"amount": 9900, "currency": "USD", "reference": "promo_ref",      required
     "slug": "summer-promo",                 optional; generated when absent (3-64 of a-z 0-9 -)
     "description": "Summer promo",          optional, up to 500 characters
     "expires_at": "2025-12-31T23:59:59Z",   optional, with a zone, in the future (as the GET shows it)
     "usageLimit": 100}                      optional, 1 to 1,000,000 completed payments
                                             (camelCase like the GET's `usageLimitReached`)

Creating answers 201 with the public view plus `description`, `usageLimit`, `used` and
`created_at`; disabling answers the same view, `status` now `inactive`. A taken slug is 409
`IDEMPOTENCY_CONFLICT`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from entrypoints.http.controllers.checkout import Currency, MinorUnits, minor_units
from entrypoints.http.dependencies import Caller, Runtime
from entrypoints.http.views import iso
from payments_core.model.links import PaymentLink
from payments_core.services.links import MAX_USAGE_LIMIT, LinkView

PUBLIC_VIEW = {"public": True, "rate_limit": "links.view"}
PUBLIC_CHECKOUT = {"public": True, "rate_limit": "links.checkout"}
# An empty requirement: the operation is callable without a credential.
ANONYMOUS: list[dict[str, list[str]]] = [{}]
UsageLimit = Annotated[int, msgspec.Meta(ge=1, le=MAX_USAGE_LIMIT)]


class CreateLinkBody(msgspec.Struct):
    amount: MinorUnits
    currency: Currency
    reference: str
    slug: str | None = None
    description: str | None = None
    expires_at: datetime | None = None
    usage_limit: UsageLimit | None = msgspec.field(default=None, name="usageLimit")


class LinkCheckoutBody(msgspec.Struct, rename="camel"):
    method_types: Annotated[list[str], msgspec.Meta(max_length=16)] = []


def public_link_json(view: LinkView) -> dict[str, Any]:
    link = view.link
    return {
        "slug": link.slug,
        "amount": link.amount.minor,
        "currency": link.amount.currency,
        "reference": link.reference,
        "description": link.description,
        "status": link.status.value,
        "expires_at": iso(link.expires_at),
        "isExpired": view.is_expired,
        "usageLimitReached": view.usage_limit_reached,
        "canPay": view.can_pay,
    }


def owner_link_json(view: LinkView) -> dict[str, Any]:
    link = view.link
    return {
        **public_link_json(view),
        "usageLimit": link.usage_limit,
        "used": link.used,
        "created_at": iso(link.created_at),
    }


class LinksController(Controller):
    path = "/links"
    tags = ["payment links (seed 003)"]

    @post("/", status_code=201, sync_to_thread=True, opt={"idempotent": True})
    def create_link(
        self, runtime: Runtime, principal: Caller, data: JSONBody[CreateLinkBody]
    ) -> dict[str, Any]:
        link = runtime.core.links.create_link(
            principal,
            amount=minor_units(data.amount, data.currency),
            reference=data.reference,
            slug=data.slug,
            description=data.description,
            expires_at=data.expires_at,
            usage_limit=data.usage_limit,
        )
        return _owner_view(runtime.core.deps.clock.now(), link)

    @post("/{slug:str}/disable", status_code=200, sync_to_thread=True)
    def disable_link(self, runtime: Runtime, principal: Caller, slug: FromPath[str]) -> dict[str, Any]:
        link = runtime.core.links.disable_link(principal, slug)
        return _owner_view(runtime.core.deps.clock.now(), link)

    @get("/{slug:str}", sync_to_thread=True, opt=PUBLIC_VIEW, security=ANONYMOUS)
    def get_link(self, runtime: Runtime, slug: FromPath[str]) -> dict[str, Any]:
        return public_link_json(runtime.core.links.get_public_link(slug))

    @post(
        "/{slug:str}/checkout", status_code=201, sync_to_thread=True, opt=PUBLIC_CHECKOUT, security=ANONYMOUS
    )
    def start_checkout(
        self, runtime: Runtime, slug: FromPath[str], data: JSONBody[LinkCheckoutBody | None] = None
    ) -> dict[str, Any]:
        methods = data.method_types if data is not None else []
        session = runtime.core.links.start_link_checkout(slug, methods)
        return {
            "sessionId": session.id,
            "redirectUrl": session.redirect_url,
            "qrImageUrl": session.qr_image_url,
            "expiresAt": iso(session.expires_at),
        }


def _owner_view(now: datetime, link: PaymentLink) -> dict[str, Any]:
    return owner_link_json(LinkView.at(link, now))


ROUTES = [LinksController]
