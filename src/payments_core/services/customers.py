"""A customer's payment preferences and checkout options (seed 002), kept per tenant.

Invariants
- A customer never seen before has empty preferences, not RESOURCE_NOT_FOUND; the first write
  creates them. Preferences are read and written in the caller's tenant only.
- A provider named by a customer is one of the tenant's providers.
- Saved details are validated per provider and never hold a card number: a run of 12 or more
  digits (PANs have 12 to 19) in any field but `phone_number` is refused, and unknown keys too.
- Saving the same provider and details again updates that method (its id stays) instead of
  duplicating it; `saved_methods` lists methods in the order they were last saved.
- At most one default: the first method saved becomes it, `set_as_default` moves it, and removing
  it passes it to the most recently saved remaining method. At most 20 methods per customer.
- Every write is audited, never with the saved details themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import attrs

from payments_core.errors import CurrencyMismatch, InvalidOperation, ValidationError
from payments_core.model.access import Tenant
from payments_core.model.customers import CustomerPreferences, SavedMethod
from payments_core.money import Money
from payments_core.policies import Operation, Principal, require_scope
from payments_core.ports import UnitOfWork
from payments_core.services.context import Deps, audit, found, tenant_of
from payments_core.services.validation import validate_phone

MAX_CUSTOMER_ID_LENGTH: Final = 128
MAX_SAVED_METHODS: Final = 20
PHONE_FIELD: Final = "phone_number"

_LAST4: Final = re.compile(r"[0-9]{4}")
_WORD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,31}")
_BANK_NAME: Final = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
_AUTHORIZATION_CODE: Final = re.compile(r"AUTH_[A-Za-z0-9]{1,64}")
_STRIPE_PAYMENT_METHOD: Final = re.compile(r"pm_[A-Za-z0-9_]{1,64}")
_CARD_NUMBER: Final = re.compile(r"[0-9]{12,}")


@attrs.frozen
class _Field:
    pattern: re.Pattern[str] | None  # None: a phone number, checked by `validate_phone`
    required: bool = True


_PHONE: Final = _Field(None)
# What a saved method may hold, per provider (seed 002); anything else is refused.
DETAIL_FIELDS: Final[Mapping[str, Mapping[str, _Field]]] = {
    "mpesa": {PHONE_FIELD: _PHONE},
    "paystack": {
        "authorization_code": _Field(_AUTHORIZATION_CODE),
        "last4": _Field(_LAST4),
        "bank": _Field(_BANK_NAME, required=False),
    },
    "pesapal": {"payment_method": _Field(_WORD), "last4": _Field(_LAST4, required=False)},
    "stripe": {
        "payment_method_id": _Field(_STRIPE_PAYMENT_METHOD),
        "last4": _Field(_LAST4, required=False),
        "brand": _Field(_WORD, required=False),
    },
    "sandbox": {PHONE_FIELD: _Field(None, required=False), "last4": _Field(_LAST4, required=False)},
}


@attrs.frozen
class PreferencesView:
    customer_id: str
    preferred_provider: str | None
    saved_methods: tuple[SavedMethod, ...]
    available_providers: tuple[str, ...]


@attrs.frozen
class CheckoutOptions:
    """What to offer a customer at checkout; only providers the tenant still offers appear."""

    customer_id: str
    preferred_provider: str | None
    preferred_method: SavedMethod | None
    available_providers: tuple[str, ...]
    saved_methods: tuple[SavedMethod, ...]
    amount: Money
    can_change_provider: bool = True


def get_preferences(deps: Deps, principal: Principal, customer_id: str) -> PreferencesView:
    require_scope(principal, Operation.CUSTOMER_PREFERENCES_READ)
    _check_customer_id(customer_id)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        return _view(tenant, _load(uow, tenant, customer_id))


def set_preferred_provider(
    deps: Deps, principal: Principal, customer_id: str, provider: str
) -> PreferencesView:
    require_scope(principal, Operation.CUSTOMER_PREFERENCES_WRITE)
    _check_customer_id(customer_id)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        _require_provider(tenant, provider)
        preferences = attrs.evolve(_load(uow, tenant, customer_id), preferred_provider=provider)
        return _store(
            uow, deps, principal, tenant, preferences, "customer.preferred_provider.updated", provider
        )


def save_payment_method(
    deps: Deps,
    principal: Principal,
    customer_id: str,
    provider: str,
    details: Mapping[str, str],
    set_as_default: bool = False,
) -> PreferencesView:
    """Remember a method for a faster checkout next time (tokens and last digits, never a card)."""
    require_scope(principal, Operation.CUSTOMER_PREFERENCES_WRITE)
    _check_customer_id(customer_id)
    if not isinstance(set_as_default, bool):
        raise ValidationError("set_as_default must be true or false", field="set_as_default")
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        _require_provider(tenant, provider)
        clean = validate_method_details(provider, details)
        current = _load(uow, tenant, customer_id)
        same = next(
            (m for m in current.saved_methods if m.provider == provider and dict(m.details) == clean), None
        )
        others = tuple(m for m in current.saved_methods if m is not same)
        if same is None and len(others) >= MAX_SAVED_METHODS:
            raise InvalidOperation(
                f"a customer keeps at most {MAX_SAVED_METHODS} payment methods", maximum=MAX_SAVED_METHODS
            )
        method = SavedMethod(
            id=same.id if same is not None else deps.ids.new_id("pm"),
            provider=provider,
            details=clean,
            saved_at=deps.clock.now(),
            is_default=same is not None and same.is_default,
        )
        saved = attrs.evolve(current, saved_methods=(*others, method))
        if set_as_default or saved.default_method is None:
            saved = attrs.evolve(saved, saved_methods=saved.with_default(method.id))
        return _store(
            uow, deps, principal, tenant, saved, "customer.payment_method.saved", provider, method.id
        )


def remove_payment_method(
    deps: Deps, principal: Principal, customer_id: str, method_id: str
) -> PreferencesView:
    """Forget a method; if it was the default, the most recently saved remaining one takes over."""
    require_scope(principal, Operation.CUSTOMER_PREFERENCES_WRITE)
    _check_customer_id(customer_id)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        current = _load(uow, tenant, customer_id)
        method = found(current.method(method_id), "payment_method", method_id)
        left = attrs.evolve(current, saved_methods=tuple(m for m in current.saved_methods if m is not method))
        if method.is_default and left.saved_methods:
            left = attrs.evolve(left, saved_methods=left.with_default(left.saved_methods[-1].id))
        return _store(
            uow, deps, principal, tenant, left, "customer.payment_method.removed", method.provider, method.id
        )


def set_default_method(deps: Deps, principal: Principal, customer_id: str, method_id: str) -> PreferencesView:
    require_scope(principal, Operation.CUSTOMER_PREFERENCES_WRITE)
    _check_customer_id(customer_id)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        current = _load(uow, tenant, customer_id)
        method = found(current.method(method_id), "payment_method", method_id)
        chosen = attrs.evolve(current, saved_methods=current.with_default(method.id))
        return _store(
            uow,
            deps,
            principal,
            tenant,
            chosen,
            "customer.payment_method.default_set",
            method.provider,
            method.id,
        )


def checkout_options(deps: Deps, principal: Principal, customer_id: str, amount: Money) -> CheckoutOptions:
    """The customer's preferred way to pay this amount, and what else they may choose."""
    require_scope(principal, Operation.CHECKOUT_OPTIONS_READ)
    _check_customer_id(customer_id)
    if not isinstance(amount, Money):
        raise ValidationError("amount must be an amount of money", field="amount")
    amount.require_positive()
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        if amount.currency != tenant.currency:
            raise CurrencyMismatch(
                f"checkout amounts are in {tenant.currency}",
                field="amount",
                currencies=sorted({tenant.currency, amount.currency}),
            )
        preferences = _load(uow, tenant, customer_id)
    offered = tuple(m for m in preferences.saved_methods if m.provider in tenant.providers)
    preferred = preferences.preferred_provider if preferences.preferred_provider in tenant.providers else None
    method = next((m for m in offered if m.is_default), None) or next(
        (m for m in offered if m.provider == preferred), None
    )
    return CheckoutOptions(
        customer_id=customer_id,
        preferred_provider=preferred,
        preferred_method=method,
        available_providers=tenant.providers,
        saved_methods=offered,
        amount=amount,
    )


