"""API keys: created by a person, shown once, stored hashed, revocable (seed 003 `keys:create`/`keys:revoke`).

Invariants
- The plaintext secret exists only in the `CreatedApiKey` returned by `create_api_key`; the
  repository keeps its SHA-256 hex digest, its last four characters and its prefix, and no audit
  event ever carries it.
- Creating or revoking a key needs `api_keys.manage` and a person with a fresh MFA; an API key can
  never mint or revoke keys.
- No privilege escalation: a key's scopes are a subset of its creator's, and a test-mode creator
  cannot mint a live key.
- A revoked or unknown secret fails authentication with the same `UNAUTHENTICATED` error, so a
  caller cannot tell a revoked key from a made-up one. The stored digest is compared in constant time.
- Revocation is idempotent: revoking a revoked key answers it unchanged, with its first `revoked_at`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Final

import attrs

from payments_core.errors import InsufficientPermissions, Unauthenticated, ValidationError
from payments_core.model.access import ApiKey
from payments_core.model.common import check_text
from payments_core.policies import Operation, Principal, Scope, StepUpAction, require_scope, require_step_up
from payments_core.services.context import Deps, audit, found

LIVE_PREFIX: Final = "sk_live"
TEST_PREFIX: Final = "sk_test"
SECRET_BYTES: Final = 24
MAX_NAME_LENGTH: Final = 100
DEFAULT_KEY_SCOPES: Final = frozenset(
    {Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE, Scope.CONVERSATIONS_VIEW, Scope.FINANCE_VIEW}
)
KNOWN_SCOPES: Final = frozenset(scope.value for scope in Scope)
# The URL-safe alphabet of `SecretGenerator.token`; the length bound keeps hashing cheap for junk input.
_SECRET_SHAPE: Final = re.compile(r"sk_(?:test|live)_[A-Za-z0-9_-]{16,128}")
_UNAUTHENTICATED: Final = "invalid or revoked API key"


@attrs.frozen
class CreatedApiKey:
    """The new key and its secret; the only time the secret is ever shown (seed 003's response)."""

    key: ApiKey
    secret: str = attrs.field(repr=False)

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def prefix(self) -> str:
        return self.key.prefix

    @property
    def created_at(self) -> datetime:
        return self.key.created_at


def hash_secret(secret: str) -> str:
    """What the repository keeps instead of the secret: the SHA-256 hex digest of all of it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    deps: Deps,
    principal: Principal,
    name: str,
    livemode: bool | None = None,
    scopes: Iterable[str] | None = None,
) -> CreatedApiKey:
    """Mint a key for the caller's tenant, scoped no wider than the caller."""
    require_scope(principal, Operation.API_KEYS_MANAGE)
    require_step_up(principal, StepUpAction.API_KEYS, deps.clock.now())
    clean_name = _clean_name(name)
    mode = _key_mode(principal, livemode)
    granted = _granted_scopes(principal, scopes)
    prefix = LIVE_PREFIX if mode else TEST_PREFIX
    secret = f"{prefix}_{deps.secrets.token(SECRET_BYTES)}"
    key = ApiKey(
        id=deps.ids.new_id("key"),
        tenant_id=principal.tenant_id,
        name=clean_name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        last4=secret[-4:],
        scopes=granted,
        created_by=principal.subject,
        created_at=deps.clock.now(),
        livemode=mode,
    )
    with deps.uow() as uow:
        uow.api_keys.add(key)
        audit(
            uow, deps, principal, "api_key.created", "api_key", key.id, key.tenant_id,
            name=key.name, prefix=prefix, livemode=mode, scopes=sorted(granted),
        )  # fmt: skip
        uow.commit()
    return CreatedApiKey(key, secret)


def revoke_api_key(deps: Deps, principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key of the caller's tenant; a second revocation answers the first one."""
    require_scope(principal, Operation.API_KEYS_MANAGE)
    require_step_up(principal, StepUpAction.API_KEYS, deps.clock.now())
    check_text("keyId", key_id, 100)
    with deps.uow() as uow:
        key = found(uow.api_keys.get(principal.tenant_id, key_id), "api_key", key_id)
        if not key.is_active:
            return key
        revoked = attrs.evolve(key, revoked_at=deps.clock.now())
        uow.api_keys.update(revoked)
        audit(uow, deps, principal, "api_key.revoked", "api_key", key.id, key.tenant_id, name=key.name)
        uow.commit()
    return revoked


def list_api_keys(deps: Deps, principal: Principal) -> list[ApiKey]:
    """Every key of the caller's tenant, revoked ones included, oldest first; never a secret."""
    require_scope(principal, Operation.API_KEYS_MANAGE)
    with deps.uow() as uow:
        return uow.api_keys.for_tenant(principal.tenant_id)


def authenticate_api_key(deps: Deps, secret: str) -> Principal:
    """The principal a request presenting `secret` acts as; `UNAUTHENTICATED` for anything else."""
    if not isinstance(secret, str) or not _SECRET_SHAPE.fullmatch(secret):
        raise Unauthenticated(_UNAUTHENTICATED)
    digest = hash_secret(secret)
    with deps.uow() as uow:
        key = uow.api_keys.by_hash(digest)
    if key is None or not hmac.compare_digest(key.secret_hash, digest) or not key.is_active:
        raise Unauthenticated(_UNAUTHENTICATED)
    return Principal.api_key(key.tenant_id, key.id, key.scopes, livemode=key.livemode)


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name is required", field="name", maxLength=MAX_NAME_LENGTH)
    clean = name.strip()
    check_text("name", clean, MAX_NAME_LENGTH)
    return clean


def _key_mode(principal: Principal, livemode: bool | None) -> bool:
    """The creator's mode by default; a test-mode creator may not reach live money."""
    if livemode is None:
        return principal.livemode
    if not isinstance(livemode, bool):
        raise ValidationError("livemode must be a boolean", field="livemode")
    if livemode and not principal.livemode:
        raise InsufficientPermissions("a test-mode credential cannot create a live API key", livemode=True)
    return livemode


def _granted_scopes(principal: Principal, requested: Iterable[str] | None) -> frozenset[str]:
    if requested is None:
        granted = frozenset(scope.value for scope in DEFAULT_KEY_SCOPES) & principal.scopes
    else:
        granted = _requested_scopes(principal, requested)
    if not granted:
        raise ValidationError("an API key needs at least one scope", field="scopes")
    return granted


def _requested_scopes(principal: Principal, requested: Iterable[str]) -> frozenset[str]:
    if isinstance(requested, str) or not isinstance(requested, Iterable):
        raise ValidationError("scopes must be a list of scope names", field="scopes")
    wanted = list(requested)
    unknown = sorted(
        {str(scope) for scope in wanted if not isinstance(scope, str) or scope not in KNOWN_SCOPES}
    )
    if unknown:
        raise ValidationError(
            "unknown scopes", field="scopes", unknownScopes=unknown, allowedValues=sorted(KNOWN_SCOPES)
        )
    beyond = sorted(set(wanted) - principal.scopes)
    if beyond:
        raise InsufficientPermissions(
            f"cannot grant scopes you do not hold: {', '.join(beyond)}", scopes=beyond
        )
    return frozenset(wanted)
