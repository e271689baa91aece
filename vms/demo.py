"""Demo data for `make run`: users, workspaces, sandbox cloud accounts and VMs that really exist in the sandboxes.

Everything here is idempotent: a second run finds what the first made and adds nothing.
"""
from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from vms import services
from vms.cloud import adapter_for_account
from vms.models import VM
from vms.providers.base import InstanceSpec, ProviderError
from vms.state import VMStatus
from workspaces import services as workspace_services
from workspaces.models import CloudAccount, Membership, Workspace

logger = logging.getLogger(__name__)

USERS = ("alice", "bob", "carol")
MEMBERSHIPS = {  # workspace -> {username: role}; the first listed is its creator (owner)
    "Platform": {"alice": "owner", "bob": "viewer", "carol": "operator"},
    "Data": {"bob": "owner"},
}
# (provider, name, final status, type, region, zone, image)
DEMO_VMS = {
    "Platform": [
        ("aws", "web-frontend", VMStatus.RUNNING, "t3.small", "us-east-1", "", "ami-04b70fa74e45c3917"),
        ("aws", "batch-worker", VMStatus.STOPPED, "m5.large", "us-west-2", "", "ami-051f8a213df8bc089"),
        ("gcp", "api-server", VMStatus.RUNNING, "e2-medium", "us-central1", "us-central1-a", "projects/debian-cloud/global/images/family/debian-12"),
        ("gcp", "etl-runner", VMStatus.STOPPED, "n2-standard-2", "europe-west1", "europe-west1-b", "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"),
        ("azure", "reports-app", VMStatus.RUNNING, "Standard_B2s", "westeurope", "", "Canonical:ubuntu-24_04-lts:server:latest"),
        ("azure", "ci-runner", VMStatus.STOPPED, "Standard_D2s_v5", "eastus", "", "Debian:debian-12:12-gen2:latest"),
    ],
    "Data": [
        ("aws", "warehouse-loader", VMStatus.RUNNING, "t3.medium", "eu-west-1", "", "ami-0c7217cdde317cfec"),
        ("gcp", "notebook", VMStatus.STOPPED, "e2-small", "us-central1", "us-central1-b", "projects/debian-cloud/global/images/family/debian-12"),
        ("azure", "spark-driver", VMStatus.RUNNING, "Standard_D4s_v5", "northeurope", "", "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"),
        ("azure", "archive-box", VMStatus.STOPPED, "Standard_B1s", "westus2", "", "Debian:debian-12:12-gen2:latest"),
    ],
}
SANDBOX_SETTING = "sandbox"  # account.settings key marking an account that points at a local emulator


def ensure_users(password: str) -> dict[str, object]:
    User = get_user_model()
    users = {}
    for username in USERS:
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        if created or not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        users[username] = user
    return users


def ensure_workspaces(users: dict) -> dict[str, Workspace]:
    workspaces = {}
    for name, roles in MEMBERSHIPS.items():
        creator = users[next(iter(roles))]
        workspace = Workspace.objects.filter(name=name).first() or workspace_services.workspace_create(name=name, actor=creator)
        for username, role in roles.items():
            if not Membership.objects.filter(workspace=workspace, user=users[username]).exists():
                workspace_services.member_add(workspace=workspace, user=users[username], role=role, actor=creator, authorize=False)
        workspaces[name] = workspace
    return workspaces


def connect_sandbox_accounts(workspace: Workspace, sandboxes) -> dict[str, CloudAccount]:
    """One account per cloud, pointing at this run's emulators (their ports and keys change every start)."""
    accounts = {}
    for provider in ("aws", "gcp", "azure"):
        name = f"{provider}-sandbox"
        config = sandboxes.account_config(provider, f"{name}-{workspace.slug}")
        account = CloudAccount.objects.filter(workspace=workspace, name=name).first()
        if account is None:
            account = workspace_services.account_create(
                workspace=workspace, provider=provider, name=name, actor=None, authorize=False,
                credentials=config.credentials, settings=config.settings | {SANDBOX_SETTING: "true"}, endpoint_url=config.endpoint_url,
            )
        else:
            account.set_credentials(config.credentials)
            account.settings = config.settings | {SANDBOX_SETTING: "true"}
            account.endpoint_url = config.endpoint_url
            account.save(update_fields=["credentials_encrypted", "settings", "endpoint_url"])
        accounts[provider] = account
    return accounts


def restore_sandbox_instances() -> int:
    """The emulators forget everything when the process stops; bring back the instances the database expects.

    Same VM id (so the same idempotency key and tag), then the status the row had. Housekeeping of the
    sandbox only, so it is not audited; nothing here ever runs against a real cloud account.
    """
    restored = 0
    vms = VM.objects.filter(account__settings__has_key=SANDBOX_SETTING).exclude(status=VMStatus.TERMINATED).select_related("account", "workspace")
    for vm in vms:
        adapter = adapter_for_account(vm.account)
        try:
            instance = adapter.create(InstanceSpec(vm_id=str(vm.pk), name=vm.name, instance_type=vm.instance_type, region=vm.region,
                                                   image_id=vm.image_id, zone=vm.zone, storage_gb=vm.storage_gb))
            if vm.status in (VMStatus.STOPPED, VMStatus.STOPPING):
                adapter.stop(instance.ref)
            elif vm.status == VMStatus.TERMINATING:
                adapter.terminate(instance.ref)
        except ProviderError as error:
            logger.warning("could not restore %s in the sandbox: %s", vm.name, error.message)
            continue
        VM.objects.filter(pk=vm.pk).update(instance_id=instance.instance_id, zone=vm.zone or instance.zone)
        restored += 1
    return restored


def seed_vms(workspace: Workspace, accounts: dict[str, CloudAccount], owner) -> int:
    """Create the demo VMs through the services (so they exist in the sandbox), then bring each to its status."""
    made = 0
    for provider, name, final, instance_type, region, zone, image in DEMO_VMS[workspace.name]:
        if VM.objects.filter(workspace=workspace, name=name).exists():
            continue
        vm = services.vm_create(actor=owner, workspace=workspace, account=accounts[provider], name=name, instance_type=instance_type,
                                region=region, zone=zone, image_id=image, metadata={"demo": "true", "owner": owner.username})
        if final == VMStatus.STOPPED:
            _settle(vm)
            services.vm_stop(vm_id=vm.pk, actor=owner)
        _settle(vm)
        made += 1
    return made


def _settle(vm: VM) -> None:
    vm.refresh_from_db()
    instance = adapter_for_account(vm.account).get(vm.ref)
    services.vm_update_status(vm_id=vm.pk, status=instance.status)


def seed(sandboxes, password: str) -> dict[str, int]:
    """Users, workspaces, sandbox accounts, restored and new VMs. Run with the emulators' transitions at 0 s."""
    with transaction.atomic():
        users = ensure_users(password)
        workspaces = ensure_workspaces(users)
        accounts = {name: connect_sandbox_accounts(workspace, sandboxes) for name, workspace in workspaces.items()}
    restored = restore_sandbox_instances()
    made = sum(
        seed_vms(workspace, accounts[name], users[next(iter(MEMBERSHIPS[name]))]) for name, workspace in workspaces.items()
    )
    return {"restored": restored, "created": made}
