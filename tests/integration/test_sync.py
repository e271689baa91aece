"""The status poller against the in-memory cloud: batched lists, bulk writes, audit, events, reconciliation,
cadence, back-off and leases. (test_sync_sandbox.py runs it against the real emulators.)"""
import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import factories
from tests.events import captured_events
from vms import cloud, services, sync, sync_targets
from vms.models import VM, SyncTarget
from vms.providers import registry
from vms.providers.base import CloudInstance, Throttled, Unavailable
from vms.state import VMStatus
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

AMI = "ami-0c7217cdde317cfec"
GCP_IMAGE = "projects/debian-cloud/global/images/family/debian-12"


def create_vm(world, name, *, account=None, region="us-east-1", **extra):
    account = account or world.account
    if account.provider == "gcp":
        extra = {"instance_type": "e2-small", "image_id": GCP_IMAGE, "zone": f"{region}-b", **extra}
    return services.vm_create(
        actor=world.owner, workspace=world.workspace, account=account, name=name,
        instance_type=extra.pop("instance_type", "t3.small"), region=region, image_id=extra.pop("image_id", AMI), **extra,
    )


def poll_once(*args):
    call_command("poll_providers", "--once", "--all", *args, stdout=io.StringIO(), stderr=io.StringIO())


def sync_audits(vm):
    return list(AuditEvent.objects.filter(target_id=str(vm.pk), source="sync").order_by("id"))


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block and then its on-commit callbacks (the events), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_stopped_behind_our_back_becomes_stopped_with_audit_and_event(world, fake_cloud, committed):
    vm = create_vm(world, "web-1")
    other = create_vm(world, "web-2")
    fake_cloud.set_status(vm.instance_id, VMStatus.STOPPED)
    fake_cloud.calls.clear()
    with captured_events(world.workspace.pk) as received, committed():
        poll_once()
    vm.refresh_from_db()
    other.refresh_from_db()
    assert (vm.status, vm.status_source) == (VMStatus.STOPPED, "poll")
    assert other.status == VMStatus.RUNNING and other.status_checked_at is not None  # confirmed, not rewritten
    [row] = sync_audits(vm)
    assert (row.action, row.actor_repr, row.before, row.after) == ("vm.status.change", "sync", {"status": "running"}, {"status": "stopped"})
    assert row.workspace == world.workspace
    assert not sync_audits(other)
    assert [(m["event"], m["vm_id"], m["old_status"], m["new_status"]) for m in received] == [
        ("vm.status.changed", str(vm.pk), "running", "stopped")
    ]
    assert fake_cloud.calls == {"list": 1}  # one list for the target, no call per VM


def test_sync_queries_do_not_grow_with_the_number_of_vms(world, fake_cloud):
    def queries_to_sync(count: int, offset: int) -> int:
        vms = [create_vm(world, f"vm-{offset + index}") for index in range(count)]
        for vm in vms:
            fake_cloud.set_status(vm.instance_id, VMStatus.STOPPED)
        target = SyncTarget.objects.select_related("account__workspace").get()
        with CaptureQueriesContext(connection) as queries:
            sync.sync_target(target)
        assert VM.objects.filter(pk__in=[vm.pk for vm in vms], status=VMStatus.STOPPED).count() == count
        return len(queries)

    create_vm(world, "settled-1")  # confirmed in both rounds
    sync_targets.ensure_targets(timezone.now())
    few = queries_to_sync(2, 0)
    many = queries_to_sync(40, 100)
    assert many == few


def test_vm_missing_from_the_list_is_confirmed_with_a_get_before_it_is_terminated(world, fake_cloud):
    gone = create_vm(world, "gone-1")
    moved = create_vm(world, "moved-1")
    del fake_cloud.instances[gone.instance_id]
    # listed under another region, so this target's list misses it, but a get still finds it running
    current = fake_cloud.instances[moved.instance_id]
    fake_cloud.instances[moved.instance_id] = CloudInstance(current.instance_id, VMStatus.STOPPED, "stopped", "eu-west-1", "", current.vm_id)
    fake_cloud.calls.clear()
    SyncTarget.objects.all().delete()
    sync_targets.ensure_targets(timezone.now())
    target = SyncTarget.objects.select_related("account__workspace").get(region="us-east-1")
    sync.sync_target(target)
    gone.refresh_from_db()
    moved.refresh_from_db()
    assert gone.status == VMStatus.TERMINATED
    assert moved.status == VMStatus.STOPPED
    assert fake_cloud.calls["get"] == 2
    assert sync_audits(gone)[0].after == {"status": "terminated"}


