"""Workspaces (the caller's, with their role and accounts), the audit log (visible workspaces only, filters), the catalog."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tests import factories
from vms import catalog, services
from vms.api import tokens
from vms.providers.base import CloudInstance
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    _, key = tokens.token_create(user=user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_workspace_shows_role_permissions_and_accounts_but_no_secrets(world):
    factories.make_account(world.workspace, "gcp", name="gcp-main", credentials={"service_account_json": "{\"secret\": \"s3cr3t\"}"})
    response = client_for(world.operator).get(f"/api/v1/workspaces/{world.workspace.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["slug"], body["role"]) == ("Platform", "platform", "operator")
    assert body["permissions"] == ["operate_vms", "view_workspace"]
    assert {(a["name"], a["provider"]) for a in body["accounts"]} == {("aws-platform", "aws"), ("gcp-main", "gcp")}
    assert "s3cr3t" not in response.content.decode()


def test_workspace_list_query_count_does_not_grow(world):
    client = APIClient()
    client.force_authenticate(world.owner)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/workspaces/").status_code == 200
        return len(captured)

    few = count()
    for index in range(8):
        workspace = factories.make_workspace(f"Team {index}", world.owner)
        factories.make_account(workspace)
    assert count() == few
    assert client.get("/api/v1/workspaces/").json()["count"] == 9


def test_unknown_and_foreign_workspaces_are_the_same_404(world):
    client = client_for(world.owner)
    foreign = client.get(f"/api/v1/workspaces/{world.other_workspace.pk}/")
    unknown = client.get("/api/v1/workspaces/00000000-0000-4000-8000-000000000000/")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"]["message"] == unknown.json()["error"]["message"]


def _events(client, **query) -> list[dict]:
    response = client.get("/api/v1/audit-events/", query)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def test_audit_events_filters(world, fake_cloud):
    vm = factories.make_vm(world.account, "web-1")
    other_vm = factories.make_vm(world.account, "web-2")
    fake_cloud.instances[vm.instance_id] = CloudInstance(vm.instance_id, vm.status, vm.status, vm.region, "", str(vm.pk))
    fake_cloud.instances[other_vm.instance_id] = CloudInstance(other_vm.instance_id, other_vm.status, other_vm.status, other_vm.region, "", str(other_vm.pk))
    client = client_for(world.owner)
    assert client.post(f"/api/v1/vms/{vm.pk}/stop/").status_code == 200
    services.vm_stop(vm_id=other_vm.pk, actor=world.owner)  # not through the API: source system/user, not api
    services.vm_update_status(vm_id=vm.pk, status="stopped")  # observed by sync

    assert [e["action"] for e in _events(client, vm_id=str(vm.pk))] == ["vm.status.change", "vm.stop"]
    assert [e["target_id"] for e in _events(client, action="vm.stop")] == [str(other_vm.pk), str(vm.pk)]
    assert [e["target_id"] for e in _events(client, action="vm.stop", source="api")] == [str(vm.pk)]
    sync_event = _events(client, source="sync")[0]
    assert (sync_event["actor"], sync_event["before"], sync_event["after"]) == ("sync", {"status": "stopping"}, {"status": "stopped"})
    assert _events(client, workspace_id=str(world.workspace.pk), outcome="failure") == []
    assert set(_events(client, workspace_id=str(world.workspace.pk))[0]) == {
        "id", "created_at", "workspace_id", "actor", "source", "action", "target_type", "target_id", "target_repr",
        "before", "after", "outcome", "message", "request_id",
    }


def test_audit_events_time_range(world):
    client = client_for(world.owner)
    old = AuditEvent.objects.filter(workspace=world.workspace).first()
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()
    assert old.pk not in {e["id"] for e in _events(client, since=cutoff, limit=500)}
    assert [e["id"] for e in _events(client, until=cutoff)] == [old.pk]
    bad = client.get("/api/v1/audit-events/", {"since": "yesterday"})
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["since"]


def test_audit_events_are_read_only(world):
    client = client_for(world.owner)
    assert client.post("/api/v1/audit-events/", {}, format="json").status_code == 405
    assert client.delete("/api/v1/audit-events/").status_code == 405


def test_catalog_lists_what_create_accepts(world):
    body = client_for(world.viewer).get("/api/v1/catalog/").json()
    by_provider = {entry["provider"]: entry for entry in body}
    assert set(by_provider) == set(catalog.CATALOG)
    gcp = by_provider["gcp"]
    assert gcp["zone_required"] is True
    assert {"name": "us-central1", "zones": list(catalog.CATALOG["gcp"].regions["us-central1"])} in gcp["regions"]
    assert {"name": "e2-small", "cpus": 2, "memory_mb": 2048} in gcp["types"]
