"""What every request passes through before its handler: who is calling, how often, and whether
it is a retry. One ASGI middleware, configured per route by the handler's `opt`:

    opt={"public": True}            no credential (public link pages, provider webhooks)
    opt={"rate_limit": "refunds.create"}   a named limit of `HttpSettings.limits` (else "default",
                                    or "public" on public routes)
    opt={"idempotent": True}        a creating POST: `Idempotency-Key` replays the first answer
    opt={"replay_without": ("secret",)}   top-level fields shown once and never kept for replays

Invariants
- A non-public handler never runs without a `Principal` in `request.state.principal`; a refused
  credential answers 401 before any work is done.
- `X-TENANT-ID` / `X-Tenant`, when sent, must name the credential's tenant (else 403). A tenant API
  key sent beside a user's bearer token (seed 002) must be valid and of the same tenant too.
- Every answer of a rate-limited route carries `X-RateLimit-Limit/Remaining/Reset`; over the limit
  the answer is 429 `RATE_LIMIT_EXCEEDED` with `Retry-After` and `details.retryAfter`.
- Same idempotency key and same request (method, path, body) → the stored status and body, marked
  `Idempotent-Replayed: true`; another request → 400 `IDEMPOTENCY_KEY_REUSED`; while the first is
  still running → 409 `REQUEST_IN_PROGRESS`. Only successful (2xx) answers are kept: a refused
  request changed nothing and may be retried with the same key.
- Blocking work (API-key lookups, shared counters, the idempotency store) runs in a worker thread,
  in one hop per request; a bearer JWT whose hit is covered by this process's rate-limit lease
  (`leases.py`) is admitted without one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, cast

import anyio.to_thread
import attrs
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.errors import ApiError
from entrypoints.http.leases import LeasingRateLimiter
from entrypoints.http.runtime import HttpRuntime
from entrypoints.http.settings import Limit, Per
from payments_core.errors import InsufficientPermissions, Unauthenticated
from payments_core.policies import Principal
from payments_core.ports.edge import ClaimOutcome, RateDecision, StoredResponse

API_KEY_PREFIXES: Final = ("sk_test_", "sk_live_")
MAX_IDEMPOTENCY_KEY: Final = 255
SCALE_CACHE_SECONDS: Final = 60.0


@attrs.frozen
class SharedAdmission:
    """What every route's pipeline shares in one process: rate-limit leases and tenant plans."""

    limiter: LeasingRateLimiter
    scales: dict[str, tuple[float, int]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, runtime: HttpRuntime) -> SharedAdmission:
        return cls(LeasingRateLimiter(runtime.limiter))


class _NeedsIO(Exception):
    """The fast path cannot decide without the database: go to a worker thread."""


@attrs.frozen
class Admission:
    principal: Principal | None
    decision: RateDecision | None