def test_list_taken_before_a_user_action_does_not_undo_it(world, fake_cloud, settings):
    vm = create_vm(world, "web-1")
    # the user pressed stop; the cloud has not acted yet and still lists the instance as running
    VM.objects.filter(pk=vm.pk).update(status=VMStatus.STOPPING, status_source="action", updated_at=timezone.now())
    poll_once()
    vm.refresh_from_db()
    assert vm.status == VMStatus.STOPPING
    target = SyncTarget.objects.get()
    assert target.next_poll_at - timezone.now() <= timedelta(seconds=settings.POLL_TRANSITIONAL_INTERVAL)

    fake_cloud.set_status(vm.instance_id, VMStatus.STOPPED)  # the stop landed: the expected outcome is taken at once
    poll_once()
    vm.refresh_from_db()
    assert vm.status == VMStatus.STOPPED


def test_user_set_transition_the_cloud_never_confirms_gives_way_after_the_grace(world, fake_cloud, settings):
    vm = create_vm(world, "web-1")
    VM.objects.filter(pk=vm.pk).update(status=VMStatus.STOPPING, status_source="action", updated_at=timezone.now() - timedelta(seconds=60))
    settings.POLL_ACTION_GRACE_SECONDS = 30
    poll_once()
    vm.refresh_from_db()
    assert vm.status == VMStatus.RUNNING


def test_row_written_while_the_list_was_in_flight_keeps_the_newer_value(world, fake_cloud):
    vm = create_vm(world, "web-1")
    fake_cloud.set_status(vm.instance_id, VMStatus.STOPPED)
    adapter_class = fake_cloud.adapter_class("aws")

    class ActionDuringList(adapter_class):
        def list_managed(self, region=""):
            listed = super().list_managed(region)
            VM.objects.filter(pk=vm.pk).update(status=VMStatus.STARTING, status_source="action", updated_at=timezone.now())
            return listed

    registry.override("aws", ActionDuringList)
    cloud.clear_cache()
    poll_once()
    vm.refresh_from_db()
    assert vm.status == VMStatus.STARTING
    assert not sync_audits(vm)


def test_interrupted_create_is_adopted_by_its_tag(world, fake_cloud, settings):
    vm = create_vm(world, "web-1")
    instance_id = vm.instance_id
    long_ago = timezone.now() - timedelta(minutes=5)
    VM.objects.filter(pk=vm.pk).update(instance_id="", status=VMStatus.PENDING, created_at=long_ago, updated_at=long_ago)
    poll_once()
    vm.refresh_from_db()
    assert (vm.instance_id, vm.status) == (instance_id, VMStatus.RUNNING)
    assert sync_audits(vm)[0].after == {"status": "running", "instance_id": instance_id}
    assert len(fake_cloud.instances) == 1


def test_interrupted_create_with_no_instance_is_created_again_with_the_same_key(world, fake_cloud, settings):
    vm = create_vm(world, "web-1")
    del fake_cloud.instances[vm.instance_id]
    long_ago = timezone.now() - timedelta(minutes=5)
    VM.objects.filter(pk=vm.pk).update(instance_id="", status=VMStatus.PENDING, created_at=long_ago, updated_at=long_ago)
    fake_cloud.calls.clear()
    poll_once()
    poll_once()
    vm.refresh_from_db()
    assert vm.status == VMStatus.RUNNING and vm.instance_id
    [instance] = fake_cloud.instances.values()
    assert instance.vm_id == str(vm.pk) and fake_cloud.calls["create"] == 1
    assert sync_audits(vm)[0].after["instance_id"] == vm.instance_id


