"""The published document tells the truth about errors: every operation lists the answers the
pipeline and the exception handler can give, with the envelope they really carry (JSON:API errors on
seed 001's routes), instead of the framework's default validation error."""

from __future__ import annotations

from typing import Any, Final

from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema

ERROR_STATUSES: Final = {
    "400": "Invalid input (INVALID_PARAMETER, INVALID_AMOUNT, INVALID_OPERATION, IDEMPOTENCY_KEY_REUSED, …)",
    "401": "No valid credential, or MFA step-up required (UNAUTHENTICATED, MFA_CHALLENGE_REQUIRED)",
    "403": "Missing scope, four-eyes violation or tenant mismatch (INSUFFICIENT_PERMISSIONS, …)",
    "404": "No such resource in the caller's tenant (RESOURCE_NOT_FOUND)",
    "409": "A request with the same Idempotency-Key is in flight, or an id conflict",
    "429": "Rate limit exceeded (RATE_LIMIT_EXCEEDED, details.retryAfter)",
    "500": "Unexpected failure (INTERNAL_ERROR); nothing internal is disclosed",
    "503": "A provider or the database is unavailable (PROVIDER_UNAVAILABLE, SERVICE_UNAVAILABLE)",
}

_STRING = Schema(type=OpenAPIType.STRING)
ENVELOPE: Final = Schema(
    type=OpenAPIType.OBJECT,
    required=["error", "code"],
    properties={
        "code": _STRING,
        "retryAfter": Schema(type=OpenAPIType.INTEGER),
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message", "details"],
            properties={"code": _STRING, "message": _STRING, "details": Schema(type=OpenAPIType.OBJECT)},
        ),
    },
)
JSON_API_ERRORS: Final = Schema(
    type=OpenAPIType.OBJECT,
    required=["errors"],
    properties={
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["status", "code", "title", "detail"],
                properties={"status": _STRING, "code": _STRING, "title": _STRING, "detail": _STRING},
            ),
        )
    },
)


def document_errors(app: Litestar) -> None:
    """Rewrite every operation's error answers once, at startup (the document is then cached)."""
    document = app.openapi_schema
    for path, item in (document.paths or {}).items():
        schema = JSON_API_ERRORS if path.startswith("/api/v1/mercadopago") else ENVELOPE
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Any = getattr(item, method, None)
            if operation is None:
                continue
            responses = dict(operation.responses or {})
            for status, description in ERROR_STATUSES.items():
                responses[status] = OpenAPIResponse(
                    description=description, content={"application/json": OpenAPIMediaType(schema=schema)}
                )
            operation.responses = responses
