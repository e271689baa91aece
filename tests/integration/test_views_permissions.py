"""The permission matrix of every dashboard view: anonymous -> login, non-member -> 404, viewer reads and
is refused every write (403), operator starts/stops/restarts, admin and owner manage. Every response is
also checked to be valid, CSP-clean HTML (tests.htmlcheck)."""
import pytest
from django.urls import reverse

from tests import factories
from tests.htmlcheck import checked_client
from vms import services
from vms.models import VM
from vms.state import VMStatus

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "viewer", "operator", "admin", "owner")
READ = {"anonymous": 302, "outsider": 404, "viewer": 200, "operator": 200, "admin": 200, "owner": 200}
MANAGE = {"anonymous": 302, "outsider": 404, "viewer": 403, "operator": 403, "admin": 200, "owner": 200}


def user_of(world, role):
    return None if role == "anonymous" else {
        "outsider": world.outsider, "viewer": world.viewer, "operator": world.operator, "admin": world.admin, "owner": world.owner,
    }[role]


def live_vm(world, name="web-1"):
    return services.vm_create(actor=world.owner, workspace=world.workspace, account=world.account, name=name,
                              instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec")


def assert_matrix(world, method, url, expected, data=None, headers=None):
    for role in ROLES:
        client = checked_client(user_of(world, role))
        response = getattr(client, method)(url, data or {}, headers=headers or {})
        assert response.status_code == expected[role], f"{role} {method.upper()} {url}: {response.status_code}"
        if role == "anonymous":
            assert response["Location"].startswith(reverse("login")), url


# -- pages ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["workspace", "vm-list"])
def test_workspace_pages_are_read_only_for_members(world, name):
    assert_matrix(world, "get", reverse(name, args=[world.workspace.slug]), READ)


def test_workspace_pages_accept_the_workspace_uuid(world):
    assert_matrix(world, "get", reverse("vm-list", args=[str(world.workspace.pk)]), READ)


@pytest.mark.parametrize("name", ["vm-create", "members", "accounts", "sharing"])
def test_management_pages_need_admin(world, name):
    assert_matrix(world, "get", reverse(name, args=[world.workspace.slug]), MANAGE)


def test_settings_entry_redirects_admins_and_refuses_others(world):
    assert_matrix(world, "get", reverse("workspace-settings", args=[world.workspace.slug]), MANAGE | {"admin": 302, "owner": 302})


def test_account_pages_need_admin(world):
    ws = world.workspace.slug
    assert_matrix(world, "get", reverse("account-create", args=[ws, "gcp"]), MANAGE)
    assert_matrix(world, "get", reverse("account-secret", args=[ws, world.account.pk]), MANAGE)


def test_create_options_need_admin(world):
    url = reverse("vm-create-options", args=[world.workspace.slug]) + f"?account={world.account.pk}&region=us-east-1"
    assert_matrix(world, "get", url, MANAGE, headers={"HX-Request": "true"})


def test_vm_detail_is_read_only_for_members(world):
    vm = factories.make_vm(world.account)
    assert_matrix(world, "get", reverse("vm-detail", args=[vm.pk]), READ)


def test_vm_edit_needs_admin(world):
    vm = factories.make_vm(world.account)
    assert_matrix(world, "get", reverse("vm-edit", args=[vm.pk]), MANAGE)


def test_another_workspaces_vm_and_objects_are_404(world):
    foreign_vm = factories.make_vm(world.other_account, "theirs")
    client = checked_client(world.owner)
    for url in (reverse("vm-detail", args=[foreign_vm.pk]), reverse("vm-edit", args=[foreign_vm.pk]),
                reverse("account-secret", args=[world.workspace.slug, world.other_account.pk]),
                reverse("workspace", args=[world.other_workspace.slug])):
        assert client.get(url).status_code == 404, url
    for action in ("stop", "terminate", "delete"):
        assert client.post(reverse("vm-action", args=[foreign_vm.pk, action])).status_code == 404
    assert client.post(reverse("vm-share", args=[foreign_vm.pk]), {"username": "vera", "permission": "view_vm"}).status_code == 404
    assert VM.objects.get(pk=foreign_vm.pk).status == VMStatus.RUNNING


def test_home_lists_workspaces_or_redirects_to_the_only_one(world):
    assert checked_client().get("/").status_code == 302
    response = checked_client(world.viewer).get("/")
    assert response.status_code == 302 and response["Location"] == reverse("workspace", args=[world.workspace.slug])
    factories.add_member(world.other_workspace, world.viewer, "viewer")
    response = checked_client(world.viewer).get("/")
    assert response.status_code == 200
    assert b"Platform" in response.content and b"Data" in response.content


# -- writes ---------------------------------------------------------------------------------------

LIFECYCLE = {"anonymous": 302, "outsider": 404, "viewer": 403}


@pytest.mark.parametrize("action, allowed", [("stop", ("operator", "admin", "owner")), ("terminate", ("admin", "owner"))])
def test_lifecycle_post_matrix(world, fake_cloud, action, allowed):
    for role in ROLES:
        vm = live_vm(world, f"vm-{role}")
        response = checked_client(user_of(world, role)).post(reverse("vm-action", args=[vm.pk, action]), headers={"HX-Request": "true"})
        expected = 200 if role in allowed else LIFECYCLE.get(role, 403)
        assert response.status_code == expected, f"{role} {action}: {response.status_code}"
        moved = VM.objects.get(pk=vm.pk).status != VMStatus.RUNNING
        assert moved == (role in allowed), role


def test_delete_needs_admin(world):
    for role in ROLES:
        vm = factories.make_vm(world.account, f"gone-{role}", status=VMStatus.TERMINATED)
        response = checked_client(user_of(world, role)).post(reverse("vm-action", args=[vm.pk, "delete"]), headers={"HX-Request": "true"})
        expected = {"admin": 200, "owner": 200}.get(role, LIFECYCLE.get(role, 403))
        assert response.status_code == expected, role
        assert VM.objects.filter(pk=vm.pk).exists() == (role not in ("admin", "owner"))


def test_bulk_needs_operate(world, fake_cloud):
    vm = live_vm(world)
    url = reverse("vm-bulk", args=[world.workspace.slug])
    expected = {"anonymous": 302, "outsider": 404, "viewer": 403, "operator": 200, "admin": 200, "owner": 200}
    assert_matrix(world, "post", url, expected, data={"action": "restart", "vm": [str(vm.pk)]}, headers={"HX-Request": "true"})


def test_edit_post_needs_admin(world):
    vm = factories.make_vm(world.account)
    for role in ROLES:
        response = checked_client(user_of(world, role)).post(reverse("vm-edit", args=[vm.pk]), {"name": f"renamed-{role}"})
        assert response.status_code == {"admin": 302, "owner": 302}.get(role, MANAGE[role]), role
    assert VM.objects.get(pk=vm.pk).name == "renamed-owner"


def test_create_post_needs_admin(world, fake_cloud):
    url = reverse("vm-create", args=[world.workspace.slug])
    for role in ("anonymous", "outsider", "viewer", "operator"):
        data = {"account": str(world.account.pk), "region": "us-east-1", "instance_type": "t3.small",
                "image_id": "ami-0c7217cdde317cfec", "name": f"new-{role}", "vm_id": "8a3c5a8e-5b8e-4b8e-9b8e-000000000001"}
        response = checked_client(user_of(world, role)).post(url, data)
        assert response.status_code == MANAGE[role], role
    assert not VM.objects.exists()


def test_share_and_unshare_need_admin(world):
    vm = factories.make_vm(world.account)
    stranger = factories.make_user("stranger")
    for role in ROLES:
        response = checked_client(user_of(world, role)).post(reverse("vm-share", args=[vm.pk]), {"username": "stranger", "permission": "view_vm"})
        assert response.status_code == {"admin": 302, "owner": 302}.get(role, MANAGE[role]), role
        response = checked_client(user_of(world, role)).post(reverse("vm-unshare", args=[vm.pk]), {"user": stranger.pk})
        assert response.status_code == {"admin": 302, "owner": 302}.get(role, MANAGE[role]), role


def test_member_and_account_writes_need_admin(world):
    ws = world.workspace.slug
    viewer_membership = world.viewer.memberships.get(workspace=world.workspace)
    writes = [
        (reverse("members", args=[ws]), {"username": "otto", "role": "viewer"}),
        (reverse("member-role", args=[ws, viewer_membership.pk]), {f"m{viewer_membership.pk}-role": "viewer"}),
        (reverse("account-create", args=[ws, "aws"]), {"name": "more"}),
        (reverse("account-secret", args=[ws, world.account.pk]), {}),
        (reverse("account-remove", args=[ws, world.account.pk]), {}),
    ]
    for url, data in writes:
        for role in ("anonymous", "outsider", "viewer", "operator"):
            response = checked_client(user_of(world, role)).post(url, data)
            assert response.status_code == MANAGE[role], f"{role} {url}"
    assert checked_client(world.operator).post(reverse("member-remove", args=[ws, viewer_membership.pk])).status_code == 403
    assert checked_client(world.viewer).post(reverse("account-verify", args=[ws, world.account.pk])).status_code == 403
    assert world.viewer.memberships.filter(workspace=world.workspace).exists()
