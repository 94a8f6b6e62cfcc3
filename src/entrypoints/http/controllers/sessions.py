"""Seed 000: a customer's payment sessions, and the tenant's MercadoPago configuration.

Invariants
- Provider secrets (`access_token`, `webhook_secret`) are answered only in the masked form the core
  computed when it sealed them (`APP_USR-…1234`); no handler here ever sees their plaintext again.
- `total_amount` is in decimal major units (an exact JSON number), with its `currency` beside it.
- These static paths (`/payments/sessions`, `/payments/mercadopago-config`) sit beside seed 004's
  `/payments/{payment_id}`; Litestar's router tries static segments first, so they are never read
  as a payment id.
- PATCH tells an absent field (left as is) from `null` (cleared); unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from entrypoints.http.dependencies import Caller, Runtime
from entrypoints.http.views import iso, major
from payments_core.services.checkout import SessionView
from payments_core.services.provider_config import ProviderConfigView

PROVIDER: Final = "mercadopago"
SEED_SETTINGS: Final = ("mp_user_id", "mp_application_id", "mp_public_key")
SEED_SECRETS: Final = ("access_token", "webhook_secret")
# Seed 001's attributes of the same configuration, settable here since seed 001 only reads them.
EXTRA_SETTINGS: Final = ("country", "currency", "sandbox_mode", "payment_methods_enabled")


class RegisterConfigBody(msgspec.Struct, forbid_unknown_fields=True):
    """The whole configuration; lengths and formats are the core's to check (it names the field)."""

    access_token: str
    webhook_secret: str | None = None
    mp_user_id: str | None = None
    mp_application_id: str | None = None
    mp_public_key: str | None = None
    country: str | None = None
    currency: str | None = None
    sandbox_mode: bool | None = None
    payment_methods_enabled: list[str] | None = None


class UpdateConfigBody(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; `null` clears an optional one."""

    access_token: str | msgspec.UnsetType | None = msgspec.UNSET
    webhook_secret: str | msgspec.UnsetType | None = msgspec.UNSET
    mp_user_id: str | msgspec.UnsetType | None = msgspec.UNSET
    mp_application_id: str | msgspec.UnsetType | None = msgspec.UNSET
    mp_public_key: str | msgspec.UnsetType | None = msgspec.UNSET
    country: str | msgspec.UnsetType | None = msgspec.UNSET
    currency: str | msgspec.UnsetType | None = msgspec.UNSET
    sandbox_mode: bool | msgspec.UnsetType | None = msgspec.UNSET
    payment_methods_enabled: list[str] | msgspec.UnsetType | None = msgspec.UNSET


def session_json(view: SessionView) -> dict[str, Any]:
    session = view.session
    return {
        "id": session.id,
        "tenant_id": session.tenant_id,
        "client_phone_number": session.client_phone_number,
        "total_amount": major(view.total_amount),
        "currency": view.total_amount.currency,
        "selected_payment_method": session.selected_payment_method,
        "payment_link": view.payment_link,
        "payment_id_external": view.payment_id_external,
        "preference_id": view.preference_id,
        "current_step": session.current_step,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "status": session.status.value,
        "confirmed_at": iso(session.confirmed_at),
    }


def config_json(view: ProviderConfigView) -> dict[str, Any]:
    """Seed 000's fields (secrets masked), then seed 001's settings of the same configuration."""
    body: dict[str, Any] = {"tenant_id": view.tenant_id}
    body.update({name: view.secrets.get(name) for name in SEED_SECRETS})
    body.update({name: view.settings.get(name) for name in SEED_SETTINGS})
    body.update({name: view.settings.get(name) for name in EXTRA_SETTINGS})
    body["created_at"] = iso(view.created_at)
    body["updated_at"] = iso(view.updated_at)
    return body


def _given(body: msgspec.Struct) -> dict[str, Any]:
    """The fields the client sent (a register body's omitted optionals are None: not sent)."""
    fields = msgspec.structs.asdict(body)
    return {name: value for name, value in fields.items() if value is not msgspec.UNSET}


class SessionsController(Controller):
    path = "/payments"
    tags = ["payment sessions and MercadoPago configuration (seed 000)"]

    @get("/sessions", sync_to_thread=True)
    def list_sessions(
        self,
        runtime: Runtime,
        principal: Caller,
        client_phone_number: Annotated[str, QueryParameter(max_length=32)],
    ) -> dict[str, Any]:
        views = runtime.core.checkout.list_sessions_by_phone(principal, client_phone_number)
        return {"sessions": [session_json(view) for view in views]}

    @get("/sessions/{session_id:str}", sync_to_thread=True)
    def get_session(self, runtime: Runtime, principal: Caller, session_id: FromPath[str]) -> dict[str, Any]:
        return session_json(runtime.core.checkout.get_session(principal, session_id))

    @get("/mercadopago-config", sync_to_thread=True)
    def get_config(self, runtime: Runtime, principal: Caller) -> dict[str, Any]:
        return config_json(runtime.core.provider_config.get_provider_config(principal, PROVIDER))

    @post("/mercadopago-config", status_code=201, sync_to_thread=True, opt={"idempotent": True})
    def register_config(
        self, runtime: Runtime, principal: Caller, data: JSONBody[RegisterConfigBody]
    ) -> dict[str, Any]:
        values = {name: value for name, value in _given(data).items() if value is not None}
        view = runtime.core.provider_config.register_provider_config(principal, PROVIDER, values)
        return config_json(view)

    @patch("/mercadopago-config", sync_to_thread=True)
    def update_config(
        self, runtime: Runtime, principal: Caller, data: JSONBody[UpdateConfigBody]
    ) -> dict[str, Any]:
        view = runtime.core.provider_config.update_provider_config(principal, PROVIDER, _given(data))
        return config_json(view)


ROUTES = [SessionsController]
