"""MFA: a person enrolls a TOTP factor, then proves possession of it to step up.

Invariants
- Only people (JWT users) enroll and verify, for themselves; an API key is refused with 403
  `INSUFFICIENT_PERMISSIONS` (reason `user_required`). No scope is needed: anyone may protect
  their own login.
- The shared secret is sealed with `deps.secret_box` before it is stored; its plaintext leaves the
  core once, in the `MfaEnrollment` that `enroll_mfa` answers. Neither the secret nor a code ever
  reaches an audit event, an error or a repr.
- Re-enrolling replaces an unconfirmed factor (the old secret stops working at once). A confirmed
  factor is never replaced silently: only a person whose MFA is fresh (a step-up token, verified
  within `MFA_FRESHNESS`) may replace it, anyone else gets 401 `MFA_CHALLENGE_REQUIRED` (reason
  `confirmed_factor`); each replacement is audited with `replaced: true`.
- A code is accepted at most once: its time step must be newer than the last accepted one, so a
  replayed code, or an older code after a newer one, is refused (reason `code_already_used`).
- A wrong code is 401 `MFA_CHALLENGE_REQUIRED` (reason `invalid_code`). `MAX_FAILED_ATTEMPTS`
  refused codes in a row lock the factor for `LOCKOUT`; while locked every code is refused (reason
  `locked`), a right one too. An accepted code resets the count.
- Every refusal of a well-formed code is audited (`mfa.failed`) and committed before the error is
  raised. A malformed code (not six digits) is 400 `INVALID_PARAMETER` and changes nothing.
- The first accepted code confirms the factor. Verifying without a factor is 400
  `INVALID_OPERATION` (reason `not_enrolled`); a deployment without TOTP answers 503
  `PROVIDER_UNAVAILABLE` to both use cases.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from payments_core.errors import (
    InsufficientPermissions,
    InvalidOperation,
    MfaChallengeRequired,
    ProviderUnavailable,
    ValidationError,
)
from payments_core.model.access import MfaFactor
from payments_core.policies import CLOCK_SKEW, MFA_FRESHNESS, Principal
from payments_core.ports import TotpVerifier, UnitOfWork
from payments_core.services.context import Deps, audit, tenant_of

MFA_ISSUER: Final = "payments-core"
MAX_FAILED_ATTEMPTS: Final = 5
LOCKOUT: Final = timedelta(minutes=15)
_CODE_SHAPE: Final = re.compile(r"[0-9]{6}")
_TARGET: Final = "mfa_factor"


@attrs.frozen
class MfaEnrollment:
    """What the person's authenticator app needs; the only time the secret is ever shown."""

    secret: str = attrs.field(repr=False)
    otpauth_uri: str = attrs.field(repr=False)  # it carries the secret too


def enroll_mfa(deps: Deps, principal: Principal) -> MfaEnrollment:
    """A new TOTP secret for the caller; unconfirmed until a first code is verified with it."""
    totp = _totp(deps)
    _require_person(principal, "enroll")
    now = deps.clock.now()
    secret = totp.new_secret()
    with deps.uow() as uow:
        tenant_of(uow, principal.tenant_id)
        current = uow.mfa_factors.get(principal.tenant_id, principal.subject)
        if current is not None and current.is_confirmed and not _mfa_is_fresh(principal, now):
            raise MfaChallengeRequired(
                "verify your current MFA factor before replacing it",
                reason="confirmed_factor",
                action="mfa-enroll",
            )
        factor = MfaFactor(
            tenant_id=principal.tenant_id,
            user_id=principal.subject,
            sealed_secret=deps.secret_box.seal(secret),
            created_at=now,
        )
        uow.mfa_factors.save(factor)
        _audit(uow, deps, principal, "mfa.enrolled", replaced=current is not None)
        uow.commit()
    uri = totp.provisioning_uri(secret, f"{principal.subject}@{principal.tenant_id}", MFA_ISSUER)
    return MfaEnrollment(secret, uri)


