"""Order checkout (seed 002 `POST /orders/{order_id}/checkout`): a checkout session for an order,
through the provider the customer asked for or prefers.

Invariants
- The provider is the one requested, which the tenant must accept (its providers, plus the
  sandbox in test mode), else `INVALID_PARAMETER`. Without one, the first the tenant accepts of:
  the customer's default saved method's provider, the customer's preferred provider, the tenant's
  first provider. Saved preferences are hints that may be older than the tenant's configuration,
  so one the tenant no longer accepts is skipped rather than refused.
- Test mode (test credentials) always reaches the sandbox; the chosen provider is still recorded as
  the session's selected payment method, so the test behaves like the live checkout would.
- Orders are priced in the tenant's currency (as the customer's checkout options are).
- The order id is the session's reference; an M-Pesa checkout carries the customer's phone number
  (from the request's method details, else from the customer's saved M-Pesa method).
- The session is opened by checkout's one session-creating function: the same validation order,
  idempotency, provider-before-storage, audit and outbound events as `create_session`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from payments_core.errors import CurrencyMismatch, ValidationError
from payments_core.model.access import Tenant
from payments_core.model.customers import CustomerPreferences, SavedMethod
from payments_core.model.payments import CheckoutSession
from payments_core.money import Money
from payments_core.policies import Operation, Principal, require_scope
from payments_core.services.checkout import (
    MAX_CUSTOMER_ID,
    MAX_REFERENCE,
    SessionDraft,
    _open_session,
    validate_amount,
    validate_idempotency_key,
    validate_text,
)
from payments_core.services.context import KNOWN_PROVIDERS, SANDBOX, Deps, tenant_of
from payments_core.services.validation import validate_phone

# The payment method a provider implies, where it implies one (its fee rule may be the method's).
PROVIDER_METHODS: Final = {"mpesa": "mpesa"}
MAX_DETAILS: Final = 10
MAX_DETAIL_LENGTH: Final = 256


def checkout_order(
    deps: Deps,
    principal: Principal,
    order_id: str,
    customer_id: str,
    amount: Money,
    provider: str | None = None,
    method_details: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> CheckoutSession:
    """A checkout session for the order; no MFA step-up, like seed 002 (a tenant's agent or bot asks,
    the customer pays on the provider's page)."""
    require_scope(principal, Operation.ORDER_CHECKOUT)
    reference = validate_text(order_id, "order_id", MAX_REFERENCE)
    customer = validate_text(customer_id, "customer_id", MAX_CUSTOMER_ID)
    price = validate_amount(amount)
    requested = _validate_provider(provider)
    details = _validate_details(method_details)
    key = validate_idempotency_key(idempotency_key)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        preferences = uow.customers.get(tenant.id, customer)
    if price.currency != tenant.currency:
        raise CurrencyMismatch(
            f"order amounts are in {tenant.currency}",
            field="amount",
            currencies=sorted({tenant.currency, price.currency}),
        )
    chosen = _choose_provider(tenant, principal.livemode, requested, preferences)
    method = PROVIDER_METHODS.get(chosen)
    draft = SessionDraft(
        tenant.id, price, reference, principal.livemode,
        provider=chosen if principal.livemode else SANDBOX,
        method_types=(method,) if method is not None else (),
        client_phone_number=_phone_number(chosen, details, preferences),
        customer_id=customer, idempotency_key=key, selected_payment_method=chosen,
    )  # fmt: skip
    return _open_session(deps, principal, draft)


def accepted_providers(tenant: Tenant, livemode: bool) -> tuple[str, ...]:
    """The providers an order of this tenant may be paid through."""
    if livemode or SANDBOX in tenant.providers:
        return tenant.providers
    return (*tenant.providers, SANDBOX)


def _choose_provider(
    tenant: Tenant, livemode: bool, requested: str | None, preferences: CustomerPreferences | None
) -> str:
    accepted = accepted_providers(tenant, livemode)
    if requested is not None:
        if requested not in accepted:
            raise ValidationError(
                "the tenant does not accept this provider", field="provider", allowedValues=list(accepted)
            )
        return requested
    default = preferences.default_method if preferences is not None else None
    hints = (
        default.provider if default is not None else None,
        preferences.preferred_provider if preferences is not None else None,
    )
    chosen = next((hint for hint in hints if hint in accepted), accepted[0] if accepted else None)
    if chosen is None:
        raise ValidationError("the tenant accepts no provider", field="provider")
    return chosen


def _phone_number(
    chosen: str, details: Mapping[str, str], preferences: CustomerPreferences | None
) -> str | None:
    if chosen != "mpesa":
        return None
    if "phone_number" in details:
        return details["phone_number"]
    saved = _saved_method(preferences, chosen)
    phone = saved.details.get("phone_number") if saved is not None else None
    return phone if phone is not None and _is_phone(phone) else None


def _saved_method(preferences: CustomerPreferences | None, provider: str) -> SavedMethod | None:
    """The customer's default method for this provider, else the first one saved for it."""
    if preferences is None:
        return None
    for_provider = [m for m in preferences.saved_methods if m.provider == provider]
    return next((m for m in for_provider if m.is_default), for_provider[0] if for_provider else None)


def _is_phone(value: str) -> bool:
    try:
        validate_phone(value)
    except ValidationError:
        return False
    return True


def _validate_provider(provider: object) -> str | None:
    if provider is None:
        return None
    if not isinstance(provider, str) or provider not in KNOWN_PROVIDERS:
        raise ValidationError("unknown provider", field="provider", allowedValues=list(KNOWN_PROVIDERS))
    return provider


def _validate_details(details: object) -> dict[str, str]:
    """A few short strings (seed 002's provider-specific details); a phone number must be one."""
    if details is None:
        return {}
    if not isinstance(details, Mapping) or len(details) > MAX_DETAILS:
        raise ValidationError("method_details must be a small object", field="method_details")
    for name, value in details.items():
        short = isinstance(name, str) and isinstance(value, str) and 0 < len(value) <= MAX_DETAIL_LENGTH
        if not short or len(name) > 64:
            raise ValidationError("method_details holds short strings", field="method_details")
    clean = dict(details)
    if "phone_number" in clean:
        validate_phone(clean["phone_number"], "method_details.phone_number")
    return clean
