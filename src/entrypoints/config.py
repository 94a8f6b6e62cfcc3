"""Deployment configuration from the environment, with safe local defaults.

- `PAYMENTS_HOME` (default `.payments` under the working directory) holds the embedded database and,
  when not given by the environment, the keys below, created on first use with mode 0600.
- `PAYMENTS_SECRET_KEYS`: Fernet keys (comma-separated, newest first) for secrets at rest;
  else `PAYMENTS_HOME/secret.keys`.
- `PAYMENTS_JWT_SECRET` (HS256, ≥ 32 characters), else `PAYMENTS_HOME/jwt.secret`; or
  `PAYMENTS_JWT_ALGORITHM=RS256` with `PAYMENTS_JWT_PUBLIC_KEY` (a PEM, or a path to one) and,
  to issue tokens, `PAYMENTS_JWT_PRIVATE_KEY`. `PAYMENTS_JWT_ISSUER` / `PAYMENTS_JWT_AUDIENCE`.
- Real providers (`provider_settings`): `PAYMENTS_STRIPE_URL`, `PAYMENTS_MERCADOPAGO_URL`,
  `PAYMENTS_MPESA_URL`, `PAYMENTS_PAYSTACK_URL`, `PAYMENTS_PESAPAL_URL` (default: each provider's
  production host: the core calls real providers in live mode only, test mode goes to the
  sandbox); `PAYMENTS_STRIPE_WEBHOOK_SECRET`, the `whsec_…` of the platform's Stripe endpoint
  (`POST /api/v1/webhooks/stripe`; unset, that route answers 503 and each tenant's own endpoint
  `/api/v1/stripe/{url_id}/webhook` verifies with the tenant's `webhook_secret`);
  `PAYMENTS_PUBLIC_URL`, the base URL providers call back (M-Pesa callbacks, Pesapal IPNs,
  MercadoPago notifications) unless a tenant's configuration names its own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from adapters.crypto.secret_box import FernetSecretBox
from adapters.postgres.server import payments_home

if TYPE_CHECKING:
    from adapters.auth.tokens import TokenSettings

DEFAULT_PUBLIC_URL: Final = "http://127.0.0.1:8000"


@attrs.frozen
class ProviderSettings:
    """Where the real providers are reached, and what the platform itself holds for them."""

    stripe_url: str = "https://api.stripe.com"
    mercadopago_url: str = "https://api.mercadopago.com"
    mpesa_url: str = "https://api.safaricom.co.ke"
    paystack_url: str = "https://api.paystack.co"
    pesapal_url: str = "https://pay.pesapal.com/v3"
    stripe_webhook_secret: str | None = attrs.field(default=None, repr=False)
    public_url: str = DEFAULT_PUBLIC_URL


def provider_settings(environ: Mapping[str, str] | None = None) -> ProviderSettings:
    env = os.environ if environ is None else environ
    defaults = ProviderSettings()

    def url(name: str, default: str) -> str:
        return env.get(name, "").strip().rstrip("/") or default

    return ProviderSettings(
        stripe_url=url("PAYMENTS_STRIPE_URL", defaults.stripe_url),
        mercadopago_url=url("PAYMENTS_MERCADOPAGO_URL", defaults.mercadopago_url),
        mpesa_url=url("PAYMENTS_MPESA_URL", defaults.mpesa_url),
        paystack_url=url("PAYMENTS_PAYSTACK_URL", defaults.paystack_url),
        pesapal_url=url("PAYMENTS_PESAPAL_URL", defaults.pesapal_url),
        stripe_webhook_secret=env.get("PAYMENTS_STRIPE_WEBHOOK_SECRET", "").strip() or None,
        public_url=url("PAYMENTS_PUBLIC_URL", defaults.public_url),
    )


def _private_file(path: Path, make: str) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make + "\n")
    return path.read_text().strip()


def secret_box(environ: Mapping[str, str] | None = None) -> FernetSecretBox:
    env = os.environ if environ is None else environ
    listed = [key.strip() for key in env.get("PAYMENTS_SECRET_KEYS", "").split(",") if key.strip()]
    if listed:
        return FernetSecretBox(listed)
    return FernetSecretBox.from_key_file(payments_home() / "secret.keys")


def _pem(value: str | None) -> str | None:
    if value and not value.lstrip().startswith("-----") and Path(value).is_file():
        return Path(value).read_text()
    return value


def token_settings(environ: Mapping[str, str] | None = None) -> TokenSettings:
    from adapters.auth.tokens import TokenSettings  # noqa: PLC0415 - the batch commands sign nothing

    env = os.environ if environ is None else environ
    issuer = env.get("PAYMENTS_JWT_ISSUER", "payments-core")
    audience = env.get("PAYMENTS_JWT_AUDIENCE", "payments-api")
    if env.get("PAYMENTS_JWT_ALGORITHM", "HS256") == "RS256":
        return TokenSettings(
            algorithm="RS256",
            issuer=issuer,
            audience=audience,
            public_key=_pem(env.get("PAYMENTS_JWT_PUBLIC_KEY")),
            private_key=_pem(env.get("PAYMENTS_JWT_PRIVATE_KEY")),
        )
    secret = env.get("PAYMENTS_JWT_SECRET") or _private_file(
        payments_home() / "jwt.secret", secrets.token_urlsafe(48)
    )
    return TokenSettings(secret=secret, issuer=issuer, audience=audience)
