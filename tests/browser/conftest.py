"""A real headless Chromium against the real app, served by uvicorn on 127.0.0.1.

Invariants
- The browser talks to a real listening server (uvicorn in a thread, an ephemeral port), never to
  the in-process TestClient: the app is `create_app` over the harness's own runtime, so the test
  reads the outcome through the same core the pages wrote to.
- Chromium is Debian's (`/usr/bin/chromium`, driven by `/usr/bin/chromedriver`). A missing one FAILS
  the test with how to install it (`.ci/run` installs it; CI never skips a browser test).
- Each test gets its own browser with a fresh profile under its tmp_path: nothing carries over.
- Selenium is given the driver's path, so Selenium Manager never runs (it would try to download).
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import pytest
import uvicorn
from litestar import Litestar
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from entrypoints.http import create_app
from tests.support.http import Api, running_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = (
    "the browser tests need Debian's Chromium and its driver: run `bash .ci/install-browser` "
    "(or `apt-get install -y chromium chromium-driver`)"
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,768",
)
STARTUP_SECONDS = 10


@contextmanager
def serving(app: Litestar) -> Iterator[str]:
    """`app` on a real socket at 127.0.0.1:<ephemeral>, until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            pytest.fail("uvicorn did not start serving the app")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_SECONDS)
        sock.close()


@attrs.frozen
class Shop:
    """A merchant's site on 127.0.0.1: the paths the browser was sent to, in order."""

    base_url: str
    visited: list[str]


@contextmanager
def shop_site() -> Iterator[Shop]:
    """A real HTTP server answering every GET with a small page, recording its path."""
    visited: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            visited.append(self.path)
            body = b"<!doctype html><title>Shop</title><h1>Back at the shop</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Shop(f"http://127.0.0.1:{server.server_address[1]}", visited)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shop() -> Iterator[Shop]:
    with shop_site() as running:
        yield running


@pytest.fixture(scope="module")
def api(pg_url: str) -> Iterator[Api]:
    with running_api(pg_url) as running:
        yield running


@pytest.fixture(scope="module")
def site(api: Api) -> Iterator[str]:
    """The base URL of the real app, over the same runtime (core, sandbox) as `api`."""
    with serving(create_app(api.runtime)) as base_url:
        yield base_url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL_HINT}", pytrace=False)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()
