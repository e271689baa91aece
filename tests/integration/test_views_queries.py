"""The VM list page costs the same number of SQL queries for 10 VMs and for 5,000 (and at most 12)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import factories
from tests.htmlcheck import checked_client
from vms import sharing
from vms.models import VM
from vms.state import VMStatus

pytestmark = pytest.mark.django_db

MAX_QUERIES = 12


def add_vms(world, count: int, start: int = 0) -> None:
    gcp = factories.make_account(world.workspace, "gcp", name=f"gcp-{start}")
    statuses = list(VMStatus)
    VM.objects.bulk_create([
        VM(name=f"vm-{i:05}", workspace=world.workspace, account=gcp if i % 2 else world.account, provider="gcp" if i % 2 else "aws",
           status=statuses[i % len(statuses)], instance_id=f"i-{i:05}",
           instance_type="e2-small" if i % 2 else "t3.small", region="us-central1" if i % 2 else "us-east-1",
           zone="us-central1-a" if i % 2 else "", image_id="img", cpus=2, memory_mb=2048, storage_gb=10)
        for i in range(start, start + count)
    ], batch_size=1000)


def count_queries(client, url, headers=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", ["viewer", "owner"])
def test_list_page_queries_do_not_grow_with_vms(world, role, django_assert_max_num_queries):
    user = getattr(world, role)
    sharing.vm_share(vm_id=factories.make_vm(world.other_account, "shared-in").pk, user=user, permission="view_vm", actor=world.outsider)
    client = checked_client(user)
    urls = [
        reverse("vm-list", args=[world.workspace.slug]),
        reverse("vm-list", args=[world.workspace.slug]) + "?status=running&sort=name&page=3&q=vm-",
    ]
    add_vms(world, 10)
    small = [count_queries(client, url) for url in urls]
    small_fragment = count_queries(client, urls[1], {"HX-Request": "true"})
    add_vms(world, 4990, start=10)
    assert VM.objects.filter(workspace=world.workspace).count() == 5000
    with django_assert_max_num_queries(MAX_QUERIES):
        large_page = client.get(urls[0])
    assert large_page.content.decode().count('class="vm-row"') == 50
    large = [count_queries(client, url) for url in urls]
    assert large == small
    assert count_queries(client, urls[1], {"HX-Request": "true"}) == small_fragment <= MAX_QUERIES
