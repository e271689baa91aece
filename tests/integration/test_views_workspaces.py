"""Workspace pages: overview summary, header switcher, members, cloud accounts (secrets are write-only),
and sharing one VM with one user."""
import re

import pytest
from django.urls import reverse

from tests import factories
from tests.htmlcheck import checked_client
from vms import services, sharing
from vms.models import VM
from vms.providers.base import AuthenticationFailed
from vms.state import VMStatus
from workspaces.models import AuditEvent, CloudAccount, Membership

pytestmark = pytest.mark.django_db

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


# -- overview -------------------------------------------------------------------------------------

def test_overview_summarises_counts_transitions_errors_and_activity(world):
    gcp = factories.make_account(world.workspace, "gcp")
    factories.make_vm(world.account, "a-run", status=VMStatus.RUNNING)
    factories.make_vm(world.account, "a-stopping", status=VMStatus.STOPPING)
    factories.make_vm(gcp, "g-run", status=VMStatus.RUNNING)
    factories.make_vm(gcp, "g-broken", status=VMStatus.ERROR, last_error="Start failed: quota")
    factories.make_vm(world.other_account, "foreign", status=VMStatus.ERROR)
    page = checked_client(world.viewer).get(reverse("workspace", args=[world.workspace.slug])).content.decode()
    summary = re.search(rf'<div id="workspace-{world.workspace.pk}-summary".*', page, re.S).group(0)
    assert "4 VMs by cloud" in summary

    def bar(label):
        return int(re.search(rf">{label}</a>.*?<span class=\"bar-count\">(\d+)</span>", summary, re.S).group(1))

    assert (bar("AWS EC2"), bar("GCP Compute Engine"), bar("Azure")) == (2, 2, 0)
    assert (bar("Running"), bar("Stopping"), bar("Error")) == (2, 1, 1)
    transition = summary.split('id="transition-heading"')[1].split("</section>")[0]
    assert "a-stopping" in transition and "a-run" not in transition
    errors = summary.split('id="error-heading"')[1].split("</section>")[0]
    assert "g-broken" in errors and "Start failed: quota" in errors and "foreign" not in errors
    assert "workspace.create" in summary and "member.add" in summary
    assert f'ws-connect="/ws/workspaces/{world.workspace.pk}/"' in page and 'id="live-status"' in page


def test_empty_workspace_overview_invites_to_create(world):
    page = checked_client(world.owner).get(reverse("workspace", args=[world.workspace.slug])).content.decode()
    assert "No VMs yet: <a href=\"%s\">create one</a>" % reverse("vm-create", args=[world.workspace.slug]) in page


def test_header_switcher_lists_the_users_workspaces(world):
    factories.add_member(world.other_workspace, world.admin, "viewer")
    page = checked_client(world.admin).get(reverse("workspace", args=[world.workspace.slug])).content.decode()
    switcher = page.split('<details class="switcher">')[1].split("</details>")[0]
    assert reverse("workspace", args=["platform"]) in switcher and reverse("workspace", args=["data"]) in switcher
    assert 'aria-current="page">Platform' in switcher


# -- members --------------------------------------------------------------------------------------

def test_invite_existing_user_by_username(world):
    newcomer = factories.make_user("nina")
    response = checked_client(world.admin).post(reverse("members", args=[world.workspace.slug]), {"username": " nina ", "role": "operator"})
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer, workspace=world.workspace).role == "operator"
    assert checked_client(newcomer).get(reverse("vm-list", args=[world.workspace.slug])).status_code == 200


@pytest.mark.parametrize("data, field, message", [
    ({"username": "nobody", "role": "viewer"}, "username", "No active user is named 'nobody'."),
    ({"username": "vera", "role": "viewer"}, "username", "vera is already a member."),
    ({"username": "otto", "role": "emperor"}, "role", "Select a valid choice."),
    ({"username": "otto", "role": "owner"}, "role", "Only an owner can make or unmake owners."),
    ({"username": "", "role": "viewer"}, "username", "This field is required."),
])
def test_invite_errors_are_shown_by_field(world, data, field, message):
    response = checked_client(world.admin).post(reverse("members", args=[world.workspace.slug]), data)
    assert response.status_code == 400
    assert any(message in error for error in response.context["invite_form"].errors[field])
    assert not Membership.objects.filter(user=world.outsider, workspace=world.workspace).exists()


def test_change_role_and_remove_member(world):
    ws = world.workspace.slug
    membership = Membership.objects.get(user=world.viewer, workspace=world.workspace)
    client = checked_client(world.owner)
    response = client.post(reverse("member-role", args=[ws, membership.pk]), {f"m{membership.pk}-role": "operator"}, follow=True)
    assert "vera is now operator." in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == "operator"
    response = client.post(reverse("member-remove", args=[ws, membership.pk]), follow=True)
    assert "vera was removed from Platform." in response.content.decode()
    assert checked_client(world.viewer).get(reverse("vm-list", args=[ws])).status_code == 404