def validate_method_details(provider: str, details: object) -> dict[str, str]:
    """The details a saved method of `provider` may hold, checked; a card number never passes."""
    if not isinstance(details, Mapping) or not details:
        raise ValidationError("details must be a non-empty object", field="details")
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in details.items()):
        raise ValidationError("details are strings", field="details")
    fields = DETAIL_FIELDS.get(provider)
    if fields is None:
        raise ValidationError(
            f"payment methods cannot be saved for {provider}",
            field="provider",
            allowedValues=sorted(DETAIL_FIELDS),
        )
    unknown = sorted(set(details) - set(fields))
    if unknown:
        raise ValidationError(
            "unexpected details", field="details", unexpected=unknown, allowed=sorted(fields)
        )
    clean: dict[str, str] = {}
    for key, rule in fields.items():
        value = details.get(key)
        if value is None:
            if rule.required:
                raise ValidationError(f"details.{key} is required", field=f"details.{key}")
            continue
        if key != PHONE_FIELD and _CARD_NUMBER.search(re.sub(r"[\s.-]", "", value)):
            raise ValidationError(
                "card numbers are never stored; save a token instead", field=f"details.{key}"
            )
        if rule.pattern is None:
            clean[key] = validate_phone(value, f"details.{key}")
        elif rule.pattern.fullmatch(value):
            clean[key] = value
        else:
            raise ValidationError(f"details.{key} is not valid", field=f"details.{key}")
    return clean


