"""Share one VM with one user through a per-VM guardian permission (view, or operate: start/stop/restart).

Only an owner or admin of the VM's workspace may share it. A user holds at most one grant per VM: sharing
again replaces the grant. Both writes are audited on the VM.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm

from vms.access import Access
from vms.models import VM, VMUserObjectPermission
from workspaces import audit
from workspaces.roles import MANAGE_MEMBERS, OPERATE_VM, VIEW, VIEW_VM, VM_SHARE_GRANTS

SHARE_PERMISSIONS = {VIEW_VM: "View", OPERATE_VM: "Operate (start, stop, restart)"}


def _authorize(actor, vm: VM) -> None:
    access = Access(actor)
    if not access.can(vm, "view"):
        raise VM.DoesNotExist
    if not access.has_workspace_permission(vm.workspace_id, MANAGE_MEMBERS):
        raise PermissionDenied(f"Your role does not allow you to share {vm.name}.")


def _clean_permission(permission: str) -> str:
    codename = (permission or "").removeprefix("vms.")
    if codename not in VM_SHARE_GRANTS:
        raise ValidationError({"permission": f"Permission must be one of: {', '.join(SHARE_PERMISSIONS)}."})
    return codename


def _grants(vm: VM, user):
    return VMUserObjectPermission.objects.filter(content_object=vm, user=user, permission__codename__in=VM_SHARE_GRANTS)


def vm_share(*, vm_id, user, permission: str, actor, authorize: bool = True) -> VMUserObjectPermission:
    codename = _clean_permission(permission)
    with transaction.atomic():
        vm = VM.objects.select_for_update().select_related("workspace").get(pk=vm_id)
        if authorize:
            _authorize(actor, vm)
        if Access(user).has_workspace_permission(vm.workspace_id, VIEW) and codename == VIEW_VM:
            raise ValidationError({"username": f"{user.get_username()} is a member of {vm.workspace.name} and already sees this VM."})
        before = sorted(_grants(vm, user).values_list("permission__codename", flat=True))
        _grants(vm, user).delete()
        grant = assign_perm(f"vms.{codename}", user, vm)
        audit.record(
            action="vm.share", target=vm, actor=actor,
            before={"user": user.get_username(), "permissions": before},
            after={"user": user.get_username(), "permissions": [codename]},
        )
    return grant


def vm_unshare(*, vm_id, user, actor, authorize: bool = True) -> None:
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        if authorize:
            _authorize(actor, vm)
        before = sorted(_grants(vm, user).values_list("permission__codename", flat=True))
        if not before:
            raise ValidationError({"username": f"{vm.name} is not shared with {user.get_username()}."})
        _grants(vm, user).delete()
        audit.record(action="vm.unshare", target=vm, actor=actor, before={"user": user.get_username(), "permissions": before})


def vm_shares_in_workspace(workspace_id):
    """Every per-VM grant in the workspace, for the sharing page."""
    return (
        VMUserObjectPermission.objects.filter(content_object__workspace_id=workspace_id, permission__codename__in=VM_SHARE_GRANTS)
        .select_related("user", "permission", "content_object")
        .order_by("content_object__name", "user__username")
    )


def vm_shares_of(vm: VM):
    return (
        VMUserObjectPermission.objects.filter(content_object=vm, permission__codename__in=VM_SHARE_GRANTS)
        .select_related("user", "permission")
        .order_by("user__username")
    )
