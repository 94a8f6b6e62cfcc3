"""Tenants: created by the platform operator, each with its own chart of accounts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from payments_core.errors import IdempotencyConflict, ValidationError
from payments_core.model.access import Tenant
from payments_core.policies import Operation, Principal, require_scope
from payments_core.services.context import (
    KNOWN_PROVIDERS,
    PAYOUT_PROVIDERS,
    Deps,
    audit,
    open_chart,
    tenant_of,
)
from payments_core.services.validation import validate_withdrawal_details


def create_tenant(
    deps: Deps,
    tenant_id: str,
    name: str,
    currency: str,
    providers: Iterable[str] = ("sandbox",),
    livemode: bool = True,
    method_providers: Mapping[str, str] | None = None,
    rate_limit_scale: int = 1,
) -> Tenant:
    """Create a tenant and open its accounts; creating the same tenant again is a no-op."""
    chosen = tuple(providers)
    unknown = sorted(set(chosen) - set(KNOWN_PROVIDERS))
    if unknown or not chosen:
        raise ValidationError(
            "unknown or no providers", field="providers", allowedValues=list(KNOWN_PROVIDERS)
        )
    tenant = Tenant(
        id=tenant_id,
        name=name,
        currency=currency,
        created_at=deps.clock.now(),
        livemode=livemode,
        providers=chosen,
        method_providers=method_providers or {},
        rate_limit_scale=rate_limit_scale,
    )
    with deps.uow() as uow:
        existing = uow.tenants.get(tenant_id)
        if existing is not None:
            if _definition(existing) != _definition(tenant):
                raise IdempotencyConflict("a tenant with this id exists already", tenantId=tenant_id)
            return existing
        open_chart(uow, tenant_id, currency)
        uow.tenants.add(tenant)
        uow.commit()
    return tenant


def _definition(tenant: Tenant) -> tuple[object, ...]:
    return (
        tenant.name,
        tenant.currency,
        tenant.livemode,
        tenant.providers,
        dict(tenant.method_providers),
        tenant.rate_limit_scale,
    )


def tenant_ids(deps: Deps) -> list[str]:
    """Every tenant's id: for the operator's tools (the CLI), never for a tenant's caller."""
    with deps.uow.reader() as uow:
        return uow.tenants.ids()


def get_tenant(deps: Deps, tenant_id: str) -> Tenant:
    """The tenant (for the operator's tools and the API edge), or `RESOURCE_NOT_FOUND`."""
    with deps.uow() as uow:
        return tenant_of(uow, tenant_id)


def rate_limit_scale(deps: Deps, tenant_id: str) -> int:
    """How many times the default API rate limits this tenant's plan allows (1 if unknown)."""
    with deps.uow() as uow:
        tenant = uow.tenants.get(tenant_id)
    return tenant.rate_limit_scale if tenant is not None else 1


def configure_withdrawal_method(
    deps: Deps, principal: Principal, method_type: str, details: Mapping[str, str]
) -> Tenant:
    """The tenant's usual payout destination, shown as `configured_method` in withdrawal options."""
    require_scope(principal, Operation.WITHDRAWAL_APPROVE)
    if method_type not in PAYOUT_PROVIDERS:
        raise ValidationError(
            "unknown withdrawal method", field="method_type", allowedValues=sorted(PAYOUT_PROVIDERS)
        )
    clean = validate_withdrawal_details(method_type, details)
    with deps.uow() as uow:
        tenant = tenant_of(uow, principal.tenant_id)
        updated = attrs.evolve(tenant, withdrawal_method=method_type, withdrawal_details=clean)
        uow.tenants.update(updated)
        audit(
            uow,
            deps,
            principal,
            "wallet.withdrawal_method.configured",
            "tenant",
            tenant.id,
            tenant.id,
            methodType=method_type,
        )
        uow.commit()
    return updated


def payment_currency(deps: Deps, tenant_id: str, provider: str) -> str:
    """The currency of an amount that names none: the tenant's setting for `provider` (seed 001's
    MercadoPago `currency`), else the tenant's own. A setting of the tenant, not something the
    caller asks to see, so no scope is needed to apply it."""
    with deps.uow.reader() as uow:
        config = uow.provider_configs.get(tenant_id, provider)
        if config is not None and isinstance(config.settings.get("currency"), str):
            return str(config.settings["currency"])
        return tenant_of(uow, tenant_id).currency