def _check_customer_id(customer_id: object) -> None:
    if (
        not isinstance(customer_id, str)
        or not 0 < len(customer_id) <= MAX_CUSTOMER_ID_LENGTH
        or not customer_id.isprintable()
        or customer_id != customer_id.strip()
    ):
        raise ValidationError(
            f"customer_id must be 1 to {MAX_CUSTOMER_ID_LENGTH} printable characters",
            field="customer_id",
            maxLength=MAX_CUSTOMER_ID_LENGTH,
        )


def _require_provider(tenant: Tenant, provider: object) -> None:
    if not isinstance(provider, str) or provider not in tenant.providers:
        raise ValidationError(
            "this provider is not available", field="provider", allowedValues=list(tenant.providers)
        )


def _load(uow: UnitOfWork, tenant: Tenant, customer_id: str) -> CustomerPreferences:
    stored = uow.customers.get(tenant.id, customer_id)
    return stored if stored is not None else CustomerPreferences(tenant.id, customer_id)


def _store(
    uow: UnitOfWork,
    deps: Deps,
    principal: Principal,
    tenant: Tenant,
    preferences: CustomerPreferences,
    action: str,
    provider: str,
    method_id: str | None = None,
) -> PreferencesView:
    saved = attrs.evolve(preferences, updated_at=deps.clock.now())
    uow.customers.save(saved)
    audit(
        uow, deps, principal, action, "customer", saved.customer_id, tenant.id,
        provider=provider, methodId=method_id,
    )  # fmt: skip
    uow.commit()
    return _view(tenant, saved)


def _view(tenant: Tenant, preferences: CustomerPreferences) -> PreferencesView:
    return PreferencesView(
        customer_id=preferences.customer_id,
        preferred_provider=preferences.preferred_provider,
        saved_methods=preferences.saved_methods,
        available_providers=tenant.providers,
    )