def test_last_owner_cannot_be_demoted_and_admins_cannot_touch_owners(world):
    ws = world.workspace.slug
    owner_membership = Membership.objects.get(user=world.owner, workspace=world.workspace)
    response = checked_client(world.owner).post(reverse("member-role", args=[ws, owner_membership.pk]), {f"m{owner_membership.pk}-role": "admin"}, follow=True)
    assert "The last owner cannot be demoted" in response.content.decode()
    response = checked_client(world.admin).post(reverse("member-remove", args=[ws, owner_membership.pk]), follow=True)
    assert "Only an owner can make or unmake owners." in response.content.decode()
    assert Membership.objects.get(pk=owner_membership.pk).role == "owner"


def test_member_of_another_workspace_is_404(world):
    foreign = Membership.objects.get(user=world.outsider, workspace=world.other_workspace)
    response = checked_client(world.owner).post(reverse("member-remove", args=[world.workspace.slug, foreign.pk]))
    assert response.status_code == 404 and Membership.objects.filter(pk=foreign.pk).exists()


def test_admin_removing_themselves_goes_home(world):
    membership = Membership.objects.get(user=world.admin, workspace=world.workspace)
    response = checked_client(world.admin).post(reverse("member-remove", args=[world.workspace.slug, membership.pk]))
    assert response["Location"] == reverse("home")


# -- cloud accounts -------------------------------------------------------------------------------

