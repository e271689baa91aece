"""Workspace reads that depend on who asks."""
from django.db.models import QuerySet

from vms.access import Access
from workspaces.models import AuditEvent, CloudAccount, Membership, Workspace
from workspaces.roles import VIEW


def workspaces_visible_to(access: Access) -> QuerySet[Workspace]:
    return Workspace.objects.filter(pk__in=access.workspace_ids(VIEW))


def workspace_get_visible(access: Access, workspace_id) -> Workspace:
    """The workspace, or Workspace.DoesNotExist when the user is not a member (a 404)."""
    return workspaces_visible_to(access).get(pk=workspace_id)


def memberships_of(user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


def members_of(workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")


def accounts_usable_by(access: Access, workspace) -> QuerySet[CloudAccount]:
    if not access.has_workspace_permission(workspace.pk, VIEW):
        return CloudAccount.objects.none()
    return CloudAccount.objects.filter(workspace=workspace)


def audit_events_visible_to(access: Access) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(workspace_id__in=access.workspace_ids(VIEW)).select_related("workspace")
