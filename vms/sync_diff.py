"""What one list of a sync target means for its VM rows: pure Python, no database, no cloud.

The poller reads a target's live rows as plain tuples, lists the cloud once, and asks `diff()` which rows
changed, which were merely confirmed, and which need a closer look (a get, a lookup by tag).

Stale observations. A list is a snapshot taken at `observed_at` (the moment before the call), and a user's
action may land in the database meanwhile. Two rules keep the poller from putting back an old state:
1. A row written after `observed_at` is newer knowledge than the list: it is left alone this cycle.
2. A transitional status set by a user action (stopping, starting, terminating, pending) is kept for
   POLL_ACTION_GRACE_SECONDS while the cloud still shows a settled state other than the one the action
   leads to. Example: stop sets "stopping" at t0; the cloud call lands at t0 + 0.3 s; a list taken at
   t0 + 0.1 s still says "running", which must not undo "stopping". Intermediate states ("stopping"
   from the cloud) and the expected outcome ("stopped") are taken at once; after the grace period any
   observation wins, so a VM never stays in a transition the cloud does not confirm.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from vms.providers.base import CloudInstance
from vms.state import SETTLED, TRANSITIONAL, VMStatus

ACTION = "action"
# the settled status each transitional one leads to
EXPECTED_OUTCOME = {
    VMStatus.PENDING: VMStatus.RUNNING,
    VMStatus.STARTING: VMStatus.RUNNING,
    VMStatus.STOPPING: VMStatus.STOPPED,
    VMStatus.TERMINATING: VMStatus.TERMINATED,
}


class Row(NamedTuple):
    """The columns of a VM that the diff reads (one `values_list` row; the fewer, the faster at 10,000 VMs)."""

    id: UUID
    status: str
    instance_id: str
    zone: str
    region: str
    status_source: str
    updated_at: datetime
    pending_since: datetime | None  # created_at of a pending row without an instance id, else None


@dataclass(slots=True)
class Change:
    row: Row
    status: str
    instance_id: str
    zone: str
    cloud_state: str
    last_error: str | None = None  # None leaves the row's last_error as it is
    note: str = ""


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    confirmed: list[UUID] = field(default_factory=list)  # listed with the status the row already has
    missing: list[Row] = field(default_factory=list)  # have an instance the list did not show: ask with a get
    unprovisioned: list[Row] = field(default_factory=list)  # pending, no instance id, past the grace period
    held: int = 0  # left alone by the two stale-observation rules
    transitional: bool = False  # a VM of the target is (still) in transition: poll again soon


def index_instances(instances) -> tuple[dict[str, CloudInstance], dict[str, list[CloudInstance]], dict[str, CloudInstance]]:
    """Listed instances by skyclust-vm-id tag (one per tag), duplicates of a tag, untagged ones by id."""
    by_vm_id: dict[str, CloudInstance] = {}
    duplicates: dict[str, list[CloudInstance]] = {}
    untagged: dict[str, CloudInstance] = {}
    for instance in instances:
        vm_id = instance.vm_id
        if not vm_id:
            untagged[instance.instance_id] = instance
        elif vm_id in by_vm_id:
            duplicates.setdefault(vm_id, [by_vm_id[vm_id]]).append(instance)
        else:
            by_vm_id[vm_id] = instance
    return by_vm_id, duplicates, untagged


def _pick(candidates: list[CloudInstance], instance_id: str) -> CloudInstance:
    """Of several instances with one tag: the row's own, else one that is not terminated."""
    for instance in candidates:
        if instance_id and instance.instance_id == instance_id:
            return instance
    alive = [instance for instance in candidates if instance.status != VMStatus.TERMINATED]
    return (alive or candidates)[0]


def is_held(row: Row, observed: str, observed_at: datetime, action_grace: timedelta) -> bool:
    """Rule 2 of the module docstring: a fresh user-set transition outranks a settled, unexpected observation."""
    return (
        row.status_source == ACTION
        and row.status in TRANSITIONAL
        and observed in SETTLED
        and observed != EXPECTED_OUTCOME.get(row.status)
        and observed_at - row.updated_at < action_grace
    )


def diff(
    rows,
    instances,
    *,
    observed_at: datetime,
    now: datetime,
    action_grace: timedelta,
    pending_grace: timedelta,
) -> Diff:
    by_vm_id, duplicates, untagged = index_instances(instances)
    result = Diff()
    changes, confirmed = result.changes, result.confirmed
    pending_before = now - pending_grace
    for row in rows:
        key = str(row.id)
        instance = by_vm_id.get(key)
        if instance is not None and key in duplicates:
            instance = _pick(duplicates[key], row.instance_id)
        if instance is None and row.instance_id:
            instance = untagged.get(row.instance_id)
        if instance is not None and row.instance_id and instance.instance_id != row.instance_id:
            instance = None  # the row's own instance is not listed; a get decides, instances are never swapped

        if instance is None:
            if row.instance_id:
                result.missing.append(row)
            elif row.pending_since is not None and row.pending_since <= pending_before:
                result.unprovisioned.append(row)
            if row.status in TRANSITIONAL:
                result.transitional = True
            continue

        observed = instance.status
        if row.updated_at > observed_at:  # rule 1
            result.held += 1
            result.transitional = result.transitional or row.status in TRANSITIONAL
            continue
        if observed == row.status and row.instance_id:
            confirmed.append(row.id)
            if observed in TRANSITIONAL:
                result.transitional = True
            continue
        if is_held(row, observed, observed_at, action_grace):
            result.held += 1
            result.transitional = True
            continue
        changes.append(Change(row, observed, instance.instance_id, row.zone or instance.zone, instance.cloud_state))
        if observed in TRANSITIONAL:
            result.transitional = True
    return result