class RequestPipeline:
    """The middleware; one instance per route, sharing the runtime."""

    def __init__(self, app: ASGIApp, runtime: HttpRuntime, shared: SharedAdmission) -> None:
        self._app = app
        self._runtime = runtime
        self._limiter = shared.limiter
        self._scales = shared.scales

    async def __call__(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope = cast("dict[str, Any]", asgi_scope)  # the typed scope is a union of every kind
        if scope["type"] != "http":
            await self._app(asgi_scope, receive, send)
            return
        opt: Mapping[str, Any] = scope["route_handler"].opt
        headers = _headers(scope)
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        public = bool(opt.get("public"))
        limit_name = str(opt.get("rate_limit", "public" if public else "default"))
        client_ip = self._client_ip(scope, headers)
        try:
            admission = self._admit(headers, public, limit_name, client_ip, io=False)
        except _NeedsIO:
            admission = await anyio.to_thread.run_sync(self._admit, headers, public, limit_name, client_ip)
        state["principal"] = admission.principal
        state["client_ip"] = client_ip
        rate_headers = _rate_headers(admission.decision) if admission.decision else {}
        state["rate_limit_headers"] = rate_headers
        if admission.decision is not None and not admission.decision.allowed:
            retry_after = max(1, math.ceil(admission.decision.reset_at.timestamp() - time.time()))
            raise ApiError(
                "RATE_LIMIT_EXCEEDED",
                "rate limit exceeded; retry later",
                headers={"Retry-After": str(retry_after)},
                retryAfter=retry_after,
                limit=admission.decision.limit,
            )
        send = _with_headers(send, rate_headers) if rate_headers else send
        key = headers.get("idempotency-key")
        if opt.get("idempotent") and scope["method"] == "POST" and key is not None and admission.principal:
            withheld = tuple(opt.get("replay_without", ()))
            await self._idempotent(scope, receive, send, admission.principal.tenant_id, key, withheld)
            return
        await self._app(asgi_scope, receive, send)

    # -- admission: who, and how often -------------------------------------------------------

    def _admit(
        self, headers: Mapping[str, str], public: bool, limit_name: str, client_ip: str, io: bool = True
    ) -> Admission:
        """Who is calling and whether the limit lets them in. With `io=False` nothing may block:
        a JWT with a leased hit and a known plan is decided here, anything else raises `_NeedsIO`."""
        principal = None if public else self._authenticate(headers, io)
        limit = self._runtime.settings.limit(limit_name)
        if limit.hits <= 0:
            return Admission(principal, None)
        bucket, hits = self._bucket(limit, limit_name, principal, client_ip, io)
        now = self._runtime.core.deps.clock.now()
        if not io:
            decision = self._limiter.admit_locally(bucket, hits, limit.window, now)
            if decision is None:
                raise _NeedsIO
            return Admission(principal, decision)
        return Admission(principal, self._limiter.hit(bucket, hits, limit.window, now))

    def _authenticate(self, headers: Mapping[str, str], io: bool) -> Principal:
        secret = _credential(headers)
        if secret is None:
            raise Unauthenticated("authentication required")
        app_key = headers.get("x-tenant-api-key") or headers.get("appid")
        needs_store = secret.startswith(API_KEY_PREFIXES) or (app_key is not None and app_key != secret)
        if needs_store and not io:
            raise _NeedsIO
        if secret.startswith(API_KEY_PREFIXES):
            principal: Principal = self._runtime.core.api_keys.authenticate_api_key(secret)
        else:
            principal = self._runtime.tokens.verify(secret)
        if app_key is not None and app_key != secret:
            # Seed 002 sends the tenant's key beside the user's token: both must hold, for one tenant.
            key_principal = self._runtime.core.api_keys.authenticate_api_key(app_key)
            if key_principal.tenant_id != principal.tenant_id:
                raise InsufficientPermissions("the API key and the token belong to different tenants")
        claimed = headers.get("x-tenant-id") or headers.get("x-tenant")
        if claimed is not None and claimed != principal.tenant_id:
            raise InsufficientPermissions(
                "the tenant header does not match the credential", header="X-Tenant"
            )
        return principal

    def _bucket(
        self, limit: Limit, name: str, principal: Principal | None, ip: str, io: bool
    ) -> tuple[str, int]:
        if limit.per is Per.IP or principal is None:
            return f"{name}|ip|{ip}", limit.hits
        scale = self._scale(principal.tenant_id, io)
        if limit.per is Per.TENANT:
            return f"{name}|tenant|{principal.tenant_id}", limit.hits * scale
        return f"{name}|user|{principal.tenant_id}|{principal.subject}", limit.hits * scale

    def _scale(self, tenant_id: str, io: bool) -> int:
        """The tenant's plan multiplier, read at most once a minute per process."""
        cached = self._scales.get(tenant_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < SCALE_CACHE_SECONDS:
            return cached[1]
        if not io:
            raise _NeedsIO
        scale: int = self._runtime.core.tenants.rate_limit_scale(tenant_id)
        self._scales[tenant_id] = (now, scale)
        return scale

    def _client_ip(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        peer = scope["client"][0] if scope.get("client") else "unknown"
        trusted = self._runtime.settings.trusted_proxies
        if peer not in trusted or "x-forwarded-for" not in headers:
            return peer
        hops = [hop.strip() for hop in headers["x-forwarded-for"].split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                return hop
        return peer

    # -- idempotency --------------------------------------------------------------------------

    async def _idempotent(
        self,
        scope: dict[str, Any],
        receive: Receive,
        send: Send,
        tenant_id: str,
        key: str,
        withheld: tuple[str, ...] = (),
    ) -> None:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise ApiError(
                "INVALID_PARAMETER", "Idempotency-Key must be 1 to 255 printable characters",
                field="Idempotency-Key", maxLength=MAX_IDEMPOTENCY_KEY,
            )  # fmt: skip
        body = await _read_body(receive)
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), body])
        ).hexdigest()
        store = self._runtime.idempotency
        now = self._runtime.core.deps.clock.now()
        ttl = self._runtime.settings.idempotency_ttl
        claim = await anyio.to_thread.run_sync(store.claim, tenant_id, key, fingerprint, now, ttl)
        if claim.outcome is ClaimOutcome.MISMATCH:
            raise ApiError(
                "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with another request",
                field="Idempotency-Key",
            )  # fmt: skip
        if claim.outcome is ClaimOutcome.IN_FLIGHT:
            raise ApiError(
                "REQUEST_IN_PROGRESS", "a request with this Idempotency-Key is still being processed"
            )
        if claim.outcome is ClaimOutcome.REPLAY and claim.response is not None:
            await _send_stored(send, claim.response)
            return
        captured = _Capture(send)
        try:
            await self._app(cast("Scope", scope), _replay(body), cast("Send", captured.send))
        except BaseException:
            await anyio.to_thread.run_sync(store.release, tenant_id, key)
            raise
        if 200 <= captured.status < 300:
            body = _withhold(b"".join(captured.body), withheld)
            response = StoredResponse(captured.status, body, captured.content_type)
            await anyio.to_thread.run_sync(store.complete, tenant_id, key, response)
        else:
            await anyio.to_thread.run_sync(store.release, tenant_id, key)


