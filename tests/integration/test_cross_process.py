"""A change seen by a `poll_providers` process reaches a page connected to a separate daphne process (Redis)."""
import asyncio
import io

import boto3
import pytest
from django.core.management import call_command
from django.utils import timezone

from tests import factories, liveserver
from tests.wsclient import Closed, WebSocket
from vms import services
from vms.models import VM, SyncTarget
from vms.sandbox.aws import AWSEmulator
from vms.state import VMStatus

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def aws():
    with AWSEmulator() as emulator:
        yield emulator


def test_poller_process_change_reaches_a_websocket_on_a_daphne_process(aws):
    world = factories.build_world()
    config = aws.account_config("aws-sandbox")
    account = factories.make_account(world.workspace, "aws", name=config.name, credentials=config.credentials, endpoint_url=config.endpoint_url)
    vm = services.vm_create(actor=world.owner, workspace=world.workspace, account=account, name="web-1",
                            instance_type="t3.micro", region="us-east-1", image_id="ami-0c7217cdde317cfec")
    call_command("poll_providers", "--once", stdout=io.StringIO())  # settles the create in this process
    assert VM.objects.get(pk=vm.pk).status == VMStatus.RUNNING
    env = liveserver.process_env()
    member, outsider = liveserver.session_cookie(world.operator), liveserver.session_cookie(world.outsider)

    loop = asyncio.new_event_loop()
    try:
        with liveserver.daphne(env) as port:
            url, origin = f"ws://127.0.0.1:{port}/ws/workspaces/{world.workspace.pk}/", f"http://127.0.0.1:{port}"
            page = loop.run_until_complete(WebSocket.connect(url, cookie=member, origin=origin))
            stranger = loop.run_until_complete(WebSocket.connect(url, cookie=outsider, origin=origin))
            with pytest.raises(Closed) as refused:
                loop.run_until_complete(stranger.receive(timeout=5))
            assert refused.value.code == 4403

            ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=config.endpoint_url,
                               aws_access_key_id=config.credentials["access_key_id"],
                               aws_secret_access_key=config.credentials["secret_access_key"])
            ec2.stop_instances(InstanceIds=[vm.instance_id])  # behind SkyClust's back
            SyncTarget.objects.update(next_poll_at=timezone.now())  # a minute later: the target is due again
            poller = liveserver.manage(env, "poll_providers", "--once")
            assert poller.returncode == 0, poller.stderr
            assert "1 status change" in poller.stdout

            html = loop.run_until_complete(page.receive(timeout=10))
            loop.run_until_complete(page.close())
    finally:
        loop.close()
    assert f'id="vm-{vm.pk}"' in html and 'data-status="stopped"' in html
    assert VM.objects.get(pk=vm.pk).status == VMStatus.STOPPED
