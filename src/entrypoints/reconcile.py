"""`payments reconcile`: one provider statement against one tenant's payments and ledger.

    payments reconcile --provider stripe --statement payouts.csv [--tenant T] [--format text|json|csv]
                       [--out FILE] [--window-hours H] [--cutoff-hours H] [--no-auto-resolve]

Exit codes: 0 when no break is left open, 1 when breaks are open, 2 on bad input (an unknown
provider or tenant, a file that cannot be read, a malformed row: its line number is printed and
nothing is written). Re-running the same statement changes nothing and reports the first run.
A progress bar is drawn on stderr when it is a terminal; the report goes to stdout or `--out`.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from rich.console import Console

from adapters.statements import StatementError, open_statement
from entrypoints.reconcile_start import Fingerprint
from payments_core.errors import DomainError
from payments_core.model.reconciliation import Break, BreakStatus, MatchRules, ReconciliationRun
from payments_core.policies import Principal, Scope
from payments_core.ports.statements import PlainCsvSource
from payments_core.services.reconciliation import RunResult, break_view, run_view

if TYPE_CHECKING:
    from payments_core import PaymentsCore

EXIT_CLEAN: Final = 0
EXIT_BREAKS: Final = 1
EXIT_BAD_INPUT: Final = 2
PAGE: Final = 500
CSV_COLUMNS: Final = (
    "id", "kind", "status", "difference", "currency", "line_number", "external_id", "reference",
    "record_kind", "record_id", "record_status",
)  # fmt: skip


def run(
    args: argparse.Namespace,
    core: PaymentsCore,
    tenants: Callable[[], list[str]],
    fingerprint_read: Callable[[], Fingerprint],
) -> int:
    """`fingerprint_read`: the wait for the statement's digest and line count, whose read
    `fingerprint_soon` started before the command's imports."""
    err = Console(stderr=True)
    try:
        tenant_id = _tenant(args.tenant, tenants)
        rules = MatchRules(
            window=timedelta(hours=args.window_hours), cutoff=timedelta(hours=args.cutoff_hours)
        )
        digest, total = fingerprint_read()
        source = open_statement(args.provider, args.statement, **_options(args))
    except (DomainError, OSError) as error:
        err.print(f"[red]bad input:[/] {_message(error)}", highlight=False)
        return EXIT_BAD_INPUT
    provider = args.as_provider or args.provider
    operator = Principal.user(
        tenant_id, f"cli:{getpass.getuser()}", {Scope.FINANCE_VIEW.value}, None, livemode=True
    )
    try:
        with _progress(err, total) as progress:
            result = core.reconciliation.reconcile(
                operator, provider, digest, source.staged(), rules,
                auto_resolve=not args.no_auto_resolve, statement_name=args.statement.name, progress=progress,
                plain=source.plain_csv() if isinstance(source, PlainCsvSource) else None,
            )  # fmt: skip
    except StatementError as error:
        err.print(f"[red]bad statement:[/] {error.message} (nothing was written)", highlight=False)
        return EXIT_BAD_INPUT
    except DomainError as error:
        err.print(f"[red]refused:[/] {error.code}: {error.message} (nothing was written)", highlight=False)
        return EXIT_BAD_INPUT
    breaks = list(_all_breaks(core, operator, result.run))
    with _output(args.out) as out:
        _report(args.format, out, result, breaks)
    if result.replayed:
        err.print(f"this statement was reconciled already, as run {result.run.id}: nothing changed")
    return EXIT_BREAKS if any(b.status is BreakStatus.OPEN for b in breaks) else EXIT_CLEAN


def _tenant(named: str | None, tenants: Callable[[], list[str]]) -> str:
    known = tenants()
    if named is not None:
        if named not in known:
            raise DomainError(f"no tenant {named[:64]!r}")
        return named
    if len(known) != 1:
        raise DomainError(f"name the tenant with --tenant (there are {len(known)})")
    return known[0]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    if args.provider == "mercadopago":
        if not args.currency:
            raise DomainError("a MercadoPago release report needs --currency")
        return {"currency": args.currency.upper()}
    if args.provider == "generic" and args.as_provider:
        return {"provider": args.as_provider}
    return {}


def _message(error: BaseException) -> str:
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, OSError):
        return f"{error.strerror or 'cannot read'}: {error.filename}"
    return type(error).__name__


@contextmanager
def _progress(console: Console, total: int | None) -> Iterator[Callable[[int], None] | None]:
    if not console.is_terminal or total is None:
        yield None
        return
    # Loaded only for a bar: a command whose output is not a terminal spends no start-up on it.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    columns = (TextColumn("staging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("lines", total=total)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as stream:
        yield stream


def _all_breaks(core: PaymentsCore, operator: Principal, run: ReconciliationRun) -> Iterator[Break]:
    after: str | None = None
    while True:
        page: list[Break] = core.reconciliation.list_breaks(operator, run.id, limit=PAGE, after=after)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


def _report(kind: str, out: IO[str], result: RunResult, breaks: list[Break]) -> None:
    if kind == "json":
        document = {
            "run": run_view(result.run),
            "replayed": result.replayed,
            "breaks": [break_view(b) for b in breaks],
        }
        json.dump(document, out, indent=2)
        out.write("\n")
    elif kind == "csv":
        _csv(out, breaks)
    else:
        _text(out, result, breaks)


def _csv(out: IO[str], breaks: list[Break]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in breaks:
        view, line, record = break_view(item), item.line or {}, item.record or {}
        writer.writerow(
            (
                view["id"], view["kind"], view["status"], view["difference"], view["currency"],
                line.get("lineNumber"), line.get("externalId"), line.get("reference"),
                record.get("kind"), record.get("id"), record.get("status"),
            )
        )  # fmt: skip


def _text(out: IO[str], result: RunResult, breaks: list[Break]) -> None:
    from rich.table import Table  # noqa: PLC0415 - only the text report draws tables

    run = result.run
    target = Console() if out is sys.stdout else Console(file=out, width=100)
    summary = Table(
        title=f"Reconciliation {run.id} ({run.provider}, {run.statement_name or run.digest[:12]})"
    )
    summary.add_column("", style="bold")
    summary.add_column("count", justify="right")
    for label, value in (
        ("lines", run.lines),
        ("matched", run.matched),
        ("informational", run.informational),
    ):
        summary.add_row(label, str(value))
    for kind, count in run.counts.items():
        summary.add_row(kind, str(count), style="red" if count else None)
    summary.add_row("auto-resolved", str(run.auto_resolved))
    summary.add_row("open breaks", str(sum(1 for b in breaks if b.status is BreakStatus.OPEN)))
    summary.add_row("duration", f"{run.duration_ms / 1000:.2f} s")
    target.print(summary)
    shown = [b for b in breaks if b.status is BreakStatus.OPEN][:20]
    if shown:
        detail = Table(title="Open breaks (first 20; --format json or csv for all)")
        for column in ("break", "kind", "line", "record", "difference"):
            detail.add_column(column, overflow="fold")  # a break's id is what `accept` needs: whole
        for item in shown:
            detail.add_row(
                item.id, item.kind.value, str((item.line or {}).get("lineNumber", "")),
                str((item.record or {}).get("id", "")),
                "" if item.difference is None else str(item.difference),
            )  # fmt: skip
        target.print(detail)