def _withhold(body: bytes, fields: tuple[str, ...]) -> bytes:
    """The answer as it is kept for replays: fields shown only once (a new key's secret) become null,
    so that no plaintext secret ever rests in the idempotency store."""
    if not fields:
        return body
    document = json.loads(body)
    for field in fields:
        if isinstance(document, dict) and field in document:
            document[field] = None
    return json.dumps(document, separators=(",", ":")).encode()


def _headers(scope: Mapping[str, Any]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _credential(headers: Mapping[str, str]) -> str | None:
    """Bearer JWT or API key in `Authorization`, or an API key in `X-TENANT-API-KEY` / `AppId`."""
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if authorization.startswith(API_KEY_PREFIXES):
            return authorization
        return None
    return headers.get("x-tenant-api-key") or headers.get("appid") or None


def _rate_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(max(0, decision.remaining)),
        "X-RateLimit-Reset": str(int(decision.reset_at.timestamp())),
    }


def _with_headers(send: Send, extra: Mapping[str, str]) -> Send:
    encoded = [(name.lower().encode(), value.encode()) for name, value in extra.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start = cast("dict[str, Any]", message)
            present = {name.lower() for name, _ in start.get("headers", [])}
            start["headers"] = [*start.get("headers", []), *(h for h in encoded if h[0] not in present)]
        await send(message)

    return wrapped


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = cast("dict[str, Any]", await receive())
        if message["type"] == "http.disconnect":
            raise ApiError("INVALID_PARAMETER", "the client went away before sending the body")
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await anyio.sleep_forever()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return cast("Receive", receive)


async def _send_stored(send: Send, response: StoredResponse) -> None:
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
            (b"idempotent-replayed", b"true"),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": response.body, "more_body": False})


class _Capture:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500
        self.content_type = "application/json"
        self.body: list[bytes] = []

    async def send(self, message: Message) -> None:
        event = cast("dict[str, Any]", message)
        if event["type"] == "http.response.start":
            self.status = int(event["status"])
            for name, value in event.get("headers", []):
                if name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
        elif event["type"] == "http.response.body":
            self.body.append(bytes(event.get("body", b"")))
        await self._send(message)
