"""What the provider-configuration use cases hand out, and how a stored configuration's mode and
inbound URL are read.

`ProviderConfigView` is the API's answer (settings as stored, secrets only as their masked hints),
`ProviderCredentials` the unsealed set an adapter calls a provider with, `InboundEndpoint` what an
inbound provider URL stands for. The use cases that build them are in `provider_config`.

Modes: one configuration per (tenant, provider) holds ONE credential set, and its mode is the
credentials' own: the key's prefix for Stripe (`sk_live_`/`rk_live_` live, `sk_test_`/`rk_test_`
test), Paystack (`sk_live_`/`sk_test_`) and MercadoPago (`APP_USR-` live, `TEST-` test); the
`environment` setting for M-Pesa and Pesapal (`production` live, `sandbox` test).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from payments_core.model.integrations import ProviderConfig

# Which secret's prefix tells the mode (see "Modes"); the other providers have `environment`.
MODE_KEY_FIELD: Final[Mapping[str, str]] = MappingProxyType(
    {"stripe": "secret_key", "paystack": "secret_key", "mercadopago": "access_token"}
)
LIVE_KEY_PREFIXES: Final = ("sk_live_", "rk_live_", "APP_USR-")
INBOUND_ROUTE: Final[Mapping[str, str]] = MappingProxyType({"mpesa": "callback", "pesapal": "ipn"})


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
