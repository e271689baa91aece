"""The poller against the real cloud emulators: an instance stopped behind SkyClust's back becomes `stopped`
after one `poll_providers --once`, with an audit row from sync, and an open page's WebSocket gets the row."""
import io

import boto3
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.utils import timezone

from tests import factories
from vms import services
from vms.models import VM, SyncTarget
from vms.providers import registry
from vms.routing import websocket_urlpatterns
from vms.sandbox import start_all
from vms.state import VMStatus
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

VM_SPECS = {
    "aws": {"region": "us-east-1", "instance_type": "t3.micro", "image_id": "ami-0c7217cdde317cfec"},
    "gcp": {"region": "us-central1", "zone": "us-central1-a", "instance_type": "e2-micro",
            "image_id": "projects/debian-cloud/global/images/family/debian-12"},
    "azure": {"region": "eastus", "instance_type": "Standard_B1s", "image_id": "Canonical:ubuntu-24_04-lts:server:latest"},
}


@pytest.fixture(scope="module")
def sandboxes():
    with start_all(transition_seconds=0.0) as running:
        yield running


def sandbox_account(workspace, sandboxes, provider: str):
    config = sandboxes.account_config(provider, f"{provider}-sandbox")
    return factories.make_account(workspace, provider, name=config.name, credentials=config.credentials,
                                  settings=config.settings, endpoint_url=config.endpoint_url)


def stop_in_the_sandbox(sandboxes, vm: VM) -> None:
    """Stop the instance with the cloud's own API, as someone in the cloud console would: SkyClust is not told."""
    config = sandboxes.account_config(vm.provider, "console")
    if vm.provider == "aws":
        ec2 = boto3.client("ec2", region_name=vm.region, endpoint_url=config.endpoint_url,
                           aws_access_key_id=config.credentials["access_key_id"],
                           aws_secret_access_key=config.credentials["secret_access_key"])
        ec2.stop_instances(InstanceIds=[vm.instance_id])
    else:
        registry.adapter_for(config).stop(vm.ref)


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
async def test_instance_stopped_behind_our_back_is_stopped_after_one_poll_and_pushed(sandboxes, provider):
    def arrange():
        world = factories.build_world()
        account = sandbox_account(world.workspace, sandboxes, provider)
        vm = services.vm_create(actor=world.owner, workspace=world.workspace, account=account, name="web-1", **VM_SPECS[provider])
        call_command("poll_providers", "--once", stdout=io.StringIO())  # the create settles: pending -> running
        vm.refresh_from_db()
        return world, vm

    world, vm = await database_sync_to_async(arrange)()
    assert vm.status == VMStatus.RUNNING
    page = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/workspaces/{world.workspace.pk}/")
    page.scope["user"] = world.operator
    assert (await page.connect())[0]

    await sync_to_async(stop_in_the_sandbox)(sandboxes, vm)
    # a settled target is due again a minute later; skip the wait
    await database_sync_to_async(SyncTarget.objects.update)(next_poll_at=timezone.now())
    await sync_to_async(call_command)("poll_providers", "--once", stdout=io.StringIO())

    def outcome():
        vm.refresh_from_db()
        audit = AuditEvent.objects.filter(target_id=str(vm.pk), action="vm.status.change").latest("id")
        return vm.status, vm.status_source, audit.source, audit.before, audit.after, SyncTarget.objects.get().last_error

    status, source, audit_source, before, after, target_error = await database_sync_to_async(outcome)()
    assert (status, source, target_error) == (VMStatus.STOPPED, "poll", "")
    assert (audit_source, before, after) == ("sync", {"status": "running"}, {"status": "stopped"})
    html = await page.receive_from(timeout=5)
    assert f'id="vm-{vm.pk}"' in html and 'data-status="stopped"' in html
    await page.disconnect()