def test_fresh_pending_row_without_instance_is_left_to_its_create(world, fake_cloud):
    vm = factories.make_vm(world.account, "web-1", status=VMStatus.PENDING, instance_id="", region="us-east-1")
    poll_once()
    vm.refresh_from_db()
    assert (vm.status, vm.instance_id) == (VMStatus.PENDING, "")
    assert fake_cloud.calls["create"] == 0


def test_interrupted_create_past_the_timeout_becomes_error(world, fake_cloud, settings):
    settings.PENDING_CREATE_TIMEOUT = 60
    vm = factories.make_vm(world.account, "web-1", status=VMStatus.PENDING, instance_id="", region="us-east-1")
    long_ago = timezone.now() - timedelta(minutes=5)
    VM.objects.filter(pk=vm.pk).update(created_at=long_ago, updated_at=long_ago)
    poll_once()
    vm.refresh_from_db()
    assert vm.status == VMStatus.ERROR and "did not finish" in vm.last_error
    assert fake_cloud.calls["create"] == 0


def test_targets_follow_the_vms(world, fake_cloud):
    gcp = factories.make_account(world.workspace, "gcp")
    for index, region in enumerate(["us-east-1", "us-east-1", "eu-west-1"]):
        factories.make_vm(world.account, f"aws-{index}", region=region)
    for index, region in enumerate(["us-central1", "europe-west1"]):
        factories.make_vm(gcp, f"gcp-{index}", region=region)
    assert sync_targets.ensure_targets(timezone.now()) == 3
    assert sync_targets.ensure_targets(timezone.now()) == 0
    assert set(SyncTarget.objects.values_list("account__provider", "region")) == {("aws", "us-east-1"), ("aws", "eu-west-1"), ("gcp", "")}
    VM.objects.filter(region="eu-west-1").update(status=VMStatus.TERMINATED)
    sync_targets.ensure_targets(timezone.now())
    assert set(SyncTarget.objects.values_list("account__provider", "region")) == {("aws", "us-east-1"), ("gcp", "")}


def test_cadence_is_fast_while_a_vm_is_in_transition_and_slow_when_settled(world, fake_cloud, settings):
    vm = create_vm(world, "web-1")
    poll_once()
    target = SyncTarget.objects.get()
    wait = (target.next_poll_at - target.last_polled_at).total_seconds()
    assert settings.POLL_SETTLED_INTERVAL * 0.85 <= wait <= settings.POLL_SETTLED_INTERVAL * 1.15

    services.vm_stop(vm_id=vm.pk, actor=world.owner)  # a user's action makes the target transitional
    sync_targets.hasten_transitional(timezone.now())
    target.refresh_from_db()
    assert target.next_poll_at - timezone.now() <= timedelta(seconds=settings.POLL_TRANSITIONAL_INTERVAL)


def test_throttled_target_backs_off_past_retry_after_and_others_still_sync(world, fake_cloud):
    gcp = factories.make_account(world.workspace, "gcp")
    aws_vm = create_vm(world, "aws-1")
    gcp_vm = create_vm(world, "gcp-1", account=gcp, region="us-central1")
    fake_cloud.set_status(aws_vm.instance_id, VMStatus.STOPPED)
    fake_cloud.set_status(gcp_vm.instance_id, VMStatus.STOPPED)
    fake_cloud.fail_next("list", Throttled("Rate exceeded.", retry_after=40, provider="aws"))
    poll_once("--workers", "1")

    throttled = SyncTarget.objects.get(consecutive_failures=1)
    assert "Rate exceeded" in throttled.last_error
    assert throttled.throttled_until >= timezone.now() + timedelta(seconds=39)
    assert throttled.next_poll_at == throttled.throttled_until
    assert throttled.leased_by == ""
    healthy = SyncTarget.objects.get(consecutive_failures=0)
    assert healthy.last_error == "" and healthy.last_polled_at is not None
    assert sorted(VM.objects.values_list("status", flat=True)) == sorted([VMStatus.RUNNING, VMStatus.STOPPED])

    poll_once()  # still throttled: not leased, not polled
    assert SyncTarget.objects.get(pk=throttled.pk).consecutive_failures == 1


