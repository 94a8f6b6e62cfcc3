"""Serve an ASGI app on 127.0.0.1 for the length of a `with` block: `with serve(app) as base_url:`.

Invariants
- The port is ephemeral (bound to port 0 before uvicorn starts), so parallel test runs never clash.
- The block is entered only once the server accepts connections, and left only after it stopped
  (in-flight requests get at most `GRACE_SECONDS` to finish).
- uvicorn runs in a daemon thread with its own event loop; it installs no signal handlers there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import uvicorn

GRACE_SECONDS: Final = 2
START_TIMEOUT_SECONDS: Final = 10.0


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` on a fresh loopback port; yields its base URL, `http://127.0.0.1:<port>`."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            listener.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(GRACE_SECONDS + 3)
        listener.close()
