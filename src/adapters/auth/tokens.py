"""Bearer JWTs: issued by the platform (the CLI, the MFA step-up), verified on every request.

Invariants
- The algorithm is pinned by configuration: HS256 with a shared secret, or RS256 with a public key.
  A token naming any other algorithm (`none`, HS256 signed with the RS256 public key) is refused.
- `exp`, `iat`, `iss`, `aud` and `sub` are required and checked; a small leeway absorbs clock skew.
- Every refusal is `Unauthenticated` with one message: a caller learns nothing about why.
- Claims: `sub` (the user), `tenant_id`, `scope` (space-separated, RFC 8693) or `scopes` (a list),
  `mfa_at` (epoch seconds of the last TOTP verification, optional), `livemode` (default true).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs
import jwt

from payments_core.errors import DomainError, Unauthenticated
from payments_core.policies import Principal

INVALID_TOKEN: Final = "invalid or expired authentication token"  # noqa: S105 (a message)
ALGORITHMS: Final = ("HS256", "RS256")
VERIFIED_CACHE_SIZE: Final = 10_000


@attrs.frozen(repr=False)
class TokenSettings:
    """How tokens are signed and checked. `secret` for HS256; `public_key` (and, to issue,
    `private_key`) for RS256. repr is hidden so that no secret reaches a log."""

    secret: str | None = None
    algorithm: str = attrs.field(default="HS256", validator=attrs.validators.in_(ALGORITHMS))
    issuer: str = "payments-core"
    audience: str = "payments-api"
    public_key: str | None = None
    private_key: str | None = None
    ttl: timedelta = timedelta(hours=1)
    leeway: timedelta = timedelta(seconds=30)

    def __attrs_post_init__(self) -> None:
        if self.algorithm == "HS256" and (not self.secret or len(self.secret) < 32):
            raise ValueError("HS256 needs a secret of at least 32 characters")
        if self.algorithm == "RS256" and not self.public_key:
            raise ValueError("RS256 needs a public key")

    def __repr__(self) -> str:
        return (
            f"TokenSettings(algorithm={self.algorithm!r}, issuer={self.issuer!r}, audience={self.audience!r})"
        )


class JwtTokens:
    """Issues and verifies the platform's bearer tokens."""

    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._verify_key: Any = settings.secret if settings.algorithm == "HS256" else settings.public_key
        self._sign_key: Any = settings.secret if settings.algorithm == "HS256" else settings.private_key
        self._verified: dict[str, tuple[Principal, float]] = {}

    @property
    def settings(self) -> TokenSettings:
        return self._settings

    def issue(
        self,
        tenant_id: str,
        user_id: str,
        scopes: Iterable[str],
        now: datetime,
        mfa_verified_at: datetime | None = None,
        livemode: bool = True,
        ttl: timedelta | None = None,
    ) -> str:
        if self._sign_key is None:
            raise ValueError("this deployment verifies tokens but holds no key to issue them")
        claims: dict[str, Any] = {
            "sub": user_id,
            "tenant_id": tenant_id,
            "scope": " ".join(sorted(set(scopes))),
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "iat": int(now.timestamp()),
            "exp": int((now + (ttl or self._settings.ttl)).timestamp()),
            "livemode": livemode,
        }
        if mfa_verified_at is not None:
            claims["mfa_at"] = int(mfa_verified_at.timestamp())
        return jwt.encode(claims, self._sign_key, algorithm=self._settings.algorithm)

    def verify(self, token: str) -> Principal:
        """The principal the token speaks for, or `Unauthenticated`.

        A token verified once is remembered until it expires: its signature and claims cannot
        change, only the time can, and `exp` is checked again on every use."""
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if time.time() <= expires + self._settings.leeway.total_seconds():
                return principal
            self._verified.pop(token, None)
            raise Unauthenticated(INVALID_TOKEN)
        principal, expires = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self._settings.algorithm],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            return _principal(claims), float(claims["exp"])
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, DomainError):
            # DomainError: a claim the core's own validators refuse (a blank subject, ...).
            raise Unauthenticated(INVALID_TOKEN) from None


def _principal(claims: Mapping[str, Any]) -> Principal:
    tenant_id = claims["tenant_id"]
    subject = claims["sub"]
    if not isinstance(tenant_id, str) or not isinstance(subject, str):
        raise ValueError("tenant_id and sub must be strings")
    livemode = claims.get("livemode", True)
    if not isinstance(livemode, bool):
        raise ValueError("livemode must be a boolean")
    mfa_at = claims.get("mfa_at")
    verified = None
    if mfa_at is not None:
        if not isinstance(mfa_at, int) or isinstance(mfa_at, bool):
            raise ValueError("mfa_at must be an integer")
        verified = datetime.fromtimestamp(mfa_at, UTC)
    return Principal.user(tenant_id, subject, _scopes(claims), verified, livemode=livemode)


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    if "scope" in claims:
        scope = claims["scope"]
        if not isinstance(scope, str):
            raise ValueError("scope must be a space-separated string")
        return frozenset(scope.split())
    listed = claims.get("scopes", [])
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise ValueError("scopes must be a list of strings")
    return frozenset(listed)
