"""A secret box over Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`), with key rotation.

Invariants
- `open(seal(p)) == p`; a sealed value is `fernet:` + the token, never the plaintext.
- A value sealed under any configured key opens; new values are sealed under the first key, so a
  key is rotated by putting a new one first and keeping the old one until nothing uses it.
- A tampered or foreign value raises `ValueError` without saying more.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX: Final = "fernet:"


class FernetSecretBox:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("a secret box needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    @classmethod
    def from_key_file(cls, path: Path) -> FernetSecretBox:
        """Keys from a file (one per line, newest first), creating it with a fresh key, mode 0600."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(cls.new_key() + "\n")
        keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return cls(keys)

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise ValueError("not a sealed secret")
        try:
            return self._fernet.decrypt(sealed[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError("the sealed secret does not open with any configured key") from None
