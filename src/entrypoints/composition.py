"""The composition root: which adapters implement the core's ports, chosen from configuration.

    with postgres_core() as (core, sandbox): ...     # DATABASE_URL, or the embedded server
    core, sandbox = in_memory_core()                # everything in memory

Both wire the sandbox provider so that its signed webhooks reach the core at once, as they
would over HTTP, and the five real providers (Stripe, MercadoPago, M-Pesa, Paystack, Pesapal)
at the hosts `config.provider_settings()` names; the janitor asks their status queries, and the
same sandbox instance's (`provider_status_query`).

Invariants
- A real provider's credentials are the tenant's own, read at call time through the core's
  `provider_credentials` for the call's mode: a tenant without them, or with the other mode's,
  gets `ProviderUnavailable` before anything is sent. Nothing here keeps or logs a secret.
- The core is built after the providers and the providers' credentials come from the core: the
  providers hold a `CoreSlot`, filled once the core exists.
- Callback URLs handed to providers are the tenant's inbound routes under the public base URL (a
  tenant's `callback_base_url` setting wins): M-Pesa's CallBackURL, Pesapal's IPN URL, and
  MercadoPago's `notification_url` (only when the public URL is https, as MercadoPago must reach
  it publicly).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from adapters.auth.totp import PyOtpTotp
from adapters.memory.system import InMemorySecretBox, RandomIds, RandomSecrets, SystemClock
from adapters.postgres.deliveries import PostgresDeliveryStore
from adapters.postgres.janitor import PostgresJanitorStore
from adapters.postgres.migrate import migrate
from adapters.postgres.pool import make_pool
from adapters.postgres.server import open_database
from adapters.postgres.uow import PostgresUnitOfWorkFactory
from adapters.providers.http_policy import Credentials, ProviderHttp
from adapters.providers.mercadopago import MercadoPagoProvider, Notification
from adapters.providers.mpesa import MpesaProvider
from adapters.providers.paystack import PaystackProvider
from adapters.providers.pesapal import PesapalProvider
from adapters.providers.sandbox import SandboxProvider, Webhook
from adapters.providers.stripe import StripeProvider
from adapters.providers.webhook_sender import HttpxWebhookSender
from entrypoints import config
from entrypoints.config import ProviderSettings
from payments_core import PaymentsCore, bootstrap
from payments_core.errors import ProviderUnavailable
from payments_core.ports import (
    Clock,
    PaymentProvider,
    ProviderEvent,
    ProviderEventType,
    SecretBox,
    UnitOfWorkFactory,
)
from payments_core.ports.deliveries import DeliveryStore
from payments_core.ports.janitor import CheckKind, JanitorStore, PendingCheck, ProviderVerdict
from payments_core.services.janitor import Answer, StatusTable
from payments_core.services.provider_events import REFUND_EVENTS


class CoreSlot:
    """The core, once built: the providers need it for credentials, and it needs the providers."""

    def __init__(self) -> None:
        self._core: PaymentsCore | None = None

    def fill(self, core: PaymentsCore) -> None:
        self._core = core

    @property
    def core(self) -> PaymentsCore:
        if self._core is None:
            raise ProviderUnavailable("the providers are not wired to a core yet", reason="starting")
        return self._core


class PlatformStripe(StripeProvider):
    """Stripe with the platform endpoint's secret, if the deployment has one. An event that comes
    with no secret to check it against is not the sender's fault: `ProviderUnavailable` (503), so
    Stripe retries once the secret is configured, instead of an acknowledged, unverified event."""

    def __init__(
        self, credentials: Credentials, clock: Clock, platform_secret: str | None, base_url: str
    ) -> None:
        super().__init__(
            credentials, clock, webhook_secret=platform_secret, http=ProviderHttp("stripe", base_url)
        )
        self._has_platform_secret = bool(platform_secret)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[ProviderEvent]:
        if secret is None and not self._has_platform_secret:
            raise ProviderUnavailable(
                "no stripe webhook secret is configured", provider="stripe", reason="webhook secret"
            )
        return super().parse_webhook(headers, body, secret)


def tenant_credentials(slot: CoreSlot, provider: str, public_url: str) -> Credentials:
    """`(tenant, livemode) -> credentials` from the tenant's configuration, with the callback URLs
    the adapter hands to the provider."""

    def credentials(tenant_id: str, livemode: bool) -> Mapping[str, str]:
        found = slot.core.provider_config.provider_credentials(tenant_id, provider, livemode)
        base = found.values.get("callback_base_url") or public_url
        inbound = base.rstrip("/") + found.webhook_path
        callbacks = {
            "mpesa": {"callback_url": inbound},
            "pesapal": {"ipn_url": inbound, "callback_url": public_url.rstrip("/") + "/"},
        }.get(provider, {})
        return {**callbacks, **found.values}

    return credentials


def notification_url(slot: CoreSlot, public_url: str) -> Callable[[str], str | None]:
    """Where MercadoPago notifies about a tenant's payments: its route, if public and https."""

    def url(tenant_id: str) -> str | None:
        if not public_url.startswith("https://"):
            return None
        path = slot.core.provider_config.inbound_path(tenant_id, "mercadopago")
        return public_url.rstrip("/") + path if path else None

    return url


