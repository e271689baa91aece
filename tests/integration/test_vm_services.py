"""The VM services: audit row and published event for each, transition rules, provider failures."""
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests import factories
from tests.events import captured_events
from vms import services
from vms.models import VM
from vms.providers.base import NotFound, Throttled, Unavailable
from vms.state import InvalidTransition, VMStatus
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

GCP_IMAGE = "projects/debian-cloud/global/images/family/debian-12"


def create_aws_vm(world, name="web-1", **extra):
    return services.vm_create(
        actor=world.owner, workspace=world.workspace, account=world.account, name=name,
        instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec", **extra,
    )


def last_audit(vm, action):
    return AuditEvent.objects.filter(target_id=str(vm.pk), action=action).latest("id")


def test_create_writes_pending_row_then_provisions_and_audits(world, fake_cloud):
    with captured_events(world.workspace.pk) as received:
        vm = create_aws_vm(world, metadata={"team": "web"})
    assert vm.status == VMStatus.RUNNING and vm.instance_id.startswith("aws-")
    assert (vm.cpus, vm.memory_mb, vm.storage_gb) == (2, 2048, 8)
    assert fake_cloud.instances[vm.instance_id].vm_id == str(vm.pk)  # the UUID is the idempotency key and tag
    row = last_audit(vm, "vm.create")
    assert (row.actor, row.outcome, row.workspace) == (world.owner, "success", world.workspace)
    assert [m["event"] for m in received] == ["vm.created", "vm.status.changed"]
    assert received[1]["old_status"] == "pending" and received[1]["new_status"] == "running"


def test_create_with_same_vm_id_makes_one_vm(world, fake_cloud):
    vm_id = uuid.uuid4()
    first = create_aws_vm(world, vm_id=vm_id)
    second = create_aws_vm(world, vm_id=vm_id)
    assert first.pk == second.pk == vm_id
    assert VM.objects.count() == 1 and fake_cloud.calls["create"] == 1


def test_create_validates_by_field(world, fake_cloud):
    with pytest.raises(ValidationError) as caught:
        services.vm_create(actor=world.owner, workspace=world.workspace, account=world.account, name="x",
                           instance_type="t9.nope", region="mars-1", image_id="ami-x")
    assert set(caught.value.message_dict) == {"name"}
    with pytest.raises(ValidationError) as caught:
        services.vm_create(actor=world.owner, workspace=world.workspace, account=world.account, name="fine-name",
                           instance_type="t9.nope", region="mars-1", image_id="ami-x")
    assert {"type", "region", "image_id"} <= set(caught.value.message_dict)
    assert VM.objects.count() == 0 and fake_cloud.calls["create"] == 0


def test_create_refuses_duplicate_live_name(world, fake_cloud):
    create_aws_vm(world)
    with pytest.raises(ValidationError, match="already exists"):
        create_aws_vm(world)


def test_create_with_cloud_failure_keeps_row_in_error_with_reason(world, fake_cloud):
    fake_cloud.fail_next("create", Unavailable("EC2 is down", provider="aws"))
    with pytest.raises(Unavailable):
        create_aws_vm(world)
    vm = VM.objects.get()
    assert vm.status == VMStatus.ERROR and "EC2 is down" in vm.last_error
    assert last_audit(vm, "vm.create").outcome == "failure"


