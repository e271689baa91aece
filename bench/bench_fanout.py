"""Fan-out: 500 WebSocket clients on one workspace across two daphne processes, joined by Redis.

50 users (viewers, operators and admins, 10 open pages each) connect round-robin to two daphne processes.
This process then commits status changes one by one, each published on commit exactly as the poller does,
and every client notes when the change's row arrives. Reported: time from commit to the LAST client
(p50, p95 over the changes), the spread over all deliveries, and messages lost.

Run: `python -m bench.bench_fanout` (about 30 s). Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0);
the database is a fresh SQLite file shared by the three processes, or DATABASE_URL. FANOUT_CLIENTS and
FANOUT_USERS change the load.
"""
from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

from bench.common import report, setup_django

CLIENTS = int(os.environ.get("FANOUT_CLIENTS", 500))
USERS = int(os.environ.get("FANOUT_USERS", 50))
CHANGES = 30
SECONDS_BETWEEN_CHANGES = 0.4
ROLES = ("viewer", "operator", "admin")
ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r'<tr id="vm-([0-9a-f-]{36})" class="vm-row" data-status="(\w+)"')


def main() -> int:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ["CHANNELS_PREFIX"] = f"skyclust-bench-{uuid.uuid4().hex[:8]}"  # this run's processes only
    if not redis_answers(os.environ["REDIS_URL"]):
        print(f"bench_fanout skipped: no Redis at {os.environ['REDIS_URL']} (set REDIS_URL)")
        return 0
    setup_django("bench_fanout")
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # 50 throw-away users
    workspace, vms, cookies = build_world()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    from tests.liveserver import daphne

    with daphne(env) as first, daphne(env) as second:
        urls = [f"ws://127.0.0.1:{port}/ws/workspaces/{workspace.pk}/" for port in (first, second)]
        results = asyncio.run(run_clients(urls, cookies, vms))
    print_results(results)
    return 0


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def build_world():
    from django.contrib.auth import get_user_model

    from tests.liveserver import session_cookie
    from vms.models import VM
    from workspaces import services as workspace_services

    owner = get_user_model().objects.create_user("fanout-owner", password="bench-password-1")
    workspace = workspace_services.workspace_create(name="Fan-out", actor=owner)
    account = workspace_services.account_create(workspace=workspace, provider="aws", name="aws", actor=None, authorize=False)
    cookies = []
    for index in range(USERS):
        user = get_user_model().objects.create_user(f"user-{index}", password="bench-password-1")
        workspace_services.member_add(workspace=workspace, user=user, role=ROLES[index % len(ROLES)], actor=None, authorize=False)
        cookies.append(session_cookie(user))
    vms = VM.objects.bulk_create([
        VM(name=f"web-{index}", workspace=workspace, account=account, provider="aws", instance_id=f"i-{index:08x}",
           status="running", instance_type="t3.micro", region="us-east-1", image_id="ami-0c7217cdde317cfec",
           cpus=2, memory_mb=1024, storage_gb=8)
        for index in range(CHANGES)
    ])
    return workspace, vms, cookies


def commit_change(vm) -> float:
    """Stop one VM as the poller records it; returns the moment the transaction committed."""
    from django.db import connection, transaction

    from vms import services

    committed = []
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.perf_counter()))  # runs before the publish
            services.vm_update_status(vm_id=vm.pk, status="stopped")
    finally:
        connection.close()
    return committed[0]



async def run_clients(urls, cookies, vms) -> dict:
    from tests.wsclient import Closed, WebSocket

    arrivals: dict[str, list[float]] = {str(vm.pk): [] for vm in vms}
    handshakes = asyncio.Semaphore(50)  # a burst of 500 handshakes overflows the listen backlog

    async def connect(index: int):
        url = urls[index % len(urls)]
        async with handshakes:
            return await WebSocket.connect(url, cookie=cookies[index % len(cookies)], origin="http://" + url.split("/")[2])

    start = time.perf_counter()
    sockets = await asyncio.gather(*(connect(index) for index in range(CLIENTS)))
    connect_seconds = time.perf_counter() - start

    closed: list = []

    async def listen(socket):
        try:
            while True:
                for vm_id, status in ROW.findall(await socket.receive()):
                    if status == "stopped" and vm_id in arrivals:
                        arrivals[vm_id].append(time.perf_counter())
        except (Closed, ConnectionError) as error:
            closed.append(getattr(error, "code", None) or type(error).__name__)

    listeners = [asyncio.create_task(listen(socket)) for socket in sockets]
    await asyncio.sleep(1.0)  # let every consumer finish joining its group
    commits = {}
    for vm in vms:
        commits[str(vm.pk)] = await asyncio.to_thread(commit_change, vm)
        await asyncio.sleep(SECONDS_BETWEEN_CHANGES)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(len(times) < CLIENTS for times in arrivals.values()):
        await asyncio.sleep(0.1)
    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    return {"arrivals": arrivals, "commits": commits, "connect_seconds": connect_seconds, "closed": closed}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def print_results(results: dict) -> None:
    arrivals, commits = results["arrivals"], results["commits"]
    last = [max(times) - commits[vm_id] for vm_id, times in arrivals.items() if times]
    first = [min(times) - commits[vm_id] for vm_id, times in arrivals.items() if times]
    every = [moment - commits[vm_id] for vm_id, times in arrivals.items() for moment in times]
    expected = CLIENTS * len(commits)
    delivered = sum(min(len(times), CLIENTS) for times in arrivals.values())
    report(f"Fan-out: {CLIENTS} WebSocket clients ({USERS} users) on one workspace, 2 daphne processes, Redis", [
        ("clients connected in", f"{results['connect_seconds']:.2f} s"),
        ("changes committed", f"{len(commits)}, {SECONDS_BETWEEN_CHANGES} s apart"),
        ("commit -> last client p50", f"{1000 * statistics.median(last):.0f} ms" if last else "n/a"),
        ("commit -> last client p95", f"{1000 * percentile(last, 0.95):.0f} ms (goal < 1000 ms)" if last else "n/a"),
        ("commit -> first client p50", f"{1000 * statistics.median(first):.0f} ms" if first else "n/a"),
        ("commit -> any client p50 / p95", f"{1000 * statistics.median(every):.0f} / {1000 * percentile(every, 0.95):.0f} ms" if every else "n/a"),
        ("messages lost", f"{expected - delivered} of {expected} (goal 0)"),
        ("sockets closed by the server", f"{len(results['closed'])} {sorted(set(map(str, results['closed'])))}"),
    ])


if __name__ == "__main__":
    sys.exit(main())
