"""A tenant's provider credentials and settings (seed 000 POST/PATCH, seed 001 GET /mercadopago).

The use cases that store, read and hand out a configuration. What each provider's configuration
may hold, how it is checked and masked, is in `provider_config_schema`; what the use cases answer
and how a configuration's mode is read, in `provider_config_views`. Every name stays importable
from here.

Invariants
- A secret reaches the repository only sealed by `deps.secret_box`; answers carry its masked hint
  (`APP_USR-…1234`), computed once at write time and kept in `ProviderConfig.secret_hints`, so a
  read never opens the box. Only `provider_secret` and `provider_credentials` open it, for an
  adapter at call time or a route verifying a signature.
- Register (POST) replaces the whole configuration but keeps its id, its `url_id` and its
  `created_at`: the webhook URL already given to the provider keeps working, and a retried POST
  leaves the same state (idempotent). Update (PATCH) changes only the fields it names; `None`
  clears an optional field.
- Audit events name the fields written, never their values.
- Every read and write is scoped by the caller's tenant; the only unscoped lookup is by `url_id`,
  which is how an inbound provider webhook finds its tenant.

Modes (how a configuration's mode is read: see `provider_config_views`):
`provider_credentials` answers the credentials for their own mode only, `ProviderUnavailable` for
the other one, so a test key never reaches live mode nor a live key test mode. Changing mode is a
new register (POST). Both modes at once are not kept: the core sends test-mode traffic to the
built-in sandbox, so a real provider is called in live mode; a test set serves only the provider's
own test environment (confirming its webhooks), and holding both would need (tenant, provider,
mode) as the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from payments_core.errors import ProviderUnavailable, ValidationError
from payments_core.model.integrations import ProviderConfig
from payments_core.policies import Operation, Principal, StepUpAction, require_scope, require_step_up
from payments_core.services.context import Deps, audit, found
from payments_core.services.provider_config_schema import (
    ENVIRONMENTS,
    MASK_HIDDEN,
    MAX_SECRET_LENGTH,
    MAX_TEXT_LENGTH,
    MERCADOPAGO_COUNTRIES,
    SCHEMAS,
    SHORT_SECRET,
    FieldCheck,
    FieldSpec,
    ProviderSchema,
    mask,
)
from payments_core.services.provider_config_views import (
    INBOUND_ROUTE,
    LIVE_KEY_PREFIXES,
    MODE_KEY_FIELD,
    InboundEndpoint,
    ProviderConfigView,
    ProviderCredentials,
    credentials_livemode,
    webhook_path,
)

__all__ = [
    "ENVIRONMENTS",
    "INBOUND_ROUTE",
    "LIVE_KEY_PREFIXES",
    "MASK_HIDDEN",
    "MAX_SECRET_LENGTH",
    "MAX_TEXT_LENGTH",
    "MERCADOPAGO_COUNTRIES",
    "MODE_KEY_FIELD",
    "SCHEMAS",
    "SHORT_SECRET",
    "FieldCheck",
    "FieldSpec",
    "InboundEndpoint",
    "ProviderConfigView",
    "ProviderCredentials",
    "ProviderSchema",
    "config_by_url_id",
    "credentials_livemode",
    "get_provider_config",
    "inbound_endpoint",
    "inbound_path",
    "mask",
    "provider_credentials",
    "provider_secret",
    "register_provider_config",
    "update_provider_config",
    "webhook_path",
]


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
