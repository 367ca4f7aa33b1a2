"""What the browser scenarios share: starting the app on a free port, and full-page screenshots."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT_S = 60.0


_SCRIPT_STATE = ("() => document.querySelector('[data-testid=\"stApp\"]')"
                 "?.getAttribute('data-test-script-state') === 'running'")


def wait_for_rerun(page: Page, started_within_ms: int = 1_500) -> None:
    """Wait for the script run a widget change starts, then for it to end.

    Checking only for "notRunning" right after the change can pass before the run has begun;
    the next change then lands on a page about to be redrawn and may be lost. So first wait
    (briefly) for the run to start: a change that starts none costs ``started_within_ms``.
    """
    with contextlib.suppress(PlaywrightTimeout):  # no run started, or it ended unseen
        page.wait_for_function(_SCRIPT_STATE, timeout=started_within_ms)
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def save_full_screenshot(page: Page, path: str) -> None:
    """Screenshot the whole app: Streamlit scrolls inside its main container, not the page, so
    grow the viewport to the content's height first."""
    height = page.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": int(height) + 40})
    page.screenshot(path=path, full_page=True)


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


@contextmanager
def serve_app(folder: Path) -> Iterator[str]:
    """Run `streamlit run app.py` on a free port until the block ends; yield its URL.

    The app's database (history, templates, audit) lives in ``folder``, empty at the start, never
    the repository's ``.lakestream/``; the server log is ``folder/server.log``.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKESTREAM_DATABASE", "PG"))}
    env.update(PYTHONUNBUFFERED="1", LAKESTREAM_DATA_DIR=str(folder / "lakestream"))
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not _is_healthy(url):
            if server.poll() is not None:
                pytest.fail(f"streamlit exited with code {server.returncode}:\n"
                            f"{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n"
                            f"{log_path.read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