def verify_mfa(deps: Deps, principal: Principal, code: str) -> datetime:
    """Accept one fresh code from the caller's factor; answers the verification time (`mfa_at`)."""
    totp = _totp(deps)
    _require_person(principal, "verify")
    if not isinstance(code, str) or not _CODE_SHAPE.fullmatch(code):
        raise ValidationError("code must be the 6 digits your authenticator shows", field="code")
    now = deps.clock.now()
    with deps.uow() as uow:
        factor = uow.mfa_factors.get(principal.tenant_id, principal.subject)
        if factor is None:
            raise InvalidOperation("no MFA factor is enrolled; enroll first", reason="not_enrolled")
        if factor.is_locked(now):
            refusal = _refuse(uow, deps, principal, factor, "locked", now)
        else:
            step = totp.verify(deps.secret_box.open(factor.sealed_secret), code, now)
            if step is None:
                refusal = _refuse(uow, deps, principal, factor, "invalid_code", now)
            elif factor.last_used_step is not None and step <= factor.last_used_step:
                refusal = _refuse(uow, deps, principal, factor, "code_already_used", now)
            else:
                refusal = None
                _accept(uow, deps, principal, factor, step, now)
        uow.commit()
    if refusal is not None:
        raise refusal
    return now


def _accept(
    uow: UnitOfWork, deps: Deps, principal: Principal, factor: MfaFactor, step: int, now: datetime
) -> None:
    uow.mfa_factors.save(
        attrs.evolve(
            factor,
            confirmed_at=factor.confirmed_at or now,
            last_used_step=step,
            failed_attempts=0,
            locked_until=None,
        )
    )
    _audit(uow, deps, principal, "mfa.verified", confirmed=not factor.is_confirmed)


def _refuse(
    uow: UnitOfWork, deps: Deps, principal: Principal, factor: MfaFactor, reason: str, now: datetime
) -> MfaChallengeRequired:
    """Count the refusal (locking the factor at the limit), audit it, and answer the error to raise."""
    details: dict[str, Any] = {"reason": reason}
    if reason == "locked":
        details["lockedUntil"] = factor.locked_until.isoformat() if factor.locked_until else None
    else:
        failures = factor.failed_attempts + 1
        if failures >= MAX_FAILED_ATTEMPTS:
            locked_until = now + LOCKOUT
            uow.mfa_factors.save(attrs.evolve(factor, failed_attempts=0, locked_until=locked_until))
            details["lockedUntil"] = locked_until.isoformat()
        else:
            uow.mfa_factors.save(attrs.evolve(factor, failed_attempts=failures))
    _audit(uow, deps, principal, "mfa.failed", **details)
    messages = {
        "locked": "too many wrong codes; MFA is locked for a while",
        "invalid_code": "the MFA code is wrong or has expired",
        "code_already_used": "this MFA code was used already; wait for the next one",
    }
    return MfaChallengeRequired(messages[reason], action="mfa-verify", **details)


def _audit(uow: UnitOfWork, deps: Deps, principal: Principal, action: str, **details: Any) -> None:
    audit(uow, deps, principal, action, _TARGET, principal.subject, principal.tenant_id, **details)


def _totp(deps: Deps) -> TotpVerifier:
    if deps.totp is None:
        raise ProviderUnavailable("MFA is not configured on this deployment", provider="totp")
    return deps.totp


def _require_person(principal: Principal, action: str) -> None:
    if not principal.is_user:
        raise InsufficientPermissions(
            f"only a person can {action} MFA, not an API key", reason="user_required", action=f"mfa-{action}"
        )


def _mfa_is_fresh(principal: Principal, now: datetime) -> bool:
    """The same window `policies.require_step_up` accepts."""
    verified_at = principal.mfa_verified_at
    return verified_at is not None and -CLOCK_SKEW <= now - verified_at <= MFA_FRESHNESS
