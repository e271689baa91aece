"""Browser tests: chromium (Playwright, sync API) against the app served by daphne in a subprocess, on the
test database, with the status poller inside the server and the cloud sandboxes in the test process."""
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import chromium_path
from tests.liveserver import database_url, free_port

BASE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SERVER_LOG = BASE_DIR / "var" / "browser-server.log"
SCREENSHOTS = BASE_DIR / "var" / "screenshots"


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker):
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        "POLL_TRANSITIONAL_INTERVAL": "0.5",
        "POLL_SETTLED_INTERVAL": "5",
        "PYTHONUNBUFFERED": "1",
    }
    if settings.SKYCLUST_ENCRYPTION_KEY:
        env["SKYCLUST_ENCRYPTION_KEY"] = settings.SKYCLUST_ENCRYPTION_KEY
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(SERVER_LOG, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "tests.browser.live_server", "--port", str(port)],
                                   cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the test server exited with {process.returncode}; see {SERVER_LOG}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the test server did not answer within {timeout} s; see {SERVER_LOG}")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or chromium_path(), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def slow_transitions(sandboxes):
    """Instances spend a moment in each transitional state, so a page can be seen following them."""
    sandboxes.set_transition_seconds(1.5)
    yield sandboxes
    sandboxes.set_transition_seconds(0.0)
