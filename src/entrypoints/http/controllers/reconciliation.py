"""Reconciliation over HTTP: the runs the batch recorded, their breaks, and accepting a break.

    GET  /reconciliation/runs?limit=&before=          newest first; `before` is the last id seen
    GET  /reconciliation/runs/{run_id}
    GET  /reconciliation/runs/{run_id}/breaks?kind=&status=&limit=&after=
    POST /reconciliation/breaks/{break_id}/accept     {"note": "..."}: an approver with fresh MFA

Runs are made by `payments reconcile` (a batch over a file), not over HTTP. Amounts are minor
units, as in the CLI's reports. Another tenant's run or break answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from entrypoints.http.dependencies import Caller, Runtime
from payments_core.errors import ValidationError
from payments_core.model.reconciliation import BreakKind, BreakStatus
from payments_core.services.reconciliation import MAX_PAGE, break_view, run_view

ID_LENGTH: Final = 128


class AcceptBody(msgspec.Struct):
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


def _member(kind: type[BreakKind] | type[BreakStatus], text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValidationError(
            f"unknown {field}", field=field, allowedValues=sorted(member.value for member in kind)
        ) from None


class ReconciliationController(Controller):
    path = "/reconciliation"
    tags = ["reconciliation"]

    @get("/runs", sync_to_thread=True)
    def list_runs(
        self,
        runtime: Runtime,
        principal: Caller,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        before: Annotated[str | None, QueryParameter(max_length=ID_LENGTH)] = None,
    ) -> dict[str, Any]:
        runs = runtime.core.reconciliation.list_runs(principal, limit, before or None)
        return {"runs": [run_view(run) for run in runs], "hasMore": len(runs) == limit}

    @get("/runs/{run_id:str}", sync_to_thread=True)
    def get_run(self, runtime: Runtime, principal: Caller, run_id: FromPath[str]) -> dict[str, Any]:
        return run_view(runtime.core.reconciliation.get_run(principal, run_id))

    @get("/runs/{run_id:str}/breaks", sync_to_thread=True)
    def list_breaks(
        self,
        runtime: Runtime,
        principal: Caller,
        run_id: FromPath[str],
        kind: Annotated[str | None, QueryParameter(max_length=32)] = None,
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
        after: Annotated[str | None, QueryParameter(max_length=ID_LENGTH)] = None,
    ) -> dict[str, Any]:
        found = runtime.core.reconciliation.list_breaks(
            principal,
            run_id,
            _member(BreakKind, kind, "kind"),
            _member(BreakStatus, status, "status"),
            limit,
            after or None,
        )
        return {"breaks": [break_view(item) for item in found], "hasMore": len(found) == limit}

    @post("/breaks/{break_id:str}/accept", status_code=200, sync_to_thread=True, opt={"idempotent": True})
    def accept_break(
        self,
        runtime: Runtime,
        principal: Caller,
        break_id: FromPath[str],
        data: JSONBody[AcceptBody | None] = None,
    ) -> dict[str, Any]:
        note = data.note if data is not None else None
        return break_view(runtime.core.reconciliation.accept_break(principal, break_id, note))


ROUTES = [ReconciliationController]
