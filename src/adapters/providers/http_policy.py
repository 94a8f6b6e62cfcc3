"""The one HTTP policy every provider adapter speaks through: timeouts, retries, cached tokens.

Invariants
- Every call has a timeout (connect and read); no call waits on a provider forever.
- A call is retried only when repeating it cannot move money twice: a GET, or a call carrying the
  provider's idempotency key (`idempotent=True`). Retries are bounded (`retries`) and spaced by a
  jittered exponential backoff; they happen on transport failures, 429 and 5xx answers only.
- When the attempts are spent, `ProviderUnavailable` (503, `PROVIDER_UNAVAILABLE`) is raised with
  the provider's name and a short reason; no URL, header, credential or body leaves in it.
  The operation it was for stays pending in the core; the janitor asks again later.
- A 4xx answer (other than 429) is returned to the adapter, which maps it to a domain error: it is
  the provider's verdict on the request, not an outage.
- Tokens (M-Pesa's OAuth token, Pesapal's bearer) are cached per key for their lifetime minus a
  safety margin, and fetched once however many threads ask at the same time.
- A client is made on its first call (`LazyClient`), once however many threads ask: making one
  loads the TLS trust store, about 35 ms each, which a command that never calls out (a
  reconciliation, a janitor pass with nothing due) should not pay for every provider. httpx
  itself is imported then too: importing it costs 57 ms of such a command's start-up (with its
  command-line tool, which it loads whenever click and rich are installed, as they are here).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from payments_core.errors import ProviderUnavailable

if TYPE_CHECKING:
    import httpx

K = TypeVar("K", bound=Hashable)

RETRIABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})
TIMEOUT_SECONDS: Final = 10.0
CONNECT_TIMEOUT_SECONDS: Final = 3.0


@attrs.frozen
class RetryPolicy:
    retries: int = 2
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait up to the exponential ceiling of this attempt."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return float(ceiling * draw())


class LazyClient:
    """An httpx client made by `make` on first use (see the invariants)."""

    def __init__(self, make: Callable[[], httpx.Client]) -> None:
        self._make = make
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
                client = self._client
        return client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()


def _client(
    base_url: str, timeout: httpx.Timeout | None, transport: httpx.BaseTransport | None
) -> httpx.Client:
    import httpx  # noqa: PLC0415 - loaded with the first client (see the invariants)

    if timeout is None:
        timeout = httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
    )


class ProviderHttp:
    """An httpx client bound to one provider's base URL, applying the policy to every call."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self._retry = retry
        self._sleep = sleep
        self._client = LazyClient(partial(_client, base_url, timeout, transport))

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """One logical call; `idempotent` defaults to True for GET and False otherwise. `content` is
        a body already encoded (JSON with exact decimal numbers, say)."""
        import httpx  # noqa: PLC0415 - loaded with the first client (see the invariants)

        repeatable = method.upper() == "GET" if idempotent is None else idempotent
        attempts = 1 + (self._retry.retries if repeatable else 0)
        reason = "unavailable"
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._retry.delay(attempt - 1))
            try:
                response = self._client.get().request(
                    method, path, content=content, json=json, data=data, params=params, headers=headers,
                    auth=auth,
                )  # fmt: skip
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.TransportError:
                reason = "connect"
                continue
            if response.status_code not in RETRIABLE_STATUS:
                return response
            reason = f"status {response.status_code}"
        raise ProviderUnavailable(
            f"the {self.provider} provider did not answer ({reason})", provider=self.provider, reason=reason
        )

    def close(self) -> None:
        self._client.close()


@attrs.frozen
class Token:
    value: str
    expires_at: float


ModeKey = tuple[str, bool]
"""(tenant id, livemode): whose token, in which mode."""


class TokenCache(Generic[K]):
    """Bearer tokens per key (a `ModeKey` in the adapters), fetched once and reused until near expiry."""

    def __init__(
        self,
        fetch: Callable[[K], tuple[str, float]],
        *,
        margin_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`fetch(key)` returns (token, lifetime in seconds)."""
        self._fetch = fetch
        self._margin = margin_seconds
        self._clock = clock
        self._tokens: dict[K, Token] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> str:
        token = self._tokens.get(key)
        if token is not None and self._clock() < token.expires_at:
            return token.value
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and self._clock() < token.expires_at:
                return token.value
            value, lifetime = self._fetch(key)
            self._tokens[key] = Token(value, self._clock() + max(0.0, lifetime - self._margin))
            return value

    def forget(self, key: K) -> None:
        """Drop a token the provider refused (401), so the next call fetches a new one."""
        with self._lock:
            self._tokens.pop(key, None)


Credentials = Callable[[str, bool], Mapping[str, str]]
"""(tenant id, livemode) -> that tenant's credentials for one provider, e.g. {"secret_key": ...};
raises `ProviderUnavailable` when the tenant has none for that mode."""


def required_credential(creds: Mapping[str, str], name: str, provider: str) -> str:
    """One named credential, or `ProviderUnavailable` (naming the field, never a value)."""
    value = creds.get(name)
    if not value:
        raise ProviderUnavailable(
            f"the tenant's {provider} configuration is incomplete", provider=provider, missing=name
        )
    return str(value)


def json_object(content: bytes) -> dict[str, Any] | None:
    """A provider's JSON object with its decimals as `Decimal` (never a float); None for anything else."""
    try:
        value = json.loads(content, parse_float=Decimal)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
