"""The background loops run by `payments worker` or inside `payments serve`: outbound webhook
deliveries, and the janitor that asks providers about what stayed pending.

Several loops of each kind may run at once, in one process or many: each pass claims its own
deliveries or pending objects (FOR UPDATE SKIP LOCKED, then a lease), so nothing is sent, asked
about or applied twice at once. A pass that found nothing to do, or met an unavailable database,
waits `interval` seconds; a busy loop goes straight on. A janitor pass that fails in any way is
logged and retried after the interval: what it had claimed is due again once its lease ends.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any, Final

from payments_core.errors import DomainError

JANITOR_INTERVAL: Final = 60.0
JANITOR_BATCH: Final = 50

log = logging.getLogger("payments.worker")


def run_deliveries(deliveries: Any, stop: threading.Event, interval: float = 1.0, batch: int = 50) -> None:
    while not stop.is_set():
        try:
            report = deliveries.work_once(datetime.now(UTC), batch)
        except DomainError as error:  # the database is away: try again after a pause
            log.warning("webhook deliveries paused: %s", error.code)
            report = None
        if report is None or (report.fanned_out == 0 and report.attempted == 0):
            stop.wait(interval)


def start_in_background(deliveries: Any, interval: float = 1.0) -> threading.Event:
    """The loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(
        target=run_deliveries, args=(deliveries, stop, interval), name="webhook-deliveries", daemon=True
    ).start()
    return stop


def run_janitor(
    janitor: Any, stop: threading.Event, interval: float = JANITOR_INTERVAL, batch: int = JANITOR_BATCH
) -> None:
    """`janitor.sweep(batch)` until `stop` is set: at once, then every `interval` seconds while it
    catches up with everything due in one pass, back to back while it does not."""
    while not stop.is_set():
        try:
            report = janitor.sweep(batch)
        except DomainError as error:  # the database is away: try again after a pause
            log.warning("janitor paused: %s", error.code)
            report = None
        except Exception:  # a crash mid-pass: its claims come back after their lease
            log.exception("janitor pass failed")
            report = None
        if report is not None and (report.claimed or report.expired):
            log.info(
                "janitor: %d claimed, %d applied, %d unsettled, %d unanswered, %d sessions expired",
                report.claimed, report.applied, report.unsettled, report.unanswered, report.expired,
            )  # fmt: skip
        if report is None or report.caught_up:
            stop.wait(interval)


def start_janitor_in_background(janitor: Any, interval: float = JANITOR_INTERVAL) -> threading.Event:
    """The janitor's loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_janitor, args=(janitor, stop, interval), name="janitor", daemon=True).start()
    return stop
