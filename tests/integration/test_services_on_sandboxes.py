"""The lifecycle services driving the real adapters against the three emulators over HTTP."""
import pytest
from django.core.exceptions import ValidationError

from vms import services
from vms.cloud import adapter_for_vm
from vms.models import VM
from vms.providers.base import AuthenticationFailed
from vms.state import VMStatus
from workspaces import services as workspace_services
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

SPECS = {
    "aws": {"instance_type": "t3.small", "region": "us-east-1", "image_id": "ami-0c7217cdde317cfec"},
    "gcp": {"instance_type": "e2-small", "region": "us-central1", "zone": "us-central1-a",
            "image_id": "projects/debian-cloud/global/images/family/debian-12"},
    "azure": {"instance_type": "Standard_B2s", "region": "eastus", "image_id": "Debian:debian-12:12-gen2:latest"},
}


def settle(vm: VM) -> VM:
    """What the poller does for one VM: read the cloud's status and record it."""
    vm.refresh_from_db()
    return services.vm_update_status(vm_id=vm.pk, status=adapter_for_vm(vm).get(vm.ref).status)


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_full_lifecycle_through_services(world, sandbox_accounts, provider):
    vm = services.vm_create(actor=world.owner, workspace=world.workspace, account=sandbox_accounts[provider],
                            name=f"life-{provider}", **SPECS[provider])
    assert vm.instance_id
    assert settle(vm).status == VMStatus.RUNNING
    assert services.vm_stop(vm_id=vm.pk, actor=world.operator).status == VMStatus.STOPPING
    assert settle(vm).status == VMStatus.STOPPED
    assert services.vm_start(vm_id=vm.pk, actor=world.operator).status == VMStatus.STARTING
    assert settle(vm).status == VMStatus.RUNNING
    assert services.vm_restart(vm_id=vm.pk, actor=world.operator).status == VMStatus.STARTING
    assert settle(vm).status == VMStatus.RUNNING
    assert services.vm_terminate(vm_id=vm.pk, actor=world.admin).status == VMStatus.TERMINATING
    vm.refresh_from_db()
    adapter = adapter_for_vm(vm)
    listed = {instance.vm_id: instance.status for instance in adapter.list_managed(vm.region if adapter.lists_per_region else "")}
    assert listed.get(str(vm.pk), VMStatus.TERMINATED) == VMStatus.TERMINATED
    actions = list(AuditEvent.objects.filter(target_id=str(vm.pk)).order_by("id").values_list("action", "outcome"))
    assert [a for a, _ in actions if not a.startswith("vm.status")] == ["vm.create", "vm.stop", "vm.start", "vm.restart", "vm.terminate"]
    assert all(outcome == "success" for _, outcome in actions)


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_wrong_credentials_fail_clearly_without_leaking_the_secret(world, sandboxes, provider, caplog):
    secrets = {
        "aws": {"access_key_id": "AKIAWRONG0000000000", "secret_access_key": "leaky-secret-aws-123"},
        "gcp": None,
        "azure": {"tenant_id": "t", "client_id": "c", "client_secret": "leaky-secret-azure-123"},
    }
    config = sandboxes.account_config(provider, f"bad-{provider}")
    credentials = secrets[provider]
    if credentials is None:  # a service-account key the emulator never issued
        other = sandboxes.gcp.account_config("bad-gcp-other-key")
        credentials = {"service_account_json": other.credentials["service_account_json"].replace("bad-gcp-other-key", "bad-gcp")}
    account = workspace_services.account_create(
        workspace=world.workspace, provider=provider, name=f"bad-{provider}", actor=None, authorize=False,
        credentials=credentials, settings=config.settings, endpoint_url=config.endpoint_url,
    )
    with pytest.raises(AuthenticationFailed) as caught:
        services.vm_create(actor=world.owner, workspace=world.workspace, account=account, name=f"bad-{provider}-vm", **SPECS[provider])
    assert f"bad-{provider}" in caught.value.message
    vm = VM.objects.get(name=f"bad-{provider}-vm")
    assert vm.status == VMStatus.ERROR
    secret = next(iter(v for k, v in credentials.items() if "secret" in k or "json" in k))
    for text in (caught.value.message, vm.last_error, caplog.text, str(list(AuditEvent.objects.values("message", "after")))):
        assert secret not in text
    assert workspace_services.account_verify(account=account, actor=None, authorize=False)  # a reason, not ""


def test_bad_catalog_values_are_refused_before_any_cloud_call(world, sandbox_accounts, sandboxes):
    calls_before = sum(sandboxes.gcp.calls.values())
    with pytest.raises(ValidationError) as caught:
        services.vm_create(actor=world.owner, workspace=world.workspace, account=sandbox_accounts["gcp"], name="bad-zone",
                           instance_type="e2-small", region="us-central1", zone="mars-1a", image_id=SPECS["gcp"]["image_id"])
    assert "us-central1-a" in caught.value.message_dict["zone"][0]
    assert sum(sandboxes.gcp.calls.values()) == calls_before


def test_verify_account_succeeds_against_sandbox(world, sandbox_accounts):
    from django.core.management import call_command

    for account in sandbox_accounts.values():
        call_command("verify_account", str(account.pk))
        account.refresh_from_db()
        assert account.last_verified_at is not None and account.last_verify_error == ""


def test_demo_seed_is_idempotent(db, sandboxes):
    from vms import demo

    first = demo.seed(sandboxes, "pw-demo-1")
    second = demo.seed(sandboxes, "pw-demo-1")
    assert first["created"] == sum(len(rows) for rows in demo.DEMO_VMS.values())
    assert second["created"] == 0 and VM.objects.count() == first["created"]
    statuses = set(VM.objects.values_list("status", flat=True))
    assert {VMStatus.RUNNING, VMStatus.STOPPED} <= statuses
    for workspace_name, rows in demo.DEMO_VMS.items():
        assert {p for p, *_ in rows} == {"aws", "gcp", "azure"}