def test_add_account_with_secret_that_is_never_shown_again(world):
    client = checked_client(world.admin)
    form = client.get(reverse("account-create", args=[world.workspace.slug, "aws"])).content.decode()
    assert 'name="secret_access_key"' in form and 'type="password"' in form
    response = client.post(reverse("account-create", args=[world.workspace.slug, "aws"]), {
        "name": "prod-aws", "access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET, "endpoint_url": "http://127.0.0.1:5000",
    }, follow=True)
    account = CloudAccount.objects.get(name="prod-aws")
    assert account.adapter_config().credentials == {"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET}
    page = response.content.decode()
    assert "Added prod-aws" in page and "Secret stored (hidden)" in page
    for url in (reverse("accounts", args=[world.workspace.slug]), reverse("account-secret", args=[world.workspace.slug, account.pk])):
        assert SECRET not in client.get(url).content.decode() and "AKIAEXAMPLE" not in client.get(url).content.decode()


def test_bad_account_input_shows_errors_without_echoing_secrets(world):
    response = checked_client(world.admin).post(reverse("account-create", args=[world.workspace.slug, "gcp"]), {
        "name": "gcp-2", "service_account_json": SECRET, "endpoint_url": "not a url",
    })
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "project_id" in errors and "endpoint_url" in errors
    page = response.content.decode()
    assert SECRET not in page and 'value="gcp-2"' in page
    response = checked_client(world.admin).post(reverse("account-create", args=[world.workspace.slug, "azure"]), {
        "name": "az", "subscription_id": "s", "resource_group": "rg", "client_secret": SECRET,
    })
    assert response.status_code == 400 and SECRET not in response.content.decode()
    assert "Required unless" in response.context["form"].errors["tenant_id"][0]
    assert checked_client(world.admin).get(reverse("account-create", args=[world.workspace.slug, "oracle"])).status_code == 404


def test_replace_secret_and_switch_to_ambient(world):
    account = factories.make_account(world.workspace, "aws", name="keys", credentials={"access_key_id": "old", "secret_access_key": "old-secret"})
    client = checked_client(world.admin)
    url = reverse("account-secret", args=[world.workspace.slug, account.pk])
    client.post(url, {"access_key_id": "new", "secret_access_key": SECRET})
    account.refresh_from_db()
    assert account.adapter_config().credentials == {"access_key_id": "new", "secret_access_key": SECRET}
    response = client.post(url, {"access_key_id": "only-half"})
    assert response.status_code == 400 and "secret_access_key" in response.context["form"].errors
    client.post(url, {})
    account.refresh_from_db()
    assert account.uses_ambient_credentials
    assert AuditEvent.objects.filter(target_id=str(account.pk), action="account.replace_credentials").count() == 2


def test_verify_reports_the_clouds_answer(world, fake_cloud):
    client = checked_client(world.admin)
    url = reverse("account-verify", args=[world.workspace.slug, world.account.pk])
    assert "aws-platform works" in client.post(url, follow=True).content.decode()
    fake_cloud.fail_next("verify", AuthenticationFailed("The credentials of aws-platform were rejected.", provider="aws"))
    page = client.post(url, follow=True).content.decode()
    assert "aws-platform could not be verified: The credentials of aws-platform were rejected." in page


def test_remove_account_only_when_unused(world):
    used = world.account
    factories.make_vm(used)
    unused = factories.make_account(world.workspace, "gcp", name="spare")
    client = checked_client(world.admin)
    page = client.get(reverse("accounts", args=[world.workspace.slug])).content.decode()
    assert reverse("account-remove", args=[world.workspace.slug, unused.pk]) in page
    assert reverse("account-remove", args=[world.workspace.slug, used.pk]) not in page
    response = client.post(reverse("account-remove", args=[world.workspace.slug, used.pk]), follow=True)
    assert "still has 1 VM(s)" in response.content.decode() and CloudAccount.objects.filter(pk=used.pk).exists()
    client.post(reverse("account-remove", args=[world.workspace.slug, unused.pk]))
    assert not CloudAccount.objects.filter(pk=unused.pk).exists()


# -- sharing one VM -------------------------------------------------------------------------------

def test_share_operate_lets_a_stranger_see_and_operate_only_that_vm(world, fake_cloud):
    vm = services.vm_create(actor=world.owner, workspace=world.workspace, account=world.account, name="shared-1",
                            instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec")
    hidden = factories.make_vm(world.account, "hidden-1")
    stranger = factories.make_user("sam")
    response = checked_client(world.admin).post(reverse("vm-share", args=[vm.pk]), {"username": "sam", "permission": "operate_vm"}, follow=True)
    assert "Shared shared-1 with sam (operate)." in response.content.decode()
    audit = AuditEvent.objects.get(target_id=str(vm.pk), action="vm.share")
    assert audit.actor == world.admin and audit.after == {"user": "sam", "permissions": ["operate_vm"]}

    client = checked_client(stranger)
    home = client.get("/").content.decode()
    assert "Shared with you" in home and "shared-1" in home and "hidden-1" not in home
    detail = client.get(reverse("vm-detail", args=[vm.pk])).content.decode()
    assert 'data-action="stop"' in detail and 'data-action="terminate"' not in detail and "ws-connect" not in detail
    assert client.get(reverse("vm-detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("vm-list", args=[world.workspace.slug])).status_code == 404
    assert client.post(reverse("vm-action", args=[vm.pk, "terminate"]), headers={"HX-Request": "true"}).status_code == 403
    assert client.post(reverse("vm-action", args=[vm.pk, "stop"]), headers={"HX-Request": "true"}).status_code == 200

    sharing_page = checked_client(world.admin).get(reverse("sharing", args=[world.workspace.slug])).content.decode()
    assert "shared-1" in sharing_page and "sam" in sharing_page and "Operate (start, stop, restart)" in sharing_page
    response = checked_client(world.admin).post(reverse("vm-unshare", args=[vm.pk]), {"user": stranger.pk, "next": reverse("sharing", args=[world.workspace.slug])})
    assert response["Location"] == reverse("sharing", args=[world.workspace.slug])
    assert client.get(reverse("vm-detail", args=[vm.pk])).status_code == 404
    assert AuditEvent.objects.filter(target_id=str(vm.pk), action="vm.unshare").exists()


def test_view_share_grants_no_actions_and_sharing_again_replaces_the_grant(world):
    vm = factories.make_vm(world.account, "peek")
    stranger = factories.make_user("sam")
    sharing.vm_share(vm_id=vm.pk, user=stranger, permission="operate_vm", actor=world.owner)
    sharing.vm_share(vm_id=vm.pk, user=stranger, permission="vms.view_vm", actor=world.owner)
    assert [grant.permission.codename for grant in sharing.vm_shares_of(vm)] == ["view_vm"]
    response = checked_client(stranger).post(reverse("vm-action", args=[vm.pk, "stop"]), headers={"HX-Request": "true"})
    assert response.status_code == 403 and VM.objects.get(pk=vm.pk).status == VMStatus.RUNNING


def test_share_errors(world):
    from django.core.exceptions import PermissionDenied, ValidationError

    vm = factories.make_vm(world.account, "peek")
    response = checked_client(world.admin).post(reverse("vm-share", args=[vm.pk]), {"username": "ghost", "permission": "view_vm"})
    assert response.status_code == 400 and "No active user is named &#x27;ghost&#x27;." in response.content.decode()
    response = checked_client(world.admin).post(reverse("vm-share", args=[vm.pk]), {"username": "vera", "permission": "view_vm"})
    assert response.status_code == 400 and "already sees this VM" in response.context["share_form"].errors["username"][0]
    with pytest.raises(ValidationError):
        sharing.vm_share(vm_id=vm.pk, user=world.outsider, permission="delete_vm", actor=world.owner)
    with pytest.raises(PermissionDenied):
        sharing.vm_share(vm_id=vm.pk, user=world.outsider, permission="view_vm", actor=world.operator)
    with pytest.raises(VM.DoesNotExist):
        sharing.vm_share(vm_id=vm.pk, user=world.viewer, permission="operate_vm", actor=world.outsider)
    with pytest.raises(ValidationError):
        sharing.vm_unshare(vm_id=vm.pk, user=world.outsider, actor=world.owner)
