"""Schemathesis over the app's own OpenAPI document: generated requests, bounded per operation.

Every operation is called with a valid bearer token of a tenant holding every scope (and fresh
MFA), so generated bodies reach the handlers and the core. Whatever the input, the API must answer
without a server error, with the content type and within the schema it publishes.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from adapters.auth.tokens import JwtTokens, TokenSettings
from adapters.memory.edge import InMemoryIdempotencyStore, InMemoryRateLimiter
from adapters.memory.views import InMemoryPaymentViews
from entrypoints.composition import in_memory_core
from entrypoints.http import HttpRuntime, create_app
from tests.support.http import ALL_SCOPES

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def operations(api):
    schema = schemathesis.openapi.from_asgi("/docs/openapi.json", api.client.app)
    return [result.ok() for result in schema.get_all_operations()]


def test_the_document_lists_every_seed_route(api):
    paths = {operation.path for operation in operations(api)}
    assert {"/api/v1/payments", "/api/v1/wallet/withdrawals", "/api/v1/keys:create"} <= paths
    assert len(paths) >= 40


def _labels() -> list[str]:
    """Every operation of the document, known at collection time from an app on in-memory storage
    (the document does not depend on storage); the tests themselves call the app on PostgreSQL."""
    core, sandbox = in_memory_core()
    tokens = JwtTokens(TokenSettings(secret="collection-only-secret-0123456789abcdef"))
    runtime = HttpRuntime(
        core,
        tokens,
        InMemoryIdempotencyStore(),
        InMemoryRateLimiter(),
        InMemoryPaymentViews(core.deps.uow),
        sandbox=sandbox,
    )
    document = create_app(runtime).openapi_schema
    methods = ("get", "put", "post", "delete", "patch")
    return sorted(
        f"{method.upper()} {path}"
        for path, item in (document.paths or {}).items()
        for method in methods
        if getattr(item, method)
    )


@pytest.fixture(scope="module")
def operation_by_label(api):
    return {f"{operation.method.upper()} {operation.path}": operation for operation in operations(api)}


@pytest.mark.parametrize("label", _labels())
def test_no_server_error_and_answers_match_the_schema(api, operation_by_label, label):
    operation = operation_by_label[label]
    tenant = api.tenant(currency="USD", rate_limit_scale=10_000)

    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def exercise(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {tenant.token(scopes=ALL_SCOPES)}"}
        case.call_and_validate(checks=CHECKS)

    exercise()
