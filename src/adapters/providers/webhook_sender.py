"""The HTTP sender of outbound webhooks, over httpx.

Invariants
- One POST per call, no retry here: the core's delivery worker owns retries and their backoff.
- Redirects are never followed (a redirect answer is a failed attempt, like any non-2xx), so a
  receiver cannot bounce a signed event to another host.
- Only the status code comes back: the response body is read (to free the connection) but never
  returned, logged or stored.
- Every transport failure becomes `WebhookTransportError` with a short reason ("timeout",
  "connect", "tls", "protocol", "transport"): no URL, header or body leaves in it.
- One client (connection pool) per sender; `close()` releases it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from adapters.providers.http_policy import LazyClient
from payments_core.ports.deliveries import WebhookTransportError

if TYPE_CHECKING:
    import httpx

MAX_CONNECTIONS: Final = 20


def _client() -> httpx.Client:
    import httpx  # noqa: PLC0415 - loaded with the first client, as providers' are (`http_policy`)

    return httpx.Client(
        follow_redirects=False, limits=httpx.Limits(max_connections=MAX_CONNECTIONS), trust_env=False
    )


class HttpxWebhookSender:
    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = LazyClient((lambda: client) if client is not None else _client)

    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: timedelta) -> int:
        import httpx  # noqa: PLC0415 - loaded with the first client

        seconds = timeout.total_seconds()
        try:
            response = self._client.get().post(
                url,
                content=body,
                headers=dict(headers),
                timeout=httpx.Timeout(seconds),
                follow_redirects=False,
            )
            response.read()
        except httpx.TimeoutException:
            raise WebhookTransportError("timeout") from None
        except httpx.ConnectError as error:
            reason = "tls" if isinstance(error.__cause__, ssl.SSLError) else "connect"
            raise WebhookTransportError(reason) from None
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError):
            raise WebhookTransportError("protocol") from None
        except (httpx.HTTPError, httpx.InvalidURL, ssl.SSLError, OSError):
            raise WebhookTransportError("transport") from None
        return response.status_code

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
