"""The start of `payments reconcile`, light enough to come before the rest of the command (the
core's services, the database adapter) is imported: its arguments, and the read of the statement
file's SHA-256 (a re-run of the same file is found by it) and, for the progress bar, its number of
lines. The read starts on a thread at once and overlaps those imports instead of following them.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from adapters.statements import PARSERS

Fingerprint = tuple[str, int | None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", required=True, choices=sorted(PARSERS), help="whose statement it is")
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
    """Whether the command draws a progress bar: only on a terminal."""
    return Console(stderr=True).is_terminal


def fingerprint_soon(path: Path, lines: bool = True) -> Callable[[], Fingerprint]:
    """Start reading the file's SHA-256 (and its line count, the progress bar's total, when
    `lines`) on a thread, and answer the wait for them.

    Hashing releases the GIL, so the read overlaps the command's start-up (its imports, the pool,
    the migrations check): about 0.15 s of a million-line statement. Counting the lines costs
    0.1 s more, so it is done only for a bar."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statement-digest")
    future = executor.submit(fingerprint, path, lines)
    executor.shutdown(wait=False)
    return future.result


def fingerprint(path: Path, lines: bool) -> Fingerprint:
    """The file's SHA-256 and (when `lines`) its number of lines, in one pass of 1 MiB reads."""
    digest = hashlib.sha256()
    count = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            if lines:
                count += chunk.count(b"\n")
    return digest.hexdigest(), max(0, count - 1) if lines else None
