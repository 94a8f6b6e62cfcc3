"""What a command that never calls a provider loads: no HTTP client library; and what a
reconciliation whose output is no terminal loads: no progress bar, no table.

httpx is imported with the first provider client made (`http_policy`), not by wiring the core:
it costs 57 ms of start-up, a twentieth of a small reconciliation. rich's progress bar and tables
are imported when a bar or a text report is drawn: 20 ms more."""

from __future__ import annotations

import subprocess
import sys

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
