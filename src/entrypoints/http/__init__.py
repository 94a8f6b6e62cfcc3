"""The HTTP API: one Litestar app under `/api/v1` serving every endpoint of the seed documents."""

from entrypoints.http.app import create_app
from entrypoints.http.runtime import HttpRuntime

__all__ = ["HttpRuntime", "create_app"]
