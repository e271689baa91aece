"""Test data built through the same services the product uses (so guardian permissions are real)."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from vms import catalog
from vms.models import VM
from vms.state import VMStatus
from workspaces import services as workspace_services
from workspaces.models import CloudAccount, Workspace

PASSWORD = "test-password-123"


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def make_workspace(name: str, owner) -> Workspace:
    return workspace_services.workspace_create(name=name, actor=owner)


def add_member(workspace: Workspace, user, role: str):
    return workspace_services.member_add(workspace=workspace, user=user, role=role, actor=None, authorize=False)


def make_account(workspace: Workspace, provider: str = "aws", name: str | None = None, **fields) -> CloudAccount:
    defaults = {"aws": {}, "gcp": {"project_id": "demo-project"}, "azure": {"subscription_id": "sub-1", "resource_group": "rg-1"}}
    return workspace_services.account_create(
        workspace=workspace, provider=provider, name=name or f"{provider}-{workspace.slug}", actor=None, authorize=False,
        settings=fields.pop("settings", defaults[provider]), **fields,
    )


def make_vm(account: CloudAccount, name: str = "vm-1", status: str = VMStatus.RUNNING, instance_id: str | None = None, **fields) -> VM:
    """A VM row as if it had been provisioned (no cloud call): for selector, view and permission tests."""
    provider_catalog = catalog.CATALOG[account.provider]
    region = fields.pop("region", next(iter(provider_catalog.regions)))
    instance_type = fields.pop("instance_type", next(iter(provider_catalog.types)))
    image_id = fields.pop("image_id", next(iter(provider_catalog.images)))
    cpus, memory_mb, storage_gb = catalog.sizing(account.provider, instance_type, image_id)
    zones = provider_catalog.regions[region]
    return VM.objects.create(
        name=name, workspace=account.workspace, account=account, provider=account.provider, status=status,
        instance_id=instance_id if instance_id is not None else f"i-{name}", instance_type=instance_type, region=region,
        zone=fields.pop("zone", zones[0] if provider_catalog.zone_required else ""), image_id=image_id,
        cpus=cpus, memory_mb=memory_mb, storage_gb=storage_gb, **fields,
    )


@dataclass
class World:
    owner: object
    admin: object
    operator: object
    viewer: object
    outsider: object  # member of another workspace only
    workspace: Workspace
    other_workspace: Workspace
    account: CloudAccount
    other_account: CloudAccount


def build_world() -> World:
    owner, admin, operator, viewer, outsider = (make_user(name) for name in ("olivia", "adam", "oscar", "vera", "otto"))
    workspace = make_workspace("Platform", owner)
    other = make_workspace("Data", outsider)
    add_member(workspace, admin, "admin")
    add_member(workspace, operator, "operator")
    add_member(workspace, viewer, "viewer")
    return World(owner, admin, operator, viewer, outsider, workspace, other, make_account(workspace), make_account(other))
