"""Direct provider payments (seed 001): a card token or a PSE bank transfer, without a hosted page.

Invariants
- Every required field of seed 001's tables is checked before anything else happens; errors name
  the field as the seed spells it (`payer.identification.type`, `transaction_details.
  financial_institution`, ...).
- Test-mode credentials reach only the sandbox; live ones the provider asked for (card) or
  MercadoPago (PSE, a Colombian bank transfer only MercadoPago offers).
- The provider is called BEFORE anything is stored: if it fails, nothing was written. Its answer
  is then stored in one unit of work: approved completes the payment (the payment-completed
  ledger flow, through `payment_lifecycle`); pending or in process leaves it pending until the
  provider's `payment.succeeded` event completes it (found by provider reference); rejected
  records it as failed, with the provider's `status_detail`.
- A rejected payment is returned, not raised: its status is `failed` and its `status_detail`
  says why; the HTTP layer answers seed 001's 422 `payment_rejected` for it.
- Creating a payment as a person needs a fresh MFA (step-up `create-payment`, seed 003); an API
  key (server to server) does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from payments_core.errors import InvalidAmount, ValidationError
from payments_core.model.common import check_text, freeze_metadata
from payments_core.model.payments import Payment
from payments_core.money import Money
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.ports import DirectPaymentRequest, DirectPaymentResult, DirectPaymentStatus, UnitOfWork
from payments_core.services.context import KNOWN_PROVIDERS, SANDBOX, Deps, audit
from payments_core.services.payment_lifecycle import complete_payment, fail_payment
from payments_core.services.validation import validate_url

MAX_INSTALLMENTS: Final = 36
MAX_DESCRIPTION_LENGTH: Final = 500
PSE_PROVIDER: Final = "mercadopago"
PSE_METHOD_ID: Final = "pse"
ENTITY_TYPES: Final = ("individual", "association")
IDENTIFICATION_TYPES: Final = ("CC", "CE", "NIT")
CARD_PAYER_FIELDS: Final = frozenset({"email", "first_name", "last_name", "identification"})
PSE_PAYER_FIELDS: Final = CARD_PAYER_FIELDS | {"entity_type"}

_EMAIL: Final = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_METHOD_ID: Final = re.compile(r"[a-z0-9_]{1,50}")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_\-.]{1,255}")
_ID_NUMBER: Final = re.compile(r"[0-9A-Za-z\-]{3,20}")
_BANK_CODE: Final = re.compile(r"[0-9]{1,10}")


def create_card_payment(
    deps: Deps,
    principal: Principal,
    amount: Money,
    description: str,
    payment_method_id: str,
    token: str,
    payer_email: str,
    installments: int = 1,
    payer: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    provider: str = "mercadopago",
) -> Payment:
    """Charge a card token (seed 001's POST /mercadopago/payments)."""
    require_scope(principal, Operation.PAYMENTS_CREATE)
    require_step_up(principal, StepUpAction.CREATE_PAYMENT, deps.clock.now())
    _check_common(amount, description)
    if not isinstance(payment_method_id, str) or not _METHOD_ID.fullmatch(payment_method_id):
        raise ValidationError("payment_method_id is required (visa, master, ...)", field="payment_method_id")
    if payment_method_id == PSE_METHOD_ID:
        raise ValidationError("PSE payments have their own endpoint", field="payment_method_id")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValidationError("token is required", field="token")
    if not _is_int(installments) or not 1 <= installments <= MAX_INSTALLMENTS:
        raise ValidationError(
            f"installments must be an integer from 1 to {MAX_INSTALLMENTS}",
            field="installments",
            maximum=MAX_INSTALLMENTS,
        )
    if provider not in KNOWN_PROVIDERS:
        raise ValidationError("unknown provider", field="provider", allowedValues=list(KNOWN_PROVIDERS))
    clean_payer = _card_payer(payer_email, payer)
    frozen = freeze_metadata(metadata)
    request = DirectPaymentRequest(
        tenant_id=principal.tenant_id,
        payment_id=deps.ids.new_id("pay"),
        amount=amount,
        description=description,
        payment_method_id=payment_method_id,
        payer=clean_payer,
        livemode=principal.livemode,
        token=token,
        installments=installments,
    )
    return _create(deps, principal, "card", provider, request, frozen)


def create_pse_payment(
    deps: Deps,
    principal: Principal,
    amount: Money,
    description: str,
    payer: Mapping[str, Any],
    financial_institution: str,
    callback_url: str,
    metadata: Mapping[str, Any] | None = None,
) -> Payment:
    """Start a PSE bank transfer (seed 001's POST /mercadopago/payments/pse); it starts pending."""
    require_scope(principal, Operation.PAYMENTS_CREATE)
    require_step_up(principal, StepUpAction.CREATE_PAYMENT, deps.clock.now())
    _check_common(amount, description)
    clean_payer = _pse_payer(payer)
    if not isinstance(financial_institution, str) or not _BANK_CODE.fullmatch(financial_institution):
        raise ValidationError(
            "transaction_details.financial_institution is required (a bank code such as 1007)",
            field="transaction_details.financial_institution",
        )
    url = validate_url(callback_url, "callback_url")
    frozen = freeze_metadata(metadata)
    request = DirectPaymentRequest(
        tenant_id=principal.tenant_id,
        payment_id=deps.ids.new_id("pay"),
        amount=amount,
        description=description,
        payment_method_id=PSE_METHOD_ID,
        payer=clean_payer,
        livemode=principal.livemode,
        financial_institution=financial_institution,
        callback_url=url,
    )
    return _create(deps, principal, "pse", PSE_PROVIDER, request, frozen)


def _create(
    deps: Deps,
    principal: Principal,
    method: str,
    live_provider: str,
    request: DirectPaymentRequest,
    metadata: Mapping[str, Any],
) -> Payment:
    """Ask the provider first (a failure stores nothing), then record its answer in one unit of work."""
    provider_name = live_provider if principal.livemode else SANDBOX
    result = deps.provider(provider_name).create_payment(request)
    now = deps.clock.now()
    payment = Payment(
        id=request.payment_id,
        tenant_id=principal.tenant_id,
        amount=request.amount,
        method=method,
        provider=provider_name,
        created_at=now,
        updated_at=now,
        livemode=principal.livemode,
        description=request.description,
        provider_reference=result.provider_reference,
        metadata=metadata,
        status_detail=result.status_detail,
        external_resource_url=result.external_resource_url,
    )
    with deps.uow() as uow:
        uow.payments.add(payment)
        audit(
            uow, deps, principal, "payment.created", "payment", payment.id, payment.tenant_id,
            method=method, provider=provider_name, amount=payment.amount.minor,
            currency=payment.amount.currency, providerStatus=result.status.value,
        )  # fmt: skip
        payment = _apply_result(uow, deps, payment, result)
        uow.commit()
    return payment


def _apply_result(uow: UnitOfWork, deps: Deps, payment: Payment, result: DirectPaymentResult) -> Payment:
    if result.status is DirectPaymentStatus.APPROVED:
        return complete_payment(uow, deps, payment)
    if result.status is DirectPaymentStatus.REJECTED:
        return fail_payment(uow, deps, payment, result.status_detail)
    return payment  # pending, in process: the provider's event completes or fails it


def _check_common(amount: Money, description: str) -> None:
    if not isinstance(amount, Money):
        raise InvalidAmount("transaction_amount must be an amount of money", field="transaction_amount")
    if amount.minor <= 0:
        raise InvalidAmount(
            "transaction_amount must be greater than zero",
            field="transaction_amount",
            currency=amount.currency,
        )
    check_text("description", description, MAX_DESCRIPTION_LENGTH)
    if not description.strip():
        raise ValidationError("description is required", field="description")


def _card_payer(payer_email: str, payer: Mapping[str, Any] | None) -> dict[str, Any]:
    """Seed 001: only the email is required; names and identification are optional."""
    given = _mapping(payer, "payer", CARD_PAYER_FIELDS)
    if "email" in given and given["email"] != payer_email:
        raise ValidationError("payer.email differs from payer_email", field="payer.email")
    clean: dict[str, Any] = {"email": _email(payer_email)}
    for name in ("first_name", "last_name"):
        if given.get(name) is not None:
            clean[name] = _name(given[name], f"payer.{name}")
    if given.get("identification") is not None:
        clean["identification"] = _identification(given["identification"])
    return clean


def _pse_payer(payer: Mapping[str, Any]) -> dict[str, Any]:
    """Seed 001: every payer field of a PSE payment is required."""
    if payer is None:
        raise ValidationError("payer is required", field="payer")
    given = _mapping(payer, "payer", PSE_PAYER_FIELDS)
    entity_type = given.get("entity_type")
    if entity_type not in ENTITY_TYPES:
        raise ValidationError(
            "payer.entity_type must be individual or association",
            field="payer.entity_type",
            allowedValues=list(ENTITY_TYPES),
        )
    return {
        "email": _email(given.get("email"), "payer.email"),
        "entity_type": entity_type,
        "first_name": _name(given.get("first_name"), "payer.first_name"),
        "last_name": _name(given.get("last_name"), "payer.last_name"),
        "identification": _identification(given.get("identification")),
    }


def _mapping(value: object, field: str, allowed: frozenset[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be an object", field=field)
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise ValidationError(f"unexpected fields in {field}", field=field, unexpected=unknown)
    return dict(value)


def _email(value: object, field: str = "payer.email") -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValidationError(f"{field} must be an email address", field=field)
    return value


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ValidationError(f"{field} is required (at most 100 characters)", field=field)
    return value.strip()


def _identification(value: object) -> dict[str, str]:
    given = _mapping(value, "payer.identification", frozenset({"type", "number"}))
    if not given:
        raise ValidationError("payer.identification is required", field="payer.identification")
    id_type, number = given.get("type"), given.get("number")
    if id_type not in IDENTIFICATION_TYPES:
        raise ValidationError(
            "payer.identification.type must be CC, CE or NIT",
            field="payer.identification.type",
            allowedValues=list(IDENTIFICATION_TYPES),
        )
    if not isinstance(number, str) or not _ID_NUMBER.fullmatch(number):
        raise ValidationError("payer.identification.number is required", field="payer.identification.number")
    return {"type": id_type, "number": number}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
