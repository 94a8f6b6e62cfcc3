"""The app factory: every controller under `/api/v1` and the hosted pages, behind the request
pipeline, with one exception handler per error family and the OpenAPI document with interactive
docs at `/docs`."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp

from entrypoints.http.controllers import (
    audit,
    checkout,
    customers,
    deliveries,
    health,
    keys,
    links,
    mercadopago,
    mfa,
    payments,
    provider_webhooks,
    reconciliation,
    refunds,
    sandbox,
    sessions,
    wallet,
    webhooks,
)
from entrypoints.http.dependencies import provide_principal
from entrypoints.http.errors import EXCEPTION_HANDLERS
from entrypoints.http.openapi import document_errors
from entrypoints.http.pages import PAGES
from entrypoints.http.pipeline import RequestPipeline, SharedAdmission
from entrypoints.http.requests import ExactJsonRequest
from entrypoints.http.runtime import HttpRuntime

API_BASE = "/api/v1"
CONTROLLERS: tuple[ModuleType, ...] = (
    health,
    payments,
    sessions,
    mercadopago,
    customers,
    wallet,
    checkout,
    refunds,
    links,
    keys,
    webhooks,
    provider_webhooks,
    deliveries,
    mfa,
    audit,
    reconciliation,
    sandbox,
)


def create_app(runtime: HttpRuntime, debug: bool = False) -> Litestar:
    routes: list[Any] = [route for module in CONTROLLERS for route in module.ROUTES]

    shared = SharedAdmission.of(runtime)

    def pipeline(app: ASGIApp) -> ASGIApp:  # a closure: Litestar deep-copies middleware arguments
        return RequestPipeline(app, runtime, shared)

    api = Router(path=API_BASE, route_handlers=routes, middleware=[pipeline])
    # The hosted pages pass the same pipeline: their per-IP limits are the API's own buckets.
    pages = Router(path="/", route_handlers=PAGES, middleware=[pipeline])
    return Litestar(
        route_handlers=[api, pages],
        dependencies={
            "runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_class=ExactJsonRequest,
        on_startup=[document_errors, runtime.views.open],
        on_shutdown=[runtime.views.close],
        openapi_config=OpenAPIConfig(
            title="payments-core",
            version="1.0.0",
            description="Multi-tenant payments: checkout, payments, refunds, wallet and withdrawals.",
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT or sk_test_…"),
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=debug,
    )
