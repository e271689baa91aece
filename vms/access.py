"""CheckVMAccess: the one permission rule, asked by views, the API, the consumer and admin.

A user may do an action on a VM when their role in its workspace grants the action's permission,
or when the VM itself is shared with them with a permission that grants it. Everything is loaded in
two queries per request and answered in memory, so list pages stay constant-query.
"""
from collections import defaultdict
from functools import cached_property
from uuid import UUID

from vms import state
from workspaces.models import WorkspaceUserObjectPermission
from workspaces.roles import ALL_WORKSPACE_PERMISSIONS, VIEW, VM_ACTION_PERMISSION, VM_SHARE_GRANTS


class Access:
    def __init__(self, user):
        self.user = user

    @property
    def _active(self) -> bool:
        return bool(self.user and self.user.is_authenticated and self.user.is_active)

    @cached_property
    def workspace_permissions(self) -> dict[UUID, frozenset[str]]:
        if not self._active:
            return {}
        granted = defaultdict(set)
        rows = WorkspaceUserObjectPermission.objects.filter(
            user=self.user, permission__codename__in=ALL_WORKSPACE_PERMISSIONS
        ).values_list("content_object_id", "permission__codename")
        for workspace_id, codename in rows:
            granted[workspace_id].add(codename)
        return {workspace_id: frozenset(codenames) for workspace_id, codenames in granted.items()}

    @cached_property
    def shared_vm_permissions(self) -> dict[UUID, frozenset[str]]:
        from vms.models import VMUserObjectPermission

        if not self._active:
            return {}
        granted = defaultdict(set)
        rows = VMUserObjectPermission.objects.filter(
            user=self.user, permission__codename__in=VM_SHARE_GRANTS
        ).values_list("content_object_id", "permission__codename")
        for vm_id, codename in rows:
            granted[vm_id].add(codename)
        return {vm_id: frozenset(codenames) for vm_id, codenames in granted.items()}

    @classmethod
    def for_users(cls, users) -> dict:
        """Access of many users in two queries (user pk -> Access): the WebSocket fan-out asks for hundreds at once."""
        from vms.models import VMUserObjectPermission

        accesses = {user.pk: cls(user) for user in users}
        active = [pk for pk, access in accesses.items() if access._active]
        workspaces, vms = defaultdict(lambda: defaultdict(set)), defaultdict(lambda: defaultdict(set))
        for user_id, workspace_id, codename in WorkspaceUserObjectPermission.objects.filter(
            user_id__in=active, permission__codename__in=ALL_WORKSPACE_PERMISSIONS
        ).values_list("user_id", "content_object_id", "permission__codename"):
            workspaces[user_id][workspace_id].add(codename)
        for user_id, vm_id, codename in VMUserObjectPermission.objects.filter(
            user_id__in=active, permission__codename__in=VM_SHARE_GRANTS
        ).values_list("user_id", "content_object_id", "permission__codename"):
            vms[user_id][vm_id].add(codename)
        for pk, access in accesses.items():
            access.workspace_permissions = {ws: frozenset(codes) for ws, codes in workspaces[pk].items()}
            access.shared_vm_permissions = {vm: frozenset(codes) for vm, codes in vms[pk].items()}
        return accesses

    def workspace_ids(self, permission: str = VIEW) -> list[UUID]:
        return [ws_id for ws_id, perms in self.workspace_permissions.items() if permission in perms]

    def has_workspace_permission(self, workspace_id: UUID, permission: str) -> bool:
        return permission in self.workspace_permissions.get(workspace_id, ())

    def can(self, vm, action: str) -> bool:
        """May this user do `action` (view, start, stop, restart, terminate, update, delete) on `vm`?"""
        if self.has_workspace_permission(vm.workspace_id, VM_ACTION_PERMISSION[action]):
            return True
        return any(action in VM_SHARE_GRANTS[codename] for codename in self.shared_vm_permissions.get(vm.pk, ()))

    def allowed_actions(self, vm) -> list[str]:
        """Lifecycle actions both the transition table and the user's permissions allow now."""
        return [action for action in state.allowed_actions(vm.status) if self.can(vm, action)]

    def can_delete(self, vm) -> bool:
        return vm.is_deletable and self.can(vm, "delete")

