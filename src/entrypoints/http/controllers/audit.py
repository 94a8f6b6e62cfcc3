"""The audit trail, read-only: `GET /audit-events`, the caller's tenant only, newest first, paginated.

Invariants
- Nothing here writes: audit events are append-only and the core's use cases append them.
- The tenant boundary and the `finance:view` scope are the core's (`list_audit_events`).
- No answer carries a secret or a full IP address, whatever a detail holds: a detail named like a
  credential is replaced by `[redacted]`, an API key or signing secret inside any text keeps only its
  prefix, and an IP address keeps only its network (`/24` for IPv4, `/48` for IPv6). The core puts
  neither in an event today; this is the edge's guarantee should one ever slip in.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from math import ceil
from typing import Annotated, Any, Final

from litestar import Controller, get
from litestar.params import QueryParameter

from entrypoints.http.dependencies import Caller, Runtime
from entrypoints.http.views import iso
from payments_core.model.integrations import AuditEvent
from payments_core.services.audit_events import DEFAULT_LIMIT, MAX_FILTER_LENGTH, MAX_LIMIT, MAX_PAGE

REDACTED: Final = "[redacted]"
MAX_DEPTH: Final = 8
_SECRET_WORDS: Final = frozenset(
    {"secret", "token", "password", "passphrase", "authorization", "credential", "cvv", "cvc", "pan", "pin"}
)
_SECRET_NAMES: Final = frozenset({"apikey", "accesskey", "privatekey"})
_IP_WORDS: Final = frozenset({"ip", "ipaddress", "addr"})
_WORD: Final = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SECRET_TEXT: Final = re.compile(r"\b(sk_(?:test|live)_|whsec_)[A-Za-z0-9_-]+")
_IPV4_TEXT: Final = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b")
_IPV4_NETWORK: Final = 24
_IPV6_NETWORK: Final = 48


def masked_ip(value: str) -> str | None:
    """The network of an IP address (`203.0.113.0/24`), or None when the text is not one."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    prefix = _IPV4_NETWORK if address.version == 4 else _IPV6_NETWORK
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def safe_text(text: str) -> str:
    """Secrets keep their prefix, IPv4 addresses lose their last octet."""
    whole = masked_ip(text)
    if whole is not None:
        return whole
    text = _SECRET_TEXT.sub(lambda match: f"{match.group(1)}{REDACTED}", text)
    return _IPV4_TEXT.sub(lambda match: f"{match.group(1)}.0/24", text)


def words_of(name: str) -> list[str]:
    """`clientIp`, `client_ip`, `Client-IP` → `["client", "ip"]`."""
    return [word.lower() for word in _WORD.findall(name)]


def safe_value(value: Any, name: str = "", depth: int = 0) -> Any:
    """A detail as it may be shown: credentials by name removed, secrets and IPs in text masked."""
    words = words_of(name)
    if depth > MAX_DEPTH or _SECRET_WORDS.intersection(words) or "".join(words) in _SECRET_NAMES:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(key): safe_value(item, str(key), depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [safe_value(item, name, depth + 1) for item in value]
    if isinstance(value, str):
        if _IP_WORDS.intersection(words):
            return masked_ip(value) or REDACTED
        return safe_text(value)
    return value


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "actorType": event.actor_kind,
        "actorId": event.actor_id,
        "targetType": event.target_type,
        "targetId": event.target_id,
        "createdAt": iso(event.at),
        "details": safe_value(event.details),
    }


class AuditEventsController(Controller):
    path = "/audit-events"
    tags = ["audit"]

    @get("/", sync_to_thread=True)
    def list_audit_events(
        self,
        runtime: Runtime,
        principal: Caller,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        action: Annotated[str | None, QueryParameter(max_length=MAX_FILTER_LENGTH)] = None,
        target_id: Annotated[
            str | None, QueryParameter(name="targetId", max_length=MAX_FILTER_LENGTH)
        ] = None,
    ) -> dict[str, Any]:
        found = runtime.core.audit.list_audit_events(
            principal, action or None, target_id or None, page, limit
        )
        return {
            "events": [audit_event_json(event) for event in found.items],
            "pagination": {
                "currentPage": found.page,
                "totalPages": ceil(found.total / found.limit),
                "totalItems": found.total,
                "itemsPerPage": found.limit,
                "hasMore": found.has_more,
            },
        }


ROUTES = [AuditEventsController]
