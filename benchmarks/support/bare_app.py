"""The baseline of the HTTP benchmark: a bare Litestar app with one trivial endpoint."""

from litestar import Litestar, get


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, bool]:
    return {"ok": True}


app = Litestar(route_handlers=[ping], openapi_config=None)
