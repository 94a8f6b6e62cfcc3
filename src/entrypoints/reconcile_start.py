"""The start of `payments reconcile`, light enough to come before the rest of the command (the
core's services, the database adapter, the statement parsers, rich) is imported: its arguments,
and the read of the statement file's SHA-256 (a re-run of the same file is found by it) and, for
the progress bar, its number of lines. The read starts on a thread at once and overlaps those
imports instead of following them: this module imports nothing but the standard library.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

Fingerprint = tuple[str, int | None]

# The statements `adapters.statements.PARSERS` reads, named here so that the arguments are parsed
# without importing the parsers first (40 ms, which the read would wait for); a test holds the two
# equal.
PROVIDERS: Final = ("generic", "mercadopago", "mpesa", "paystack", "stripe")
# Reads big enough that the thread seldom waits for the GIL the imports hold (up to 5 ms a time).
READ_SIZE: Final = 8 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", required=True, choices=PROVIDERS, help="whose statement it is")
    parser.add_argument("--statement", required=True, type=Path, help="the statement file")
    parser.add_argument("--tenant", help="the tenant (default: the only tenant there is)")
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text")
    parser.add_argument("--out", type=Path, help="write the report here instead of stdout")
    parser.add_argument("--window-hours", type=float, default=24.0, help="amount+time match window")
    parser.add_argument("--cutoff-hours", type=float, default=1.0, help="younger records may be missing")
    parser.add_argument("--no-auto-resolve", action="store_true", help="leave every break open")
    parser.add_argument("--currency", help="the statement's currency (mercadopago release reports)")
    parser.add_argument("--as-provider", help="the provider name for a generic statement's records")


def draws_progress() -> bool:
    """Whether the command draws a progress bar: only on a terminal, as rich sees it."""
    from rich.console import Console  # noqa: PLC0415 - imported once the read has started

    return Console(stderr=True).is_terminal


def fingerprint_soon(path: Path, lines: Callable[[], bool] = lambda: True) -> Callable[[], Fingerprint]:
    """Start reading the file's SHA-256 on a thread, and (when `lines()`, asked once the read has
    started) its line count, the progress bar's total, on another; answer the wait for them.

    Hashing releases the GIL, so the read overlaps the command's start-up (its imports, the pool,
    the migrations check): about 0.15 s of a million-line statement. Counting the lines costs
    0.1 s more, so it is done only for a bar."""
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="statement-read")
    digest = executor.submit(sha256_of, path)
    count = executor.submit(lines_of, path) if lines() else None
    executor.shutdown(wait=False)

    def fingerprint() -> Fingerprint:
        return digest.result(), count.result() if count is not None else None

    return fingerprint


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _reads(path):
        digest.update(chunk)
    return digest.hexdigest()


def lines_of(path: Path) -> int:
    """The data lines: every line but the header."""
    return max(0, sum(chunk.count(b"\n") for chunk in _reads(path)) - 1)


def _reads(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(READ_SIZE):
            yield chunk
