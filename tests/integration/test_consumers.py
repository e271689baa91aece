"""The live-status WebSocket: who may subscribe, what each user receives, and losing access mid-session."""
import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from tests import factories
from vms import services
from vms.consumers import ACCESS_DENIED
from vms.routing import websocket_urlpatterns
from vms.state import VMStatus
from workspaces import services as workspace_services
from workspaces.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(websocket_urlpatterns)


async def subscribe(user, workspace) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/workspaces/{workspace.pk}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def assert_refused(communicator: WebsocketCommunicator) -> None:
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": ACCESS_DENIED}


def stop_behind_the_scenes(vm) -> None:
    services.vm_update_status(vm_id=vm.pk, status=VMStatus.STOPPED)


@pytest.fixture
def setup():
    world = factories.build_world()
    return world, factories.make_vm(world.account, "web-1", status=VMStatus.RUNNING)


async def test_members_receive_the_change_rendered_for_their_own_role(setup):
    world, vm = setup
    operator = await subscribe(world.operator, world.workspace)
    viewer = await subscribe(world.viewer, world.workspace)

    await database_sync_to_async(stop_behind_the_scenes)(vm)

    for_operator = await operator.receive_from(timeout=5)
    for_viewer = await viewer.receive_from(timeout=5)
    for html in (for_operator, for_viewer):
        assert f'id="vm-{vm.pk}"' in html and 'data-status="stopped"' in html and 'hx-swap-oob="true"' in html
    assert 'data-action="start"' in for_operator  # operators may start a stopped VM
    assert 'data-action="start"' not in for_viewer  # viewers only watch
    await operator.disconnect()
    await viewer.disconnect()


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
async def test_a_user_without_access_is_refused_and_never_receives_events(setup, who):
    world, vm = setup
    user = AnonymousUser() if who == "anonymous" else world.outsider
    stranger = await subscribe(user, world.workspace)
    await assert_refused(stranger)
    member = await subscribe(world.viewer, world.workspace)

    await database_sync_to_async(stop_behind_the_scenes)(vm)

    assert str(vm.pk) in await member.receive_from(timeout=5)  # the event went out...
    assert await stranger.receive_nothing(timeout=0.3)  # ...but not to the refused socket
    await member.disconnect()


async def test_a_member_of_another_workspace_cannot_subscribe_to_this_one(setup):
    world, _vm = setup
    own = await subscribe(world.outsider, world.other_workspace)  # the outsider's own workspace is fine
    assert await own.receive_nothing(timeout=0.1)
    await assert_refused(await subscribe(world.outsider, world.workspace))
    await own.disconnect()


async def test_a_removed_member_is_disconnected_at_the_next_event(setup):
    world, vm = setup
    viewer = await subscribe(world.viewer, world.workspace)
    operator = await subscribe(world.operator, world.workspace)

    def remove_viewer():
        membership = Membership.objects.get(user=world.viewer, workspace=world.workspace)
        workspace_services.member_remove(membership=membership, actor=world.owner)

    await database_sync_to_async(remove_viewer)()
    await database_sync_to_async(stop_behind_the_scenes)(vm)

    assert str(vm.pk) in await operator.receive_from(timeout=5)
    await assert_refused(viewer)
    await operator.disconnect()
