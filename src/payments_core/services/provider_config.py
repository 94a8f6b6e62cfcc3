"""A tenant's provider credentials and settings (seed 000 POST/PATCH, seed 001 GET /mercadopago).

One mechanism for every provider, driven by `SCHEMAS`: a provider's entry says which fields are
settings (stored as given, shown as given) and which are secrets (sealed, shown masked), which
are required on register, and how each is checked.

Invariants
- A secret reaches the repository only sealed by `deps.secret_box`; answers carry its masked hint
  (`APP_USR-…1234`), computed once at write time and kept in `ProviderConfig.secret_hints`, so a
  read never opens the box. Only `provider_secret` and `provider_credentials` open it, for an
  adapter at call time or a route verifying a signature.
- A mask reveals a recognised public prefix (one a schema declares, e.g. `APP_USR-`, `sk_live_`)
  and at most the last 4 characters; a secret whose remainder is shorter than 12 characters shows
  no character of it at all.
- Register (POST) replaces the whole configuration but keeps its id, its `url_id` and its
  `created_at`: the webhook URL already given to the provider keeps working, and a retried POST
  leaves the same state (idempotent). Update (PATCH) changes only the fields it names; `None`
  clears an optional field.
- MercadoPago's `sandbox_mode`, when a write sets `access_token` without it, follows the token:
  `TEST-…` tokens are sandbox ones.
- Audit events name the fields written, never their values.
- Every read and write is scoped by the caller's tenant; the only unscoped lookup is by `url_id`,
  which is how an inbound provider webhook finds its tenant.

Modes: one configuration per (tenant, provider) holds ONE credential set, and its mode is the
credentials' own: the key's prefix for Stripe (`sk_live_`/`rk_live_` live, `sk_test_`/`rk_test_`
test), Paystack (`sk_live_`/`sk_test_`) and MercadoPago (`APP_USR-` live, `TEST-` test); the
`environment` setting for M-Pesa and Pesapal (`production` live, `sandbox` test).
`provider_credentials` answers them for that mode only, `ProviderUnavailable` for the other one, so
a test key never reaches live mode nor a live key test mode. Changing mode is a new register (POST).
Both modes at once are not kept: the core sends test-mode traffic to the built-in sandbox, so a
real provider is called in live mode; a test set serves only the provider's own test environment
(confirming its webhooks), and holding both would need (tenant, provider, mode) as the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from payments_core.errors import ProviderUnavailable, ValidationError
from payments_core.model.integrations import ProviderConfig
from payments_core.money import CURRENCY_EXPONENTS
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.services.context import Deps, audit, found
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

# Which secret's prefix tells the mode (see "Modes"); the other providers have `environment`.
MODE_KEY_FIELD: Final[Mapping[str, str]] = MappingProxyType(
    {"stripe": "secret_key", "paystack": "secret_key", "mercadopago": "access_token"}
)
LIVE_KEY_PREFIXES: Final = ("sk_live_", "rk_live_", "APP_USR-")
INBOUND_ROUTE: Final[Mapping[str, str]] = MappingProxyType({"mpesa": "callback", "pesapal": "ipn"})

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


@attrs.frozen
class ProviderConfigView:
    """What the API answers: settings as stored, secrets masked, the inbound webhook path.

    `public_key`, `country`, `currency`, `sandbox_mode` and `payment_methods_enabled` are seed
    001's MercadoPago attributes (None where a provider has no such thing).
    """

    id: str
    tenant_id: str
    provider: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, str]
    webhook_path: str
    created_at: datetime
    updated_at: datetime
    public_key: str | None = None
    country: str | None = None
    currency: str | None = None
    sandbox_mode: bool | None = None
    payment_methods_enabled: tuple[str, ...] | None = None

    @property
    def unique_id(self) -> str:
        return self.id


def register_provider_config(
    deps: Deps, principal: Principal, provider: str, values: Mapping[str, object]
) -> ProviderConfigView:
    """Set the whole configuration of `provider` for the caller's tenant (create or replace)."""
    require_scope(principal, Operation.PROVIDER_CONFIG_WRITE)
    require_step_up(principal, StepUpAction.PROVIDER_CONFIG, deps.clock.now())
    schema = _schema(provider)
    clean = {
        name: value for name, value in _clean(schema, values, partial=False).items() if value is not None
    }
    missing = sorted(schema.required - clean.keys())
    if missing:
        raise ValidationError(f"{missing[0]} is required", field=missing[0], missing=missing)
    settings = {**schema.derive(clean), **_settings_of(schema, clean)}
    sealed, hints = _seal(deps, schema, clean)
    now = deps.clock.now()
    with deps.uow() as uow:
        existing = uow.provider_configs.get(principal.tenant_id, provider)
        config = ProviderConfig(
            id=existing.id if existing else deps.ids.new_id("pcfg"),
            tenant_id=principal.tenant_id,
            provider=provider,
            url_id=existing.url_id if existing else deps.ids.new_id("wh"),
            settings=settings,
            sealed_secrets=sealed,
            secret_hints=hints,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        uow.provider_configs.save(config)
        audit(
            uow, deps, principal, "provider_config.registered", "provider_config", config.id,
            config.tenant_id, provider=provider, fields=sorted(clean), replaced=existing is not None,
        )  # fmt: skip
        uow.commit()
    return _view(schema, config)


def update_provider_config(
    deps: Deps, principal: Principal, provider: str, values: Mapping[str, object]
) -> ProviderConfigView:
    """Change only the fields given; `None` clears an optional one."""
    require_scope(principal, Operation.PROVIDER_CONFIG_WRITE)
    require_step_up(principal, StepUpAction.PROVIDER_CONFIG, deps.clock.now())
    schema = _schema(provider)
    clean = _clean(schema, values, partial=True)
    if not clean:
        raise ValidationError("no fields to update", field="body", allowedValues=sorted(schema.fields))
    given = {name: value for name, value in clean.items() if value is not None}
    cleared = {name for name, value in clean.items() if value is None}
    new_settings = {**schema.derive(given), **_settings_of(schema, given)}
    sealed, hints = _seal(deps, schema, given)
    with deps.uow() as uow:
        config = found(uow.provider_configs.get(principal.tenant_id, provider), "provider_config", provider)
        updated = attrs.evolve(
            config,
            settings=_merged(config.settings, new_settings, cleared),
            sealed_secrets=_merged(config.sealed_secrets, sealed, cleared),
            secret_hints=_merged(config.secret_hints, hints, cleared),
            updated_at=deps.clock.now(),
        )
        uow.provider_configs.save(updated)
        audit(
            uow, deps, principal, "provider_config.updated", "provider_config", config.id,
            config.tenant_id, provider=provider, fields=sorted(clean),
        )  # fmt: skip
        uow.commit()
    return _view(schema, updated)


def get_provider_config(deps: Deps, principal: Principal, provider: str) -> ProviderConfigView:
    require_scope(principal, Operation.PROVIDER_CONFIG_READ)
    schema = _schema(provider)
    with deps.uow() as uow:
        config = found(uow.provider_configs.get(principal.tenant_id, provider), "provider_config", provider)
    return _view(schema, config)


def provider_secret(deps: Deps, tenant_id: str, provider: str, name: str) -> str | None:
    """The plaintext of one secret, for an adapter about to call the provider; None if not set."""
    schema = _schema(provider)
    spec = schema.fields.get(name)
    if spec is None or not spec.secret:
        raise ValidationError(
            f"{provider} has no secret named {name}",
            field="name",
            allowedValues=sorted(field for field, spec in schema.fields.items() if spec.secret),
        )
    with deps.uow() as uow:
        config = uow.provider_configs.get(tenant_id, provider)
    sealed = config.sealed_secrets.get(name) if config else None
    return deps.secret_box.open(sealed) if sealed is not None else None


def config_by_url_id(deps: Deps, url_id: str) -> ProviderConfig | None:
    """The configuration an inbound webhook URL points at; None for anything unknown."""
    if not isinstance(url_id, str) or not 1 <= len(url_id) <= 100:
        return None
    with deps.uow() as uow:
        return uow.provider_configs.by_url_id(url_id)


def webhook_path(provider: str, url_id: str) -> str:
    """The inbound route a provider calls: M-Pesa's callback, Pesapal's IPN, the others' webhook."""
    return f"/api/v1/{provider}/{url_id}/{INBOUND_ROUTE.get(provider, 'webhook')}"


@attrs.frozen(repr=False)
class ProviderCredentials:
    """One tenant's credentials for one provider and mode, unsealed: for an adapter about to call
    the provider, never for an answer or a log (no repr shows them)."""

    tenant_id: str
    provider: str
    livemode: bool
    values: Mapping[str, str]  # every secret, unsealed, and every text setting
    webhook_path: str  # where this provider reaches us about this tenant


@attrs.frozen
class InboundEndpoint:
    """What an inbound provider URL stands for: whose it is, which provider, which mode."""

    tenant_id: str
    provider: str
    url_id: str
    livemode: bool
    sandbox_mode: bool = False  # MercadoPago's: the platform's sandbox signs this tenant's events


def credentials_livemode(config: ProviderConfig) -> bool:
    """The mode of a configuration's credentials: its key's prefix (kept in the key's mask), or
    the `environment` setting where the provider names its environments instead."""
    key_field = MODE_KEY_FIELD.get(config.provider)
    if key_field is None:
        return config.settings.get("environment") == "production"
    return config.secret_hints.get(key_field, "").startswith(LIVE_KEY_PREFIXES)


def provider_credentials(deps: Deps, tenant_id: str, provider: str, livemode: bool) -> ProviderCredentials:
    """The tenant's credentials for `provider` in `livemode`, unsealed; `ProviderUnavailable` when it
    has none, or only the other mode's (nothing is sent: the operation waits for a configuration)."""
    _schema(provider)
    with deps.uow.reader() as uow:
        config = uow.provider_configs.get(tenant_id, provider)
    if config is None:
        raise ProviderUnavailable(
            f"the tenant has no {provider} credentials", provider=provider, reason="credentials"
        )
    if credentials_livemode(config) is not livemode:
        raise ProviderUnavailable(
            f"the tenant's {provider} credentials are not for {'live' if livemode else 'test'} mode",
            provider=provider,
            reason="mode",
        )
    values = {name: value for name, value in config.settings.items() if isinstance(value, str)}
    values.update({name: deps.secret_box.open(sealed) for name, sealed in config.sealed_secrets.items()})
    return ProviderCredentials(
        tenant_id, provider, livemode, MappingProxyType(values), webhook_path(provider, config.url_id)
    )


def inbound_endpoint(deps: Deps, provider: str, url_id: str) -> InboundEndpoint | None:
    """The tenant and mode behind an inbound URL of `provider`; None for an unknown URL or one that
    belongs to another provider (both answer 404 alike)."""
    config = config_by_url_id(deps, url_id)
    if config is None or config.provider != provider:
        return None
    return InboundEndpoint(
        tenant_id=config.tenant_id,
        provider=provider,
        url_id=config.url_id,
        livemode=credentials_livemode(config),
        sandbox_mode=config.settings.get("sandbox_mode") is True,
    )


def inbound_path(deps: Deps, tenant_id: str, provider: str) -> str | None:
    """The path of the tenant's inbound URL for `provider` (to hand to the provider), if configured."""
    _schema(provider)
    with deps.uow.reader() as uow:
        config = uow.provider_configs.get(tenant_id, provider)
    return webhook_path(provider, config.url_id) if config is not None else None


def _schema(provider: object) -> ProviderSchema:
    schema = SCHEMAS.get(provider) if isinstance(provider, str) else None
    if schema is None:
        raise ValidationError("unknown provider", field="provider", allowedValues=sorted(SCHEMAS))
    return schema


def _clean(schema: ProviderSchema, values: Mapping[str, object], *, partial: bool) -> dict[str, object]:
    """Every field checked (in name order, so the first error is stable); None kept where allowed."""
    if not isinstance(values, Mapping):
        raise ValidationError("the configuration must be an object", field="body")
    unknown = sorted(str(name) for name in values if name not in schema.fields)
    if unknown:
        raise ValidationError(
            f"unknown field: {unknown[0]}",
            field=unknown[0],
            unknownFields=unknown,
            allowedValues=sorted(schema.fields),
        )
    clean: dict[str, object] = {}
    for name in sorted(values):
        spec, value = schema.fields[name], values[name]
        if value is None:
            if partial and not spec.clearable:
                raise ValidationError(f"{name} cannot be cleared", field=name)
            clean[name] = None
        else:
            clean[name] = spec.check(name, value)
    return clean


def _settings_of(schema: ProviderSchema, values: Mapping[str, object]) -> dict[str, object]:
    return {name: value for name, value in values.items() if not schema.fields[name].secret}


def _seal(
    deps: Deps, schema: ProviderSchema, values: Mapping[str, object]
) -> tuple[dict[str, str], dict[str, str]]:
    """Sealed values for the repository and masked hints for answers; plaintext goes nowhere else."""
    secrets = {name: str(value) for name, value in values.items() if schema.fields[name].secret}
    sealed = {name: deps.secret_box.seal(secret) for name, secret in secrets.items()}
    hints = {name: mask(secret) for name, secret in secrets.items()}
    return sealed, hints


def _merged(current: Mapping[str, Any], changes: Mapping[str, Any], cleared: set[str]) -> dict[str, Any]:
    merged = {name: value for name, value in current.items() if name not in cleared}
    merged.update(changes)
    return merged


def _view(schema: ProviderSchema, config: ProviderConfig) -> ProviderConfigView:
    settings = config.settings
    methods = settings.get("payment_methods_enabled")
    sandbox_mode = settings.get("sandbox_mode")
    return ProviderConfigView(
        id=config.id,
        tenant_id=config.tenant_id,
        provider=config.provider,
        settings=settings,
        secrets=config.secret_hints,
        webhook_path=webhook_path(config.provider, config.url_id),
        created_at=config.created_at,
        updated_at=config.updated_at,
        public_key=settings.get(schema.public_key_field) if schema.public_key_field else None,
        country=settings.get("country"),
        currency=settings.get("currency"),
        sandbox_mode=sandbox_mode if isinstance(sandbox_mode, bool) else None,
        payment_methods_enabled=tuple(methods) if isinstance(methods, list) else None,
    )
