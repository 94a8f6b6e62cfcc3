"""Ids, secrets and a secret box for in-memory deployments (tests and embedding)."""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from datetime import UTC, datetime


class RandomIds:
    """`pay_3f1c…`: a prefix and 32 hex characters of randomness (UUID4)."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex}"


class RandomSecrets:
    def token(self, nbytes: int) -> str:
        return secrets.token_urlsafe(nbytes)


class InMemorySecretBox:
    """Keeps plaintexts in a private dict and hands out opaque handles, so that repositories
    never hold a secret. Process-local: for tests and embedding, not for a database."""

    def __init__(self) -> None:
        self._plaintexts: dict[str, str] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def seal(self, plaintext: str) -> str:
        with self._lock:
            handle = f"sealed:{next(self._counter)}"
            self._plaintexts[handle] = plaintext
        return handle

    def open(self, sealed: str) -> str:
        try:
            return self._plaintexts[sealed]
        except KeyError:
            raise ValueError("unknown sealed secret") from None


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
