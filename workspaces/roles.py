"""Roles are sets of guardian object permissions on a Workspace: owner > admin > operator > viewer.

viewer   sees the workspace and its VMs
operator + starts, stops and restarts VMs
admin    + creates, edits, terminates and deletes VMs; manages cloud accounts and members
owner    + everything an admin can, and is the only role that can make or unmake owners
"""
from django.db import models

VIEW = "view_workspace"
OPERATE_VMS = "operate_vms"
MANAGE_VMS = "manage_vms"
MANAGE_MEMBERS = "manage_members"
MANAGE_ACCOUNTS = "manage_accounts"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({VIEW}),
    Role.OPERATOR: frozenset({VIEW, OPERATE_VMS}),
    Role.ADMIN: frozenset({VIEW, OPERATE_VMS, MANAGE_VMS, MANAGE_MEMBERS, MANAGE_ACCOUNTS}),
    Role.OWNER: frozenset({VIEW, OPERATE_VMS, MANAGE_VMS, MANAGE_MEMBERS, MANAGE_ACCOUNTS}),
}
ALL_WORKSPACE_PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())

# Which workspace permission each VM action needs.
VM_ACTION_PERMISSION = {
    "view": VIEW,
    "start": OPERATE_VMS,
    "stop": OPERATE_VMS,
    "restart": OPERATE_VMS,
    "create": MANAGE_VMS,
    "update": MANAGE_VMS,
    "terminate": MANAGE_VMS,
    "delete": MANAGE_VMS,
}
# Per-VM sharing: these VM permissions grant an action on that one VM.
VIEW_VM = "view_vm"
OPERATE_VM = "operate_vm"
VM_SHARE_GRANTS = {
    VIEW_VM: frozenset({"view"}),
    OPERATE_VM: frozenset({"view", "start", "stop", "restart"}),
}
