"""The API driving the real adapters against the three cloud emulators: a VM's whole life on each cloud, as a
script would do it, and a throttling cloud seen by the caller as a 503 with Retry-After."""
import pytest
from rest_framework.test import APIClient

from vms import services
from vms.api import tokens
from vms.cloud import adapter_for_vm
from vms.models import VM

pytestmark = pytest.mark.django_db

SPECS = {
    "aws": {"type": "t3.small", "region": "us-east-1", "image_id": "ami-0c7217cdde317cfec"},
    "gcp": {"type": "e2-small", "region": "us-central1", "zone": "us-central1-a", "image_id": "projects/debian-cloud/global/images/family/debian-12"},
    "azure": {"type": "Standard_B2s", "region": "eastus", "image_id": "Debian:debian-12:12-gen2:latest"},
}


def client_for(user) -> APIClient:
    client = APIClient()
    _, key = tokens.token_create(user=user, name="script")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def settled_status(vm_id) -> str:
    """What the poller does for one VM: read the cloud's status and record it."""
    vm = VM.objects.select_related("account").get(pk=vm_id)
    return services.vm_update_status(vm_id=vm.pk, status=adapter_for_vm(vm).get(vm.ref).status).status


def create(client, world, account, provider: str, name: str):
    body = {"name": name, "workspace_id": str(world.workspace.pk), "provider": provider, "account_id": str(account.pk), **SPECS[provider]}
    return client.post("/api/v1/vms/", body, format="json")


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_a_vms_whole_life_through_the_api(world, sandbox_accounts, provider):
    admin, operator = client_for(world.admin), client_for(world.operator)
    created = create(admin, world, sandbox_accounts[provider], provider, f"api-{provider}")
    assert created.status_code == 201, created.json()
    vm_id = created.json()["id"]
    assert created.json()["instance_id"] and settled_status(vm_id) == "running"

    for action, transitional, settled in [("stop", "stopping", "stopped"), ("start", "starting", "running"), ("restart", "starting", "running")]:
        response = operator.post(f"/api/v1/vms/{vm_id}/{action}/")
        assert (response.status_code, response.json()["status"]) == (200, transitional), action
        assert settled_status(vm_id) == settled, action

    refused = operator.post(f"/api/v1/vms/{vm_id}/terminate/")
    assert refused.status_code == 403
    terminated = admin.post(f"/api/v1/vms/{vm_id}/terminate/")
    assert (terminated.status_code, terminated.json()["status"]) == (200, "terminating")
    assert admin.get(f"/api/v1/vms/{vm_id}/").json()["allowed_actions"] == []


def test_a_throttling_cloud_is_a_503_with_retry_after_and_the_vm_keeps_its_status(world, sandbox_accounts, sandboxes):
    client = client_for(world.owner)
    vm_id = create(client, world, sandbox_accounts["azure"], "azure", "throttled-1").json()["id"]
    settled_status(vm_id)
    sandboxes.azure.faults.configure(throttle_always=True, retry_after=0.05)
    try:
        response = client.post(f"/api/v1/vms/{vm_id}/stop/")
    finally:
        sandboxes.azure.faults.reset()
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["code"], error["provider"], error["vm_id"]) == ("cloud_throttled", "azure", vm_id)
    assert int(response["Retry-After"]) == error["retry_after"] >= 1
    vm = client.get(f"/api/v1/vms/{vm_id}/").json()
    assert vm["status"] == "running" and error["message"] in vm["last_error"]
