"""What a command that never calls a provider loads: no HTTP client library; and what a
reconciliation whose output is no terminal loads: no progress bar, no table.

httpx is imported with the first provider client made (`http_policy`), not by wiring the core:
it costs 57 ms of start-up, a twentieth of a small reconciliation. rich's progress bar and tables
are imported when a bar or a text report is drawn: 20 ms more. And what the reconcile command
loads before it starts reading its statement: the standard library alone, so the read overlaps
every other import."""

from __future__ import annotations

import subprocess
import sys

from adapters.statements import PARSERS
from entrypoints.reconcile_start import PROVIDERS

WIRING = """
import sys
from entrypoints.composition import wire_core
from entrypoints.reconcile import run
from adapters.providers.http_policy import ProviderHttp
stripe = ProviderHttp("stripe", "https://api.stripe.com")
{then}
print(sorted(name for name in sys.modules if name.split(".")[0] in ("httpx", "httpcore")))
"""


def loaded(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_wiring_the_core_and_the_reconcile_command_loads_no_http_client():
    assert loaded(WIRING.format(then="")).strip() == "[]"


def test_the_first_client_made_loads_httpx():
    assert "'httpx'" in loaded(WIRING.format(then="stripe._client.get()"))


def test_the_reconcile_command_loads_no_bar_or_table_until_it_draws_one():
    code = WIRING.replace('"httpx", "httpcore"', '"rich.progress", "rich.table"').replace(
        'name.split(".")[0]', "name"
    )
    assert loaded(code.format(then="")).strip() == "[]"
    drawn = loaded(
        code.format(
            then="from rich.console import Console\n"
            "import io\n"
            "from entrypoints.reconcile import _progress\n"
            "console = Console(file=io.StringIO(), force_terminal=True)\n"
            "with _progress(console, 10) as advance: advance(5)"
        )
    )
    assert "'rich.progress'" in drawn


def test_the_reconcile_command_starts_its_read_having_imported_nothing_of_ours_but_its_start():
    code = """
import sys
from entrypoints.cli import _parser
from entrypoints.reconcile_start import fingerprint_soon
ours = ("adapters", "payments_core", "rich", "psycopg", "attrs", "attr", "cattrs")
print(sorted(name for name in sys.modules if name.split(".")[0] in ours))
"""
    assert loaded(code).strip() == "[]"


def test_the_command_offers_exactly_the_statements_there_are_parsers_for():
    assert tuple(sorted(PARSERS)) == PROVIDERS
