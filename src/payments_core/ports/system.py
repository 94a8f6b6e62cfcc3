"""Time, identity, randomness and secrecy: the world's services the core asks for."""

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