def test_viewer_and_operator_may_not_create(world, fake_cloud):
    for user in (world.viewer, world.operator):
        with pytest.raises(PermissionDenied):
            services.vm_create(actor=user, workspace=world.workspace, account=world.account, name="web-1",
                               instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec")


@pytest.mark.parametrize(
    ("action", "before", "transitional", "event", "provider_call"),
    [
        ("start", VMStatus.STOPPED, VMStatus.STARTING, "vm.started", "start"),
        ("stop", VMStatus.RUNNING, VMStatus.STOPPING, "vm.stopped", "stop"),
        ("restart", VMStatus.RUNNING, VMStatus.STARTING, "vm.restarted", "reboot"),
        ("restart", VMStatus.STOPPED, VMStatus.STARTING, "vm.restarted", "start"),
        ("terminate", VMStatus.RUNNING, VMStatus.TERMINATING, "vm.terminated", "terminate"),
    ],
)
def test_lifecycle_command_audits_publishes_and_calls_cloud_once(world, fake_cloud, action, before, transitional, event, provider_call):
    vm = create_aws_vm(world)
    fake_cloud.set_status(vm.instance_id, before)
    VM.objects.filter(pk=vm.pk).update(status=before)
    with captured_events(world.workspace.pk) as received:
        result = services.LIFECYCLE_COMMANDS[action](vm_id=vm.pk, actor=world.owner)
    assert result.status == transitional
    assert fake_cloud.calls[provider_call] == 1
    row = last_audit(vm, f"vm.{action}")
    assert row.before == {"status": before} and row.after == {"status": transitional} and row.actor == world.owner
    assert received[0]["event"] == event
    assert (received[0]["old_status"], received[0]["new_status"]) == (before, transitional)


def test_illegal_transition_is_refused_without_cloud_call(world, fake_cloud):
    vm = create_aws_vm(world)
    with pytest.raises(InvalidTransition) as caught:
        services.vm_start(vm_id=vm.pk, actor=world.owner)
    assert caught.value.current == VMStatus.RUNNING
    assert fake_cloud.calls["start"] == 0
    assert not AuditEvent.objects.filter(action="vm.start").exists()


def test_throttled_stop_keeps_running_and_records_reason(world, fake_cloud):
    vm = create_aws_vm(world)
    fake_cloud.fail_next("stop", Throttled("Request limit exceeded.", retry_after=2, provider="aws"))
    with pytest.raises(Throttled):
        services.vm_stop(vm_id=vm.pk, actor=world.owner)
    vm.refresh_from_db()
    assert vm.status == VMStatus.RUNNING
    assert "Request limit exceeded" in vm.last_error
    assert last_audit(vm, "vm.stop").outcome == "failure"


def test_unknown_failure_asks_the_cloud_for_the_true_status(world, fake_cloud):
    vm = create_aws_vm(world)
    fake_cloud.fail_next("stop", Unavailable("connection reset", provider="aws"))
    with pytest.raises(Unavailable):
        services.vm_stop(vm_id=vm.pk, actor=world.owner)
    vm.refresh_from_db()
    assert vm.status == VMStatus.RUNNING  # what the cloud still reports
    assert fake_cloud.calls["get"] == 1


def test_terminate_of_vanished_instance_settles_terminated(world, fake_cloud):
    vm = create_aws_vm(world)
    del fake_cloud.instances[vm.instance_id]
    result = services.vm_terminate(vm_id=vm.pk, actor=world.owner)
    assert result.status == VMStatus.TERMINATED


def test_viewer_may_not_act_and_outsider_does_not_see(world, fake_cloud):
    vm = create_aws_vm(world)
    with pytest.raises(PermissionDenied):
        services.vm_stop(vm_id=vm.pk, actor=world.viewer)
    with pytest.raises(VM.DoesNotExist):
        services.vm_stop(vm_id=vm.pk, actor=world.outsider)
    assert services.vm_stop(vm_id=vm.pk, actor=world.operator).status == VMStatus.STOPPING
    with pytest.raises(PermissionDenied):
        services.vm_terminate(vm_id=vm.pk, actor=world.operator)  # terminating needs manage_vms


def test_update_name_and_metadata_is_audited_and_published(world, fake_cloud):
    vm = create_aws_vm(world)
    with captured_events(world.workspace.pk) as received:
        services.vm_update(vm_id=vm.pk, actor=world.admin, name="web-renamed", metadata={"env": "dev"})
    vm.refresh_from_db()
    assert (vm.name, vm.metadata) == ("web-renamed", {"env": "dev"})
    row = last_audit(vm, "vm.update")
    assert row.before["name"] == "web-1" and row.after["name"] == "web-renamed"
    assert [m["event"] for m in received] == ["vm.updated"]


@pytest.mark.parametrize("metadata", [["a"], {"": "x"}, {"k": 5}, {"k" * 64: "v"}, {"k": "v" * 256}])
def test_update_rejects_bad_metadata(world, fake_cloud, metadata):
    vm = create_aws_vm(world)
    with pytest.raises(ValidationError) as caught:
        services.vm_update(vm_id=vm.pk, actor=world.owner, metadata=metadata)
    assert "metadata" in caught.value.message_dict


def test_delete_only_once_terminated(world, fake_cloud):
    vm = create_aws_vm(world)
    with pytest.raises(InvalidTransition, match="running"):
        services.vm_delete(vm_id=vm.pk, actor=world.owner)
    services.vm_terminate(vm_id=vm.pk, actor=world.owner)
    services.vm_update_status(vm_id=vm.pk, status=VMStatus.TERMINATED)
    with captured_events(world.workspace.pk) as received:
        services.vm_delete(vm_id=vm.pk, actor=world.owner)
    assert not VM.objects.filter(pk=vm.pk).exists()
    assert AuditEvent.objects.filter(target_id=str(vm.pk), action="vm.delete").exists()
    assert [m["event"] for m in received] == ["vm.deleted"]


def test_update_status_from_sync_is_audited_with_old_and_new(world, fake_cloud):
    vm = create_aws_vm(world)
    with captured_events(world.workspace.pk) as received:
        services.vm_update_status(vm_id=vm.pk, status=VMStatus.STOPPED)
        services.vm_update_status(vm_id=vm.pk, status=VMStatus.STOPPED)  # unchanged: no second row
    row = AuditEvent.objects.get(target_id=str(vm.pk), action="vm.status.change")
    assert (row.source, row.actor_repr, row.before, row.after) == ("sync", "sync", {"status": "running"}, {"status": "stopped"})
    assert [(m["event"], m["old_status"], m["new_status"]) for m in received] == [("vm.status.changed", "running", "stopped")]


def test_selectors_list_and_filter(world, fake_cloud):
    from vms import selectors

    for index in range(5):
        factories.make_vm(world.account, name=f"vm-{index}", status=VMStatus.STOPPED if index % 2 else VMStatus.RUNNING)
    assert len(selectors.vms_list(limit=3, offset=0)) == 3
    assert len(selectors.vms_list(limit=3, offset=3)) == 2
    assert selectors.vms_with_status(VMStatus.STOPPED, limit=10).count() == 2
    assert selectors.vms_in_workspace(world.workspace.pk).count() == 5
    vm = selectors.vms_in_workspace(world.workspace.pk).first()
    assert selectors.vm_get_status(vm.pk) == vm.status
    assert selectors.vm_get(vm.pk).account == world.account
    assert selectors.vm_check_access(world.viewer, vm) and not selectors.vm_check_access(world.outsider, vm)
    assert not selectors.vm_check_access(world.viewer, vm, "stop")