def test_failures_back_off_exponentially_and_a_success_resets(world, fake_cloud):
    create_vm(world, "web-1")
    delays = []
    for _ in range(3):
        fake_cloud.fail_next("list", Unavailable("EC2 is down", provider="aws"))
        poll_once()
        target = SyncTarget.objects.get()
        delays.append((target.next_poll_at - timezone.now()).total_seconds())
        SyncTarget.objects.update(next_poll_at=timezone.now())
    assert target.consecutive_failures == 3 and "EC2 is down" in target.last_error
    assert delays[0] < delays[1] < delays[2]
    poll_once()
    target.refresh_from_db()
    assert (target.consecutive_failures, target.last_error) == (0, "")


def test_a_failing_target_keeps_its_backoff_while_a_vm_is_in_transition(world, fake_cloud):
    vm = create_vm(world, "web-1")
    fake_cloud.fail_next("list", Unavailable("EC2 is down", provider="aws"))
    poll_once()
    SyncTarget.objects.update(next_poll_at=timezone.now() + timedelta(minutes=5))  # backing off, far beyond the fast pace
    VM.objects.filter(pk=vm.pk).update(status=VMStatus.STOPPING, status_source="action")
    assert sync_targets.hasten_transitional(timezone.now()) == 0
    SyncTarget.objects.update(consecutive_failures=0)
    assert sync_targets.hasten_transitional(timezone.now()) == 1


def test_backoff_never_undercuts_retry_after_and_is_capped(settings):
    settings.POLL_TRANSITIONAL_INTERVAL = 3
    assert 3 <= sync_targets.backoff_delay(1) <= 3.6
    assert 12 <= sync_targets.backoff_delay(3) <= 14.4
    assert 90 <= sync_targets.backoff_delay(1, retry_after=90) <= 108
    assert sync_targets.backoff_delay(50) <= sync_targets.MAX_BACKOFF_SECONDS * 1.2


def test_a_leased_target_is_not_leased_again_until_its_lease_expires(world, fake_cloud, settings):
    factories.make_vm(world.account, "web-1")
    now = timezone.now()
    sync_targets.ensure_targets(now)
    first = sync_targets.lease_due("poller-a", now=now)
    assert [t.leased_by for t in first] == ["poller-a"]
    assert sync_targets.lease_due("poller-b", now=now) == []
    later = now + timedelta(seconds=settings.POLL_LEASE_SECONDS + 1)
    assert [t.leased_by for t in sync_targets.lease_due("poller-b", now=later)] == ["poller-b"]
    # the first poller's late finish does not clobber the new lease holder's schedule
    sync_targets.finish_success(first[0], "poller-a", transitional=False)
    assert SyncTarget.objects.get().leased_by == "poller-b"


def test_max_targets_limits_one_cycle(world, fake_cloud):
    for index, region in enumerate(["us-east-1", "us-west-2", "eu-west-1"]):
        factories.make_vm(world.account, f"vm-{index}", region=region, instance_id=f"i-{uuid.uuid4().hex[:8]}")
    poll_once("--max-targets", "2")
    assert SyncTarget.objects.filter(last_polled_at__isnull=False).count() == 2
    assert fake_cloud.calls["list"] == 2


def test_admin_lists_targets_with_their_error_and_polls_one_now(client, world):
    admin_user = factories.make_user("root", is_staff=True, is_superuser=True)
    factories.make_vm(world.account, "web-1")
    target = SyncTarget.objects.create(account=world.account, region="us-east-1", next_poll_at=timezone.now() + timedelta(hours=1),
                                       last_error="Throttled: Rate exceeded.", consecutive_failures=2)
    client.force_login(admin_user)
    page = client.get(reverse("admin:vms_synctarget_changelist"))
    assert page.status_code == 200 and b"Rate exceeded" in page.content
    client.post(reverse("admin:vms_synctarget_changelist"), {"action": "poll_now", "_selected_action": [target.pk]})
    target.refresh_from_db()
    assert target.next_poll_at <= timezone.now()
