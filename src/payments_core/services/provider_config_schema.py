"""What a provider configuration may hold: each provider's fields, how each is checked, how a
secret is masked.

One mechanism for every provider, driven by `SCHEMAS`: a provider's entry says which fields are
settings (stored as given, shown as given) and which are secrets (sealed, shown masked), which
are required on register, and how each is checked. The use cases that store and read a
configuration with them are in `provider_config`.

Invariants
- A mask reveals a recognised public prefix (one a schema declares, e.g. `APP_USR-`, `sk_live_`)
  and at most the last 4 characters; a secret whose remainder is shorter than 12 characters shows
  no character of it at all.
- MercadoPago's `sandbox_mode`, when a write sets `access_token` without it, follows the token:
  `TEST-…` tokens are sandbox ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

from payments_core.errors import ValidationError
from payments_core.money import CURRENCY_EXPONENTS
from payments_core.services.validation import validate_url

FieldCheck = Callable[[str, object], object]

MAX_TEXT_LENGTH: Final = 256
MAX_SECRET_LENGTH: Final = 1024  # an M-Pesa security credential is an RSA ciphertext in base64
SHORT_SECRET: Final = 12
MASK_HIDDEN: Final = "••••"
MERCADOPAGO_COUNTRIES: Final = ("AR", "BR", "CL", "CO", "MX", "PE", "UY")
ENVIRONMENTS: Final = ("production", "sandbox")
_VISIBLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")
_DIGITS: Final = re.compile(r"[0-9]{5,10}")
_METHOD_NAME: Final = re.compile(r"[a-z0-9_]{1,40}")
_MAX_METHODS: Final = 20


def _text(
    *,
    prefixes: tuple[str, ...] = (),
    pattern: re.Pattern[str] = _VISIBLE_ASCII,
    max_length: int = MAX_TEXT_LENGTH,
) -> FieldCheck:
    """A non-empty string without spaces; the message never repeats the value (it may be a secret)."""

    def check(field: str, value: object) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= max_length:
            raise ValidationError(
                f"{field} must be a string of 1 to {max_length} characters", field=field, maxLength=max_length
            )
        if not pattern.fullmatch(value):
            raise ValidationError(f"{field} has an invalid format", field=field)
        if prefixes and not value.startswith(prefixes):
            raise ValidationError(
                f"{field} must start with one of {', '.join(prefixes)}",
                field=field,
                allowedPrefixes=list(prefixes),
            )
        return value

    return check


def _choice(allowed: tuple[str, ...]) -> FieldCheck:
    def check(field: str, value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValidationError(
                f"{field} must be one of {', '.join(allowed)}", field=field, allowedValues=list(allowed)
            )
        return value

    return check


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be a boolean", field=field)
    return value


def _currency(field: str, value: object) -> str:
    if not isinstance(value, str) or value not in CURRENCY_EXPONENTS:
        raise ValidationError(f"{field} must be a known ISO 4217 currency code", field=field)
    return value


def _https_url(field: str, value: object) -> str:
    """Where a provider calls us back: https (plain http only for localhost, for development)."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
        raise ValidationError(f"{field} must be a URL of at most {MAX_TEXT_LENGTH} characters", field=field)
    return validate_url(value, field)


def _method_names(field: str, value: object) -> list[str]:
    """A short list of payment method names (`credit_card`, `pse`); duplicates are dropped."""
    if not isinstance(value, list | tuple) or len(value) > _MAX_METHODS:
        raise ValidationError(f"{field} must be a list of at most {_MAX_METHODS} names", field=field)
    if not all(isinstance(item, str) and _METHOD_NAME.fullmatch(item) for item in value):
        raise ValidationError(f"{field} must hold lowercase method names", field=field)
    return list(dict.fromkeys(value))


@attrs.frozen
class FieldSpec:
    check: FieldCheck
    secret: bool = False
    required: bool = False
    clearable: bool = True  # whether PATCH may clear it with None (never a required field)
    prefixes: tuple[str, ...] = ()  # a secret's recognisable public prefixes, kept in its mask


def _setting(check: FieldCheck, *, required: bool = False, clearable: bool = True) -> FieldSpec:
    return FieldSpec(check, required=required, clearable=clearable and not required)


def _secret(*, required: bool = False, prefixes: tuple[str, ...] = ()) -> FieldSpec:
    check = _text(prefixes=prefixes, max_length=MAX_SECRET_LENGTH)
    return FieldSpec(check, secret=True, required=required, clearable=not required, prefixes=prefixes)


