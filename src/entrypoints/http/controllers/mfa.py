"""MFA (seed 003's step-up): `POST /mfa/enroll` and `POST /mfa/verify`.

    POST /mfa/enroll                      -> 201 {"otpauth_uri", "secret"}
    POST /mfa/verify {"code": "123456"}   -> 200 {"step_up_token", "mfa_verified_at", "expires_in"}

Invariants
- Only a person (a bearer JWT) enrolls or verifies, for themselves; an API key gets 403
  `INSUFFICIENT_PERMISSIONS` (the core checks). The rules on replacing a factor, replayed codes
  and lockout are the core's (`payments_core.services.mfa`).
- The secret appears in the enroll answer only. Neither route is `idempotent`: a replayed enroll
  answer would keep the secret in the idempotency store, and a replayed verify answer would hand
  out a step-up token for a code that can be used once only.
- The step-up token is the caller's own token (same tenant, subject, scopes and mode) with
  `mfa_at` = the verification time; the core's step-up checks accept it for `MFA_FRESHNESS`.
- `mfa.verify` is its own rate-limit bucket per user (the default figures until settings name it).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, post
from litestar.params import JSONBody

from entrypoints.http.dependencies import Caller, Runtime
from entrypoints.http.views import iso

MAX_CODE_LENGTH: Final = 16  # the core wants 6 digits; longer junk is refused before it


class VerifyBody(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CODE_LENGTH)]


class MfaController(Controller):
    path = "/mfa"
    tags = ["MFA (seed 003 step-up)"]

    @post("/enroll", status_code=201, sync_to_thread=True, opt={"rate_limit": "mfa.enroll"})
    def enroll(self, runtime: Runtime, principal: Caller) -> dict[str, Any]:
        """A new TOTP secret for the caller's authenticator app; shown this once."""
        enrollment = runtime.core.mfa.enroll_mfa(principal)
        return {"otpauth_uri": enrollment.otpauth_uri, "secret": enrollment.secret}

    @post("/verify", status_code=200, sync_to_thread=True, opt={"rate_limit": "mfa.verify"})
    def verify(self, runtime: Runtime, principal: Caller, data: JSONBody[VerifyBody]) -> dict[str, Any]:
        """A code from the authenticator app, exchanged for a token fresh for step-up actions."""
        verified = runtime.core.mfa.verify_mfa(principal, data.code)
        token = runtime.tokens.issue(
            principal.tenant_id,
            principal.subject,
            principal.scopes,
            verified,
            mfa_verified_at=verified,
            livemode=principal.livemode,
        )
        return {
            "step_up_token": token,
            "mfa_verified_at": iso(verified.replace(microsecond=0)),  # as the token's `mfa_at` says
            "expires_in": int(runtime.tokens.settings.ttl.total_seconds()),
        }


ROUTES = [MfaController]
