"""Real-browser harness: a `streamlit run app.py` server on a free port and Debian Chromium.

A missing /usr/bin/chromium skips these tests, unless LAKESTREAM_REQUIRE_BROWSER=1 (set by
.ci/run), which makes it a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
HEALTH_TIMEOUT_S = 60.0
UI_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session", autouse=True)
def _generous_expect_timeout() -> None:
    """A first page load compiles the frontend bundle; 5 s (Playwright's default) is too tight."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.is_file():
        reason = f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("LAKESTREAM_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run app.py` on a free port, wait until healthy, yield its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not _is_healthy(url):
            if server.poll() is not None:
                pytest.fail(
                    f"streamlit exited with code {server.returncode}:\n{log_path.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n{log_path.read_text()}"
                )
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab (its own context: no state shared between tests)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()
