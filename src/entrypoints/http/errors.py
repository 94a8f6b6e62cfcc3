"""One error envelope for the whole API, with messages in the caller's language.

    {"error": {"code": "INVALID_AMOUNT", "message": "...", "details": {...}}, "code": "INVALID_AMOUNT"}

The top-level `code` (and `retryAfter` on a 429) repeat what `error` holds, where seed 003's
clients read them.

Seed 001's MercadoPago routes keep their JSON:API form, `{"errors": [{"status", "code", "title",
"detail"}]}`. A code maps to one status everywhere. English messages are the core's own (they name
the field); Portuguese and Spanish ones are per code, the details carrying the specifics. Nothing
unexpected leaks: any other exception is logged by type only and answered `INTERNAL_ERROR`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from entrypoints.http.i18n import language_of, message_for
from payments_core.errors import DomainError

log = logging.getLogger("payments.http")
# Litestar names a missing or unexpected body field only in its message ("Object missing required
# field `amount`", "Object contains unknown field `amount`"); its key is the whole body.
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")

STATUS_OF_CODE: Final[Mapping[str, int]] = {
    "INVALID_PARAMETER": 400,
    "INVALID_AMOUNT": 400,
    "INVALID_CURRENCY": 400,
    "INVALID_STATEMENT": 400,
    "INVALID_SIGNATURE": 400,
    "CURRENCY_MISMATCH": 400,
    "EXCEEDS_PENDING_AMOUNT": 400,
    "INVALID_OPERATION": 400,
    "INSUFFICIENT_FUNDS": 400,
    "CREDITS_EXCEED_DEBITS": 400,
    "BALANCE_OVERFLOW": 400,
    "PENDING_TRANSFER_NOT_FOUND": 400,
    "PENDING_TRANSFER_ALREADY_RESOLVED": 400,
    "PENDING_TRANSFER_EXPIRED": 400,
    "IDEMPOTENCY_KEY_REUSED": 400,
    "IDEMPOTENCY_CONFLICT": 409,
    "REQUEST_IN_PROGRESS": 409,
    "UNAUTHENTICATED": 401,
    "MFA_CHALLENGE_REQUIRED": 401,
    "INSUFFICIENT_PERMISSIONS": 403,
    "FOUR_EYES_VIOLATION": 403,
    "RESOURCE_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "PROVIDER_UNAVAILABLE": 503,
    "SERVICE_UNAVAILABLE": 503,
}


class ApiError(Exception):
    """An edge refusal that has no domain meaning (rate limits, idempotency, bad JSON)."""

    def __init__(
        self, code: str, message: str, headers: Mapping[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: Mapping[str, Any] = details
        self.headers: Mapping[str, str] = headers or {}


def _is_json_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/v1/mercadopago")


def error_response(
    request: Request[Any, Any, Any],
    code: str,
    english: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    status = STATUS_OF_CODE.get(code, 400)
    message = message_for(code, language_of(request.headers.get("accept-language")), english)
    all_headers = {**request.scope.get("state", {}).get("rate_limit_headers", {}), **(headers or {})}
    if _is_json_api(request):
        item: dict[str, Any] = {"status": str(status), "code": code, "title": code.replace("_", " ").title(),
                                "detail": message}  # fmt: skip
        if details:
            item["meta"] = dict(details)
        body: dict[str, Any] = {"errors": [item]}
    else:
        body = {"error": {"code": code, "message": message, "details": dict(details or {})}, "code": code}
        if details and "retryAfter" in details:
            body["retryAfter"] = details["retryAfter"]
    return Response(body, status_code=status, headers=all_headers, media_type=MediaType.JSON)


def handle_domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    return error_response(request, error.code, error.message, error.details)


def handle_api_error(request: Request[Any, Any, Any], error: ApiError) -> Response[Any]:
    return error_response(request, error.code, error.message, error.details, error.headers)


def handle_validation(request: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    """Litestar's own refusals of a body or a parameter: wrong types, missing fields, bad JSON."""
    problems = error.extra if isinstance(error.extra, list) else []
    fields = []
    for item in problems:
        if not isinstance(item, dict):
            continue
        key, problem = str(item.get("key", "")), str(item.get("message", ""))
        named = _NAMED_FIELD.search(problem)
        fields.append({"field": named.group(1) if key == "data" and named else key, "problem": problem})
    details: dict[str, Any] = {"errors": fields} if fields else {}
    if fields:
        details["field"] = fields[0]["field"]
    return error_response(
        request, "INVALID_PARAMETER", "the request is malformed or has invalid fields", details
    )


_HTTP_CODES: Final[Mapping[int, str]] = {
    400: "INVALID_PARAMETER",
    401: "UNAUTHENTICATED",
    403: "INSUFFICIENT_PERMISSIONS",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}


def handle_http_exception(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if isinstance(error, NotFoundException):
        return error_response(request, "RESOURCE_NOT_FOUND", "no such resource")
    code = _HTTP_CODES.get(
        error.status_code, "INTERNAL_ERROR" if error.status_code >= 500 else "INVALID_PARAMETER"
    )
    english = error.detail if error.status_code < 500 else "the request could not be processed"
    return error_response(request, code, english, headers=error.headers or None)


def handle_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Never the exception's text: it may hold SQL or a secret. Its type is enough to start."""
    if getattr(error, "code", None) == "INTERNAL_ERROR":  # the storage adapter's StorageFailure
        log.error("storage failure on %s %s: %s", request.method, request.url.path, type(error).__name__)
    else:
        log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path)
    return error_response(request, "INTERNAL_ERROR", "the request could not be processed")


EXCEPTION_HANDLERS: Final = {
    DomainError: handle_domain_error,
    ApiError: handle_api_error,
    ValidationException: handle_validation,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
