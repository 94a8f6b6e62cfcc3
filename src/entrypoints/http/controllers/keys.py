"""Seed 003: API keys, `POST /keys:create` and `POST /keys:revoke` (seed 003's `/api/keys:…`).

Invariants
- The secret appears in the answer of `keys:create` and nowhere else: not in the revoke answer,
  not in an audit event (the core keeps only its digest). An `Idempotency-Key` replay (same tenant,
  same request, within the store's 24 h) returns the same answer with `"secret": null`: the secret
  is never kept in the idempotency store, and no second key is minted.
- Only a person with `api_keys.manage` and a fresh MFA creates or revokes keys (the core checks);
  an API key never mints or revokes one.
- The colon is part of the literal path: each handler is mounted at its full `/keys:verb` path, since
  Litestar routes a colon literally only outside a controller prefix join (`/keys` + `:create` would
  become `/keys/:create`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, post
from litestar.params import JSONBody

from entrypoints.http.dependencies import Caller, IdempotencyKey, Runtime
from entrypoints.http.views import iso
from payments_core.model.access import ApiKey
from payments_core.services.api_keys import MAX_NAME_LENGTH

MAX_KEY_ID_LENGTH: Final = 100
MAX_SCOPES: Final = 32


class CreateKeyBody(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=MAX_NAME_LENGTH)]
    scopes: Annotated[list[str], msgspec.Meta(max_length=MAX_SCOPES)] | None = None
    livemode: bool | None = None


class RevokeKeyBody(msgspec.Struct, rename="camel"):
    key_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_ID_LENGTH)]


def key_json(key: ApiKey) -> dict[str, Any]:
    """What may be said about a key at any time: never its secret, not even its digest."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "last4": key.last4,
        "scopes": sorted(key.scopes),
        "livemode": key.livemode,
        "created_at": iso(key.created_at),
        "revokedAt": iso(key.revoked_at),
    }


class ApiKeysController(Controller):
    path = "/"
    tags = ["API keys (seed 003)"]

    @post(
        "/keys:create",
        status_code=201,
        sync_to_thread=True,
        opt={"idempotent": True, "replay_without": ("secret",), "rate_limit": "api_keys.manage"},
    )
    def create_key(
        self,
        runtime: Runtime,
        principal: Caller,
        data: JSONBody[CreateKeyBody],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """The only answer that ever holds the secret: the client must store it now."""
        created = runtime.core.api_keys.create_api_key(principal, data.name, data.livemode, data.scopes)
        return {**key_json(created.key), "secret": created.secret}

    @post("/keys:revoke", status_code=200, sync_to_thread=True, opt={"rate_limit": "api_keys.manage"})
    def revoke_key(
        self, runtime: Runtime, principal: Caller, data: JSONBody[RevokeKeyBody]
    ) -> dict[str, Any]:
        """Revoking twice answers the first revocation's time (the core keeps it)."""
        revoked = runtime.core.api_keys.revoke_api_key(principal, data.key_id)
        return {"success": True, "keyId": revoked.id, "revokedAt": iso(revoked.revoked_at)}


ROUTES = [ApiKeysController]