def real_providers(slot: CoreSlot, clock: Clock, settings: ProviderSettings) -> dict[str, PaymentProvider]:
    """The five real providers at the configured hosts, with credentials read through `slot`."""

    def creds(provider: str) -> Credentials:
        return tenant_credentials(slot, provider, settings.public_url)

    return {
        "stripe": PlatformStripe(creds("stripe"), clock, settings.stripe_webhook_secret, settings.stripe_url),
        "mercadopago": MercadoPagoProvider(
            creds("mercadopago"),
            settings.mercadopago_url,
            notification_url=notification_url(slot, settings.public_url),
            now=clock.now,
        ),
        "mpesa": MpesaProvider(creds("mpesa"), clock, settings.mpesa_url),
        "paystack": PaystackProvider(creds("paystack"), settings.paystack_url, now=clock.now),
        "pesapal": PesapalProvider(creds("pesapal"), clock, settings.pesapal_url),
    }


def _verdict(outcome: ProviderEventType | None) -> ProviderVerdict | None:
    return None if outcome is None else ProviderVerdict(outcome)


def _stripe_answers(stripe: StripeProvider) -> dict[tuple[CheckKind, str], Answer]:
    def checkout(check: PendingCheck) -> ProviderVerdict | None:
        return _verdict(stripe.checkout_status(check.tenant_id, check.livemode, check.reference))

    return {(CheckKind.CHECKOUT, "stripe"): checkout}


def _mercadopago_answers(mercadopago: MercadoPagoProvider) -> dict[tuple[CheckKind, str], Answer]:
    def payment(check: PendingCheck) -> ProviderVerdict | None:
        return _verdict(mercadopago.payment_status(check.tenant_id, check.livemode, check.reference))

    def refund(check: PendingCheck) -> ProviderVerdict | None:
        """A refund's outcome is part of its payment's state, as a notification's confirmation reads it."""
        if not check.payment_reference:
            return None
        asked = Notification("payment", "janitor", check.payment_reference, check.livemode)
        for event in mercadopago.confirm(check.tenant_id, check.livemode, asked):
            if event.type in REFUND_EVENTS and event.reference == check.reference:
                return ProviderVerdict(event.type, event.amount, event.details)
        return None

    return {(CheckKind.PAYMENT, "mercadopago"): payment, (CheckKind.REFUND, "mercadopago"): refund}


def _mpesa_answers(mpesa: MpesaProvider) -> dict[tuple[CheckKind, str], Answer]:
    def checkout(check: PendingCheck) -> ProviderVerdict | None:
        return _verdict(mpesa.stk_status(check.tenant_id, check.livemode, check.reference))

    return {(CheckKind.CHECKOUT, "mpesa"): checkout}


def _paystack_answers(paystack: PaystackProvider) -> dict[tuple[CheckKind, str], Answer]:
    def transaction(check: PendingCheck) -> ProviderVerdict | None:
        return _verdict(paystack.verify(check.tenant_id, check.livemode, check.reference))

    return {(CheckKind.CHECKOUT, "paystack"): transaction, (CheckKind.PAYMENT, "paystack"): transaction}


def _pesapal_answers(pesapal: PesapalProvider) -> dict[tuple[CheckKind, str], Answer]:
    def checkout(check: PendingCheck) -> ProviderVerdict | None:
        event = pesapal.order_event(check.tenant_id, check.livemode, check.reference)
        return None if event is None else ProviderVerdict(event.type, event.amount, event.details)

    return {(CheckKind.CHECKOUT, "pesapal"): checkout}


def _sandbox_answers(sandbox: SandboxProvider) -> dict[tuple[CheckKind, str], Answer]:
    """Everything the sandbox makes: a checkout (asked by its session's reference), a direct
    payment (a PSE one waits), a refund or a payout told to wait. The sandbox names its kinds as
    the janitor's check kinds are named."""

    def made(check: PendingCheck) -> ProviderVerdict | None:
        return _verdict(sandbox.outcome(check.kind.value, check.reference))

    return {(kind, "sandbox"): made for kind in CheckKind}


