"""TOTP (RFC 6238) with pyotp: 6 digits, SHA-1, 30-second steps, as every authenticator app expects.

Invariants
- `verify` accepts the code of the step at `at` or of one step either side (`VALID_WINDOW`), which
  absorbs a phone's clock drift and a code typed as it rolled over; it answers the matched step so
  that the caller can refuse that step (and older ones) the next time.
- Every candidate step is compared in constant time, and all of them are compared whatever matched,
  so the answer's timing says nothing about which step (if any) matched.
- Secrets are 32 base32 characters (160 bits), the key length RFC 4226 recommends.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Final

import pyotp

STEP_SECONDS: Final = 30
DIGITS: Final = 6
VALID_WINDOW: Final = 1


class PyOtpTotp:
    """The core's `TotpVerifier`."""

    def new_secret(self) -> str:
        return pyotp.random_base32()

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str:
        return self._totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)

    def verify(self, secret: str, code: str, at: datetime) -> int | None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at must be timezone-aware")
        if not isinstance(code, str) or len(code) != DIGITS or not code.isascii() or not code.isdigit():
            return None
        totp = self._totp(secret)
        current = totp.timecode(at)
        matched: int | None = None
        for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
                matched = step
        return matched

    @staticmethod
    def _totp(secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
