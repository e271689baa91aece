"""The poller's in-memory diff: mapping by tag, what changed, what needs a get, and the stale-observation rules."""
import uuid
from datetime import UTC, datetime, timedelta

from vms.providers.base import CloudInstance
from vms.state import VMStatus
from vms.sync_diff import Row, diff

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=15)


def row(status=VMStatus.RUNNING, instance_id="i-1", *, source="poll", updated=T0 - timedelta(minutes=10), created=None):
    pending_since = (created or updated) if status == VMStatus.PENDING and not instance_id else None
    return Row(uuid.uuid4(), status, instance_id, "", "us-east-1", source, updated, pending_since)


def listed(of: Row, status: VMStatus, instance_id=None):
    return CloudInstance(instance_id or of.instance_id, status, status.value, "us-east-1", "us-east-1a", str(of.id))


def run(rows, instances, observed_at=T0):
    return diff(rows, instances, observed_at=observed_at, now=observed_at, action_grace=GRACE, pending_grace=timedelta(seconds=30))


def test_changed_rows_become_changes_and_unchanged_ones_are_confirmed():
    same, stopped = row(), row(instance_id="i-2")
    result = run([same, stopped], [listed(same, VMStatus.RUNNING), listed(stopped, VMStatus.STOPPED)])
    assert [(c.row, c.status, c.cloud_state) for c in result.changes] == [(stopped, VMStatus.STOPPED, "stopped")]
    assert result.confirmed == [same.id]
    assert not result.transitional


def test_instances_are_matched_by_tag_and_never_swapped():
    mine = row(instance_id="i-mine")
    # the tag points at another instance id: the row's own instance was not listed, a get decides
    result = run([mine], [listed(mine, VMStatus.RUNNING, instance_id="i-other")])
    assert result.missing == [mine] and not result.changes


def test_of_two_instances_with_one_tag_the_rows_own_wins():
    mine = row(instance_id="i-2")
    result = run([mine], [listed(mine, VMStatus.TERMINATED, "i-1"), listed(mine, VMStatus.STOPPED, "i-2")])
    assert [(c.instance_id, c.status) for c in result.changes] == [("i-2", VMStatus.STOPPED)]


def test_untagged_instance_is_matched_by_instance_id():
    mine = row(instance_id="i-9")
    untagged = CloudInstance("i-9", VMStatus.STOPPED, "stopped", "us-east-1")
    assert [c.status for c in run([mine], [untagged]).changes] == [VMStatus.STOPPED]


def test_unlisted_rows_need_a_get_or_a_lookup_by_tag_once_old_enough():
    unlisted = row()
    interrupted = row(VMStatus.PENDING, "", created=T0 - timedelta(minutes=5))
    in_flight = row(VMStatus.PENDING, "", created=T0 - timedelta(seconds=5))
    result = run([unlisted, interrupted, in_flight], [])
    assert result.missing == [unlisted]
    assert result.unprovisioned == [interrupted]
    assert result.transitional  # pending rows keep the target on the fast cadence


def test_pending_row_is_adopted_when_its_tag_is_listed():
    interrupted = row(VMStatus.PENDING, "", created=T0 - timedelta(minutes=5))
    result = run([interrupted], [listed(interrupted, VMStatus.RUNNING, "i-found")])
    assert [(c.instance_id, c.status) for c in result.changes] == [("i-found", VMStatus.RUNNING)]


def test_row_written_after_the_list_started_is_left_alone():
    fresh = row(VMStatus.STOPPING, source="action", updated=T0 + timedelta(milliseconds=5))
    result = run([fresh], [listed(fresh, VMStatus.STOPPED)])
    assert not result.changes and not result.confirmed and result.held == 1


def test_fresh_user_transition_is_not_undone_by_the_old_state():
    stopping = row(VMStatus.STOPPING, source="action", updated=T0 - timedelta(seconds=1))
    result = run([stopping], [listed(stopping, VMStatus.RUNNING)])
    assert not result.changes and result.held == 1 and result.transitional


def test_fresh_user_transition_takes_the_expected_outcome_and_intermediate_states_at_once():
    stopping = row(VMStatus.STOPPING, source="action", updated=T0 - timedelta(seconds=1))
    assert [c.status for c in run([stopping], [listed(stopping, VMStatus.STOPPED)]).changes] == [VMStatus.STOPPED]
    terminating = row(VMStatus.TERMINATING, source="action", updated=T0 - timedelta(seconds=1))
    assert not run([terminating], [listed(terminating, VMStatus.TERMINATING)]).changes
    starting = row(VMStatus.STARTING, source="action", updated=T0 - timedelta(seconds=1))
    result = run([starting], [listed(starting, VMStatus.PENDING)])
    assert [c.status for c in result.changes] == [VMStatus.PENDING] and result.transitional


def test_user_transition_gives_way_after_the_grace_period():
    stopping = row(VMStatus.STOPPING, source="action", updated=T0 - GRACE - timedelta(seconds=1))
    assert [c.status for c in run([stopping], [listed(stopping, VMStatus.RUNNING)]).changes] == [VMStatus.RUNNING]


def test_transition_seen_by_a_poll_is_not_protected():
    stopping = row(VMStatus.STOPPING, source="poll", updated=T0 - timedelta(seconds=1))
    assert [c.status for c in run([stopping], [listed(stopping, VMStatus.RUNNING)]).changes] == [VMStatus.RUNNING]


def test_instances_of_unknown_vms_are_ignored():
    stranger = CloudInstance("i-x", VMStatus.RUNNING, "running", "us-east-1", "", str(uuid.uuid4()))
    result = run([], [stranger])
    assert not result.changes and not result.missing