def provider_status_query(providers: Mapping[str, PaymentProvider]) -> StatusTable:
    """What the janitor may ask each wired provider, through the adapters' status queries.

    Asked: the sandbox, when given (checkouts, direct payments, refunds and payouts; only the
    instance that made them knows them, see `wire_core`); Stripe
    Checkout Sessions; MercadoPago direct payments (card, PSE) and refunds (read from their
    payment); M-Pesa STK pushes; Paystack transactions (checkout and saved-card charges); Pesapal
    orders. Not asked, as no adapter offers the query: MercadoPago Checkout Pro sessions (a
    preference is not a payment), Stripe, Paystack and Pesapal refunds, and every real payout
    (M-Pesa B2C/B2B, Paystack transfers): those are left to their webhooks and to reconciliation.
    """
    answers: dict[tuple[CheckKind, str], Answer] = {}
    for provider in providers.values():
        if isinstance(provider, SandboxProvider):
            answers |= _sandbox_answers(provider)
        elif isinstance(provider, StripeProvider):
            answers |= _stripe_answers(provider)
        elif isinstance(provider, MercadoPagoProvider):
            answers |= _mercadopago_answers(provider)
        elif isinstance(provider, MpesaProvider):
            answers |= _mpesa_answers(provider)
        elif isinstance(provider, PaystackProvider):
            answers |= _paystack_answers(provider)
        elif isinstance(provider, PesapalProvider):
            answers |= _pesapal_answers(provider)
    return StatusTable(answers)


def wire_core(
    uow: UnitOfWorkFactory,
    clock: Clock,
    sandbox_secret: str | None = None,
    secret_box: SecretBox | None = None,
    delivery_store: DeliveryStore | None = None,
    providers: ProviderSettings | None = None,
    janitor_store: JanitorStore | None = None,
    janitor_asks_sandbox: bool = True,
) -> tuple[PaymentsCore, SandboxProvider]:
    """The core with the sandbox provider, whose signed webhooks reach the core at once, the real
    providers (`providers`, else from the environment) and, given a delivery store, the outbound
    webhook deliveries, sent with httpx; given a janitor store, the janitor, asking the status
    queries of these very providers. The sandbox is asked only when `janitor_asks_sandbox`: it
    alone knows its objects, so a process that does not serve the sandbox (a separate worker or
    janitor) leaves them to the one that does rather than claim them and hear nothing."""
    secrets = RandomSecrets()
    sandbox = SandboxProvider(clock, signing_secret=sandbox_secret or f"whsec_{secrets.token(24)}")
    slot = CoreSlot()
    real = real_providers(slot, clock, providers if providers is not None else config.provider_settings())
    wired: dict[str, PaymentProvider] = {"sandbox": sandbox, **real}
    core = bootstrap(
        uow=uow,
        providers=wired,
        clock=clock,
        ids=RandomIds(),
        secrets=secrets,
        secret_box=secret_box or InMemorySecretBox(),
        totp=PyOtpTotp(),
        delivery_store=delivery_store,
        webhook_sender=HttpxWebhookSender() if delivery_store is not None else None,
        jitter=random.SystemRandom().random,
        janitor_store=janitor_store,
        status_query=provider_status_query(wired if janitor_asks_sandbox else real)
        if janitor_store is not None
        else None,
    )

    slot.fill(core)

    def deliver(webhook: Webhook) -> object:
        return core.provider_events.receive_webhook("sandbox", webhook.headers, webhook.body)

    sandbox.deliver = deliver
    return core, sandbox


def in_memory_core(
    clock: Clock | None = None, sandbox_secret: str | None = None
) -> tuple[PaymentsCore, SandboxProvider]:
    from adapters.memory.deliveries import InMemoryDeliveryStore  # noqa: PLC0415
    from adapters.memory.janitor import InMemoryJanitorStore  # noqa: PLC0415
    from adapters.memory.uow import InMemoryStore, InMemoryUnitOfWorkFactory  # noqa: PLC0415

    clock = clock or SystemClock()
    store = InMemoryStore(clock)
    return wire_core(
        InMemoryUnitOfWorkFactory(store),
        clock,
        sandbox_secret,
        delivery_store=InMemoryDeliveryStore(store),
        janitor_store=InMemoryJanitorStore(store),
    )


@contextmanager
def postgres_core(sandbox_secret: str | None = None) -> Iterator[tuple[PaymentsCore, SandboxProvider]]:
    """The core on PostgreSQL (migrated first); the pool and an embedded server stop on exit.
    For the commands that serve no sandbox (worker, janitor, reconcile): their janitor does not ask it."""
    database = open_database()
    pool = None
    try:
        migrate(database.url)
        pool = make_pool(database.url)
        clock = SystemClock()
        yield wire_core(
            PostgresUnitOfWorkFactory(pool, clock),
            clock,
            sandbox_secret,
            config.secret_box(),
            PostgresDeliveryStore(pool),
            janitor_store=PostgresJanitorStore(pool),
            janitor_asks_sandbox=False,
        )
    finally:
        if pool is not None:
            pool.close()
        if database.server is not None:
            database.server.cleanup()
