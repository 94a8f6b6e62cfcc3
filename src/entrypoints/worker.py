"""The outbound webhook worker loop, run by `payments worker` or inside `payments serve`.

Several loops may run at once, in one process or many: each pass claims its own deliveries
(FOR UPDATE SKIP LOCKED), so no delivery is sent twice at once. A pass that found nothing to do,
or met an unavailable database, waits `interval` seconds; a busy loop goes straight on.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from payments_core.errors import DomainError

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
