"""Run SkyClust processes (daphne, management commands) against the current test database and Redis.

Used by the cross-process tests and the fan-out benchmark: the processes share the database (PostgreSQL,
or an SQLite file) and, for WebSocket pushes across processes, the channel layer (Redis).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The URL of the database this process uses now (the test database under pytest)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3" and not str(db["NAME"]).startswith(("file:", ":memory:")):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("other processes can share only a PostgreSQL database or an SQLite file")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{quote(db['USER'] or '')}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: same database, same Redis, a channel prefix of its own run."""
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL or "", "PYTHONPATH": str(ROOT)}
    env.setdefault("CHANNELS_PREFIX", f"skyclust-test-{uuid.uuid4().hex[:8]}")
    env.update(extra)
    return env


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


@contextmanager
def daphne(env: dict[str, str], port: int | None = None):
    """A daphne process serving skyclust.asgi on a loopback port; yields the port."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "skyclust.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def session_cookie(user) -> str:
    """A `Cookie` header value of a logged-in session for `user` (stored in the shared database)."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
