"""The VM list page's server time at 10,000 VMs as a ratio to the same page at 100 VMs (goal: below 1.5).

Two workspaces in one database, 100 and 10,000 VMs, the same user, measured alternately in one run
(median of many requests through Django's test client, so only server work is timed).

    python -m bench.bench_list_page
"""
import statistics
import time

from bench.common import report, setup_django

SMALL, LARGE = 100, 10_000
ROUNDS = 40
GOAL = 1.5


def seed(workspace, account, count: int) -> None:
    from vms.models import VM
    from vms.state import VMStatus

    others = [status for status in VMStatus if status != VMStatus.RUNNING]
    VM.objects.bulk_create([  # half running, so a status filter fills a page in both workspaces
        VM(name=f"vm-{i:05}", workspace=workspace, account=account, provider="aws",
           status=VMStatus.RUNNING if i % 2 == 0 else others[i % len(others)],
           instance_id=f"i-{workspace.slug}-{i:05}", instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec",
           cpus=2, memory_mb=2048, storage_gb=8, metadata={"n": str(i)})
        for i in range(count)
    ], batch_size=2000)


def median_ms(client, url: str, samples: list[float]) -> None:
    start = time.perf_counter()
    response = client.get(url)
    samples.append((time.perf_counter() - start) * 1000)
    assert response.status_code == 200, response.status_code


def main() -> None:
    setup_django("list_page")
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from workspaces import services

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    small = services.workspace_create(name="Small", actor=user)
    large = services.workspace_create(name="Large", actor=user)
    for workspace, count in ((small, SMALL), (large, LARGE)):
        account = services.account_create(workspace=workspace, provider="aws", name=f"aws-{workspace.slug}", actor=user)
        seed(workspace, account, count)

    client = Client()
    client.force_login(user)
    # Every query fills a page of 50 rows in both workspaces, so the same HTML is rendered on both sides.
    pages = {
        "first page (the list page)": "",
        "page 2": "?page=2",
        "sorted by name": "?sort=name",
        "status filter + sort": "?status=running&sort=-created",
        "search (substring scan)": "?q=vm-00",
    }
    rows = []
    ratios = []
    for label, query in pages.items():
        urls = {count: reverse("vm-list", args=[workspace.slug]) + query for workspace, count in ((small, SMALL), (large, LARGE))}
        for url in urls.values():  # warm up caches and templates
            client.get(url)
        samples = {SMALL: [], LARGE: []}
        for _ in range(ROUNDS):
            for count, url in urls.items():
                median_ms(client, url, samples[count])
        queries = {}
        for count, url in urls.items():
            with CaptureQueriesContext(connection) as captured:
                client.get(url)
            queries[count] = len(captured)
        small_ms, large_ms = statistics.median(samples[SMALL]), statistics.median(samples[LARGE])
        ratio = large_ms / small_ms
        ratios.append(ratio)
        rows.append((label, f"{small_ms:6.2f} ms at {SMALL:,} VMs, {large_ms:6.2f} ms at {LARGE:,} VMs -> ratio {ratio:.2f} "
                            f"(queries {queries[SMALL]} vs {queries[LARGE]})"))
    rows.append(("list page ratio", f"{ratios[0]:.2f} (goal < {GOAL}) {'OK' if ratios[0] < GOAL else 'OVER GOAL'}"))
    rows.append(("worst of all", f"{max(ratios):.2f}"))
    report(f"VM list page server time, {LARGE:,} VMs vs {SMALL:,} VMs (median of {ROUNDS})", rows)


if __name__ == "__main__":
    main()
