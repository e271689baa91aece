import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests import factories
from vms.access import Access
from workspaces import services
from workspaces.models import AuditEvent, CloudAccount, Membership
from workspaces.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def test_creator_becomes_owner_with_every_permission(world):
    access = Access(world.owner)
    assert access.workspace_permissions[world.workspace.pk] == ROLE_PERMISSIONS["owner"]
    assert AuditEvent.objects.filter(action="workspace.create", actor=world.owner).exists()


@pytest.mark.parametrize("role", ["viewer", "operator", "admin", "owner"])
def test_role_is_realised_as_guardian_object_permissions(world, role):
    user = factories.make_user("newbie")
    services.member_add(workspace=world.workspace, user=user, role=role, actor=world.owner)
    assert Access(user).workspace_permissions[world.workspace.pk] == ROLE_PERMISSIONS[role]
    assert user.has_perm("workspaces.view_workspace", world.workspace)  # guardian's own backend agrees


def test_changing_role_replaces_permissions(world):
    membership = Membership.objects.get(user=world.operator)
    services.member_change_role(membership=membership, role="viewer", actor=world.owner)
    assert Access(world.operator).workspace_permissions[world.workspace.pk] == ROLE_PERMISSIONS["viewer"]
    row = AuditEvent.objects.get(action="member.change_role")
    assert (row.before, row.after) == ({"role": "operator"}, {"role": "viewer"})


def test_removing_member_revokes_everything(world):
    services.member_remove(membership=Membership.objects.get(user=world.viewer), actor=world.admin)
    assert world.workspace.pk not in Access(world.viewer).workspace_permissions


def test_last_owner_cannot_be_removed_or_demoted(world):
    owner_membership = Membership.objects.get(user=world.owner, workspace=world.workspace)
    with pytest.raises(ValidationError, match="last owner"):
        services.member_remove(membership=owner_membership, actor=world.owner)
    with pytest.raises(ValidationError, match="last owner"):
        services.member_change_role(membership=owner_membership, role="admin", actor=world.owner)
    services.member_change_role(membership=Membership.objects.get(user=world.admin), role="owner", actor=world.owner)
    services.member_change_role(membership=owner_membership, role="admin", actor=world.owner)  # now allowed


def test_only_owner_makes_owners_and_viewer_manages_nobody(world):
    with pytest.raises(PermissionDenied):
        services.member_change_role(membership=Membership.objects.get(user=world.operator), role="owner", actor=world.admin)
    with pytest.raises(PermissionDenied):
        services.member_add(workspace=world.workspace, user=factories.make_user("x1"), role="viewer", actor=world.viewer)


def test_outsider_cannot_touch_members_of_foreign_workspace(world):
    from workspaces.models import Workspace

    with pytest.raises(Workspace.DoesNotExist):
        services.member_add(workspace=world.workspace, user=factories.make_user("x2"), role="viewer", actor=world.outsider)


def test_duplicate_member_and_bad_role_are_field_errors(world):
    with pytest.raises(ValidationError) as caught:
        services.member_add(workspace=world.workspace, user=world.viewer, role="viewer", actor=world.owner)
    assert "username" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.member_add(workspace=world.workspace, user=factories.make_user("x3"), role="god", actor=world.owner)
    assert "role" in caught.value.message_dict


def test_account_secret_is_encrypted_at_rest_and_replaceable(world):
    account = services.account_create(
        workspace=world.workspace, provider="aws", name="prod", actor=world.owner,
        credentials={"access_key_id": "AKIAEXAMPLE", "secret_access_key": "very-secret-value"},
    )
    stored = CloudAccount.objects.values_list("credentials_encrypted", flat=True).get(pk=account.pk)
    assert "very-secret-value" not in stored and "AKIAEXAMPLE" not in stored
    assert account.adapter_config().credentials["secret_access_key"] == "very-secret-value"
    services.account_replace_credentials(account=account, credentials={"access_key_id": "AKIA2", "secret_access_key": "other"}, actor=world.owner)
    account.refresh_from_db()
    assert account.adapter_config().credentials["secret_access_key"] == "other"
    assert "very-secret-value" not in str(list(AuditEvent.objects.values()))


def test_account_needs_provider_settings_and_complete_secrets(world):
    with pytest.raises(ValidationError) as caught:
        services.account_create(workspace=world.workspace, provider="gcp", name="g", actor=world.owner)
    assert "project_id" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.account_create(workspace=world.workspace, provider="aws", name="a", actor=world.owner, credentials={"access_key_id": "x"})
    assert "secret_access_key" in caught.value.message_dict


def test_account_in_use_cannot_be_removed(world):
    factories.make_vm(world.account)
    with pytest.raises(ValidationError, match="still has 1 VM"):
        services.account_remove(account=world.account, actor=world.owner)
    with pytest.raises(PermissionDenied):
        services.account_remove(account=world.account, actor=world.operator)


def test_workspace_name_must_be_unique(world):
    with pytest.raises(ValidationError):
        services.workspace_create(name="Platform", actor=world.viewer)
