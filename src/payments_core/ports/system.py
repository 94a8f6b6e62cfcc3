"""Time, identity, randomness, secrecy and one-time codes: the world's services the core asks for."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A fresh unique id such as `pay_…`; unguessable when it is a public handle."""
        ...


class SecretGenerator(Protocol):
    def token(self, nbytes: int) -> str:
        """A URL-safe random string with `nbytes` of entropy (API key secrets, webhook secrets)."""
        ...


class SecretBox(Protocol):
    """Encrypts secrets (provider credentials, webhook secrets) at rest."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class TotpVerifier(Protocol):
    """Time-based one-time passwords (RFC 6238): the second factor of a person's login."""

    def new_secret(self) -> str:
        """A fresh shared secret (base32), to be sealed before it is stored."""
        ...

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str:
        """The `otpauth://totp/…` URI an authenticator app scans (as a QR code) to enroll."""
        ...

    def verify(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step `code` is valid for around `at` (within the tolerated drift), or None.

        The caller refuses a step it already accepted once: that is what stops a replay.
        """
        ...