def _nothing_derived(_: Mapping[str, object]) -> Mapping[str, object]:
    return {}


@attrs.frozen
class ProviderSchema:
    fields: Mapping[str, FieldSpec]
    # Settings implied by the values of one write, applied unless that write sets them itself.
    derive: Callable[[Mapping[str, object]], Mapping[str, object]] = _nothing_derived
    public_key_field: str | None = None

    @property
    def required(self) -> frozenset[str]:
        return frozenset(name for name, spec in self.fields.items() if spec.required)


def _mercadopago_defaults(values: Mapping[str, object]) -> Mapping[str, object]:
    token = values.get("access_token")
    if isinstance(token, str) and "sandbox_mode" not in values:
        return {"sandbox_mode": token.startswith("TEST-")}
    return {}


_STRIPE_SECRET_PREFIXES: Final = ("sk_live_", "sk_test_", "rk_live_", "rk_test_")
_PUBLIC_PREFIXES: Final = ("pk_live_", "pk_test_")

SCHEMAS: Final[Mapping[str, ProviderSchema]] = MappingProxyType(
    {
        "mercadopago": ProviderSchema(
            fields={
                "access_token": _secret(required=True, prefixes=("APP_USR-", "TEST-")),
                "webhook_secret": _secret(),
                "mp_user_id": _setting(_text()),
                "mp_application_id": _setting(_text()),
                "mp_public_key": _setting(_text()),
                "country": _setting(_choice(MERCADOPAGO_COUNTRIES)),
                "currency": _setting(_currency),
                "sandbox_mode": _setting(_flag, clearable=False),
                "payment_methods_enabled": _setting(_method_names),
            },
            derive=_mercadopago_defaults,
            public_key_field="mp_public_key",
        ),
        "stripe": ProviderSchema(
            fields={
                "secret_key": _secret(required=True, prefixes=_STRIPE_SECRET_PREFIXES),
                "webhook_secret": _secret(prefixes=("whsec_",)),
                "publishable_key": _setting(_text(prefixes=_PUBLIC_PREFIXES)),
            },
            public_key_field="publishable_key",
        ),
        "mpesa": ProviderSchema(
            fields={
                "consumer_key": _secret(required=True),
                "consumer_secret": _secret(required=True),
                "passkey": _secret(required=True),
                "security_credential": _secret(required=True),
                "shortcode": _setting(_text(pattern=_DIGITS), required=True),
                "till_number": _setting(_text(pattern=_DIGITS)),
                "initiator_name": _setting(_text(max_length=100), required=True),
                "environment": _setting(_choice(ENVIRONMENTS), required=True),
                # The public base URL Safaricom calls back (default: the deployment's public URL).
                "callback_base_url": _setting(_https_url),
            }
        ),
        "paystack": ProviderSchema(
            fields={
                "secret_key": _secret(required=True, prefixes=("sk_live_", "sk_test_")),
                "public_key": _setting(_text(prefixes=_PUBLIC_PREFIXES)),
            },
            public_key_field="public_key",
        ),
        "pesapal": ProviderSchema(
            fields={
                "consumer_key": _secret(required=True),
                "consumer_secret": _secret(required=True),
                "ipn_id": _setting(_text()),
                "environment": _setting(_choice(ENVIRONMENTS), required=True),
                # The public base URL of our IPN route (default: the deployment's public URL), and
                # where a buyer returns when the checkout named no success URL.
                "callback_base_url": _setting(_https_url),
                "callback_url": _setting(_https_url),
            }
        ),
    }
)

# Longest first, so that `sk_live_` wins over a shorter prefix it starts with.
_PREFIXES: Final = {
    prefix for schema in SCHEMAS.values() for spec in schema.fields.values() for prefix in spec.prefixes
}
_MASKED_PREFIXES: Final = tuple(sorted(_PREFIXES, key=len, reverse=True))


def mask(secret: str) -> str:
    """`APP_USR-xxxx-xxxx-xxxx-1234` -> `APP_USR-…1234`; never more than 4 characters of the secret."""
    prefix = next((known for known in _MASKED_PREFIXES if secret.startswith(known)), "")
    rest = secret[len(prefix) :]
    if len(rest) < SHORT_SECRET:
        return f"{prefix}{MASK_HIDDEN}"
    return f"{prefix}…{rest[-4:]}"
