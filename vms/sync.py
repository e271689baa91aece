"""Status reconciliation: keep every VM's status true to its cloud with one batched list per target and page.

A cycle leases the due sync targets (vms.sync_targets), and for each one
1. lists the target's managed instances (`adapter.list_managed(region)`: EC2 DescribeInstances with a tag
   filter, GCP aggregatedList, Azure ListAll), noting the time just before the call,
2. reads the target's live rows as tuples and diffs them in memory (vms.sync_diff: the stale-observation
   rules are documented there),
3. writes only the changed rows in bulk, stamps `status_checked_at` on every confirmed row with one UPDATE,
   adds one AuditEvent per change (source `sync`) and publishes `vm.status.changed` on commit,
4. reconciles what the list could not settle: a VM the cloud no longer lists is confirmed with a get
   before it becomes terminated; a pending VM without an instance id (its create was interrupted) is
   looked up by its skyclust-vm-id tag and adopted, or created again with the same idempotency key, or
   marked error after PENDING_CREATE_TIMEOUT.
Then the target is scheduled: soon while a VM is in transition, at the settled pace otherwise, later after
a failure (honouring Retry-After). One target's failure is recorded on it and never stops the others.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Case, DateTimeField, Min, When
from django.utils import timezone

from vms import events, services, state, sync_targets
from vms.cloud import adapter_for_account
from vms.models import VM, SyncTarget
from vms.providers.base import InstanceRef, NotFound, ProviderError
from vms.state import VMStatus
from vms.sync_diff import Change, Row, diff, is_held
from vms.sync_targets import seconds
from workspaces import audit
from workspaces.models import AuditEvent

logger = logging.getLogger(__name__)

MAX_LOOKUPS_PER_TARGET = 25  # gets / tag lookups per cycle for VMs the list did not settle; the rest wait a cycle
IDS_PER_STATEMENT = 5000  # keeps `IN (...)` lists under every backend's parameter limit
TICK_SECONDS = 1.0  # the loop's longest sleep: how soon it notices a user's action that needs fast polling
TARGETS_REFRESH_SECONDS = 5.0  # how often a running poller makes targets for new account/regions (a scan of VMs)


@dataclass
class TargetReport:
    target: str
    listed: int = 0
    changed: int = 0
    confirmed: int = 0
    held: int = 0
    reconciled: int = 0
    transitional: bool = False
    error: str = ""


@dataclass
class CycleReport:
    targets: list[TargetReport] = field(default_factory=list)

    @property
    def failed(self) -> list[TargetReport]:
        return [report for report in self.targets if report.error]

    @property
    def changed(self) -> int:
        return sum(report.changed + report.reconciled for report in self.targets)

    def summary(self) -> str:
        return (
            f"polled {len(self.targets)} target(s): {len(self.targets) - len(self.failed)} ok, "
            f"{len(self.failed)} failed; {self.changed} status change(s)"
        )


# -- one target ---------------------------------------------------------------------------------------

def sync_target(target: SyncTarget, *, owner: str = "") -> TargetReport:
    """Poll one target and write what changed. Raises the adapter's ProviderError (the caller records it)."""
    report = TargetReport(target=str(target))
    adapter = adapter_for_account(target.account)
    observed_at = timezone.now()
    instances = _listed(adapter.list_managed(target.region), target, owner)
    report.listed = len(instances)

    rows = live_rows(target)
    found = diff(
        rows, instances, observed_at=observed_at, now=timezone.now(),
        action_grace=seconds(settings.POLL_ACTION_GRACE_SECONDS),
        pending_grace=seconds(settings.POLL_PENDING_GRACE_SECONDS),
    )
    written = write_changes(found.changes, workspace=target.account.workspace, checked_at=observed_at, confirmed=found.confirmed)
    report.changed, report.confirmed, report.held = len(written), len(found.confirmed), found.held
    report.transitional = found.transitional or any(change.status in state.TRANSITIONAL for change in written)
    report.reconciled = reconcile(adapter, target, found.missing, found.unprovisioned)
    return report


def _listed(pages: Iterable, target: SyncTarget, owner: str) -> list:
    """Consume the adapter's pages, renewing the lease on a long listing so no other poller starts it too."""
    instances, renew_at = [], time.monotonic() + settings.POLL_LEASE_SECONDS / 3
    for instance in pages:
        instances.append(instance)
        if owner and time.monotonic() >= renew_at:
            if not sync_targets.renew_lease(target, owner):
                raise ProviderError(f"lost the lease on {target} during a long listing")
            renew_at = time.monotonic() + settings.POLL_LEASE_SECONDS / 3
    return instances


def live_rows(target: SyncTarget) -> list[Row]:
    rows = VM.objects.filter(account_id=target.account_id).exclude(status=VMStatus.TERMINATED)
    if target.region:
        rows = rows.filter(region=target.region)
    # created_at matters only for an unfinished create; NULL elsewhere spares 10,000 datetime conversions
    unfinished_create = Case(When(status=VMStatus.PENDING, instance_id="", then="created_at"), output_field=DateTimeField())
    values = rows.order_by().annotate(pending_since=unfinished_create).values_list(*ROW_COLUMNS, "pending_since")
    return [Row._make(row) for row in values]


ROW_COLUMNS = Row._fields[:-1]


def _chunks(items: list, size: int = IDS_PER_STATEMENT):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_changes(changes: list[Change], *, workspace, checked_at: datetime, confirmed: list = ()) -> list[Change]:
    """Bulk-write changed rows (each audited and published on commit) and stamp the confirmed ones.

    A row that an action wrote since it was read keeps the action's value: its `updated_at` is checked under
    the row lock, so the poller never overwrites a newer write. Returns the changes written.
    """
    if not changes and not confirmed:
        return []
    with transaction.atomic():
        names = _lock_unchanged(changes)
        written = [change for change in changes if change.row.id in names]
        now = timezone.now()
        # One UPDATE per distinct outcome (usually one or two), not a CASE per row and column.
        outcomes = defaultdict(list)
        for change in written:
            outcomes[(change.status, change.last_error)].append(change.row.id)
        for (status, last_error), ids in outcomes.items():
            error = {} if last_error is None else {"last_error": last_error}
            for chunk in _chunks(ids):
                VM.objects.filter(pk__in=chunk).update(
                    status=status, status_source=VM.StatusSource.POLL, status_checked_at=checked_at, updated_at=now, **error
                )
        moved = [change for change in written if (change.instance_id, change.zone) != (change.row.instance_id, change.row.zone)]
        VM.objects.bulk_update([VM(id=c.row.id, instance_id=c.instance_id, zone=c.zone) for c in moved], ["instance_id", "zone"])
        vms = [_changed_vm(change, names[change.row.id], workspace) for change in written]
        audit.record_many([_audit_row(vm, change, workspace) for vm, change in zip(vms, written)])
        for vm, change in zip(vms, written):
            events.vm_changed(vm, "vm.status.changed", old_status=change.row.status)
        for ids in _chunks(list(confirmed)):
            VM.objects.filter(pk__in=ids, updated_at__lte=checked_at).update(
                status_checked_at=checked_at, status_source=VM.StatusSource.POLL
            )
    return written


def _lock_unchanged(changes: list[Change]) -> dict:
    """Lock the changed rows; the names of those nobody wrote since they were read (the others are skipped)."""
    expected = {change.row.id: change.row.updated_at for change in changes}
    names = {}
    for ids in _chunks(sorted(expected)):
        locked = VM.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", "updated_at", "name")
        names.update((pk, name) for pk, updated_at, name in locked if updated_at == expected[pk])
    return names


def _changed_vm(change: Change, name: str, workspace) -> VM:
    """An unsaved VM carrying what the audit row and the event need."""
    return VM(id=change.row.id, name=name, workspace=workspace, status=change.status, instance_id=change.instance_id)


def _audit_row(vm: VM, change: Change, workspace) -> AuditEvent:
    after = {"status": change.status}
    if change.instance_id != change.row.instance_id:
        after["instance_id"] = change.instance_id
    message = change.note or (f"The cloud reports {change.cloud_state}." if change.cloud_state else "")
    return audit.build(
        action="vm.status.change", target=vm, workspace=workspace, source=AuditEvent.Source.SYNC,
        before={"status": change.row.status}, after=after, message=message,
    )


# -- what the list could not settle --------------------------------------------------------------------

def reconcile(adapter, target: SyncTarget, missing: list[Row], unprovisioned: list[Row]) -> int:
    """Confirm unlisted instances with a get; adopt, re-create or give up on interrupted creates."""
    changes: list[Change] = []
    confirmed: list = []
    recreated = 0
    action_grace = seconds(settings.POLL_ACTION_GRACE_SECONDS)
    try:
        for row in missing[:MAX_LOOKUPS_PER_TARGET]:
            observed_at = timezone.now()
            try:
                instance = adapter.get(InstanceRef(row.instance_id, row.region, row.zone))
                if instance.vm_id and instance.vm_id != str(row.id):
                    raise NotFound("the name now belongs to another VM's instance")
            except NotFound:
                instance = None
            observed = instance.status if instance else VMStatus.TERMINATED
            if row.updated_at > observed_at or is_held(row, observed, observed_at, action_grace):
                continue
            if instance is None:
                changes.append(Change(row, observed, row.instance_id, row.zone, "", note="The cloud no longer has this instance."))
            elif observed != row.status:
                changes.append(Change(row, observed, row.instance_id, row.zone or instance.zone, instance.cloud_state))
            else:
                confirmed.append(row.id)
        for row in unprovisioned[: max(0, MAX_LOOKUPS_PER_TARGET - len(missing))]:
            instance = adapter.find_by_vm_id(str(row.id), row.region)
            if instance is not None:
                changes.append(Change(row, instance.status, instance.instance_id, row.zone or instance.zone,
                                      instance.cloud_state, note="Adopted the instance tagged with this VM's id."))
            elif (timezone.now() - row.pending_since).total_seconds() >= settings.PENDING_CREATE_TIMEOUT:
                reason = f"The create did not finish within {settings.PENDING_CREATE_TIMEOUT / 60:g} min and no instance was found."
                changes.append(Change(row, VMStatus.ERROR, "", row.zone, "", last_error=reason, note=reason))
            else:
                recreated += _retry_create(row)
    finally:  # what was learned before an error (say, throttling) is still written
        written = write_changes(changes, workspace=target.account.workspace, checked_at=timezone.now(), confirmed=confirmed)
    return len(written) + recreated


def _retry_create(row: Row) -> bool:
    """Create again with the same idempotency key: the cloud returns the first instance if there is one."""
    vm = VM.objects.select_related("account", "workspace").get(pk=row.id)
    if vm.status != VMStatus.PENDING or vm.instance_id:
        return False  # the original create finished meanwhile
    try:
        vm = services.vm_provision(vm=vm)
    except ProviderError as error:
        logger.warning("retrying the create of VM %s failed: %s", row.id, error.message)
        return False  # vm_provision recorded the failure on the VM and audited it
    audit.record(
        action="vm.status.change", target=vm, source=AuditEvent.Source.SYNC,
        before={"status": row.status}, after={"status": vm.status, "instance_id": vm.instance_id},
        message="The interrupted create was retried with the same idempotency key.",
    )
    return True


# -- cycles -------------------------------------------------------------------------------------------

def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe(error: Exception) -> str:
    if isinstance(error, ProviderError):
        return f"{type(error).__name__}: {error.message}"
    return f"{type(error).__name__}: {error}"


class Poller:
    """Leases due targets and polls them, `workers` at a time; one instance per poller process or thread.

    `loop`: when the poller runs inside the daphne process with the in-memory channel layer, pass daphne's
    event loop (`daphne.server.twisted_loop`). Each target's poll then runs through that loop's executor,
    so the events it publishes reach the loop's queues thread-safely (asgiref routes them there).
    """

    def __init__(self, *, owner: str | None = None, max_targets: int | None = None, workers: int = 4,
                 loop: asyncio.AbstractEventLoop | None = None):
        self.owner = owner or new_owner()
        self.max_targets = max_targets
        self.workers = max(1, workers)
        self.loop = loop
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._targets_refreshed_at = -TARGETS_REFRESH_SECONDS

    def run_once(self, *, all_targets: bool = False, stop_event: threading.Event | None = None) -> CycleReport:
        now = timezone.now()
        if time.monotonic() - self._targets_refreshed_at >= TARGETS_REFRESH_SECONDS:
            sync_targets.ensure_targets(now)
            self._targets_refreshed_at = time.monotonic()
        sync_targets.hasten_transitional(now)
        leased = sync_targets.lease_due(self.owner, now=now, limit=self.max_targets, all_targets=all_targets)
        report = CycleReport()
        polled: set[int] = set()

        # Threads would not see the caller's open transaction (tests), so poll inline then.
        inline = self.workers == 1 or len(leased) <= 1 or connection.in_atomic_block

        def poll(target: SyncTarget) -> TargetReport | None:
            if stop_event is not None and stop_event.is_set():
                return None
            polled.add(target.pk)
            return self._routed(target, own_thread=not inline)

        try:
            results = [poll(target) for target in leased] if inline else list(self._executor().map(poll, leased))
        finally:
            sync_targets.release([target for target in leased if target.pk not in polled], self.owner)
        report.targets = [result for result in results if result is not None]
        return report

    def poll_target(self, target: SyncTarget) -> TargetReport:
        try:
            result = sync_target(target, owner=self.owner)
        except Exception as error:  # noqa: BLE001 - any failure is recorded on its target, never fatal
            message = describe(error)
            delay = sync_targets.finish_failure(target, self.owner, error, message)
            log = logger.warning if isinstance(error, ProviderError) else logger.exception
            log("sync of %s failed (%s); next try in %.0f s", target, message, delay)
            return TargetReport(target=str(target), error=message)
        sync_targets.finish_success(target, self.owner, transitional=result.transitional)
        return result

    def run_forever(self, stop_event: threading.Event) -> None:
        self._stop = stop_event
        logger.info("poller %s started", self.owner)
        try:
            while not stop_event.is_set():
                close_old_connections()  # this thread lives long: reconnect if the database went away
                try:
                    self.run_once(stop_event=stop_event)
                    pause = self.seconds_until_due()
                except Exception:  # the database may be briefly away; keep the poller alive
                    logger.exception("poll cycle failed")
                    pause = TICK_SECONDS
                stop_event.wait(pause)
        finally:
            self.close()
            logger.info("poller %s stopped", self.owner)

    def seconds_until_due(self) -> float:
        earliest = SyncTarget.objects.aggregate(earliest=Min("next_poll_at"))["earliest"]
        if earliest is None:
            return TICK_SECONDS
        return min(TICK_SECONDS, max(0.05, (earliest - timezone.now()).total_seconds()))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="skyclust-poll")
        return self._pool

    def _routed(self, target: SyncTarget, *, own_thread: bool) -> TargetReport:
        if self.loop is not None:
            job = sync_to_async(_in_fresh_connection(self.poll_target), thread_sensitive=False)(target)
            future = asyncio.run_coroutine_threadsafe(job, self.loop)
            while True:
                try:
                    return future.result(timeout=TICK_SECONDS)
                except concurrent.futures.TimeoutError:
                    if self._stop.is_set() and not self.loop.is_running():  # the server shut down first
                        future.cancel()
                        return TargetReport(target=str(target), error="the server stopped")
        if own_thread:
            return _in_fresh_connection(self.poll_target)(target)
        return self.poll_target(target)


def _in_fresh_connection(function: Callable) -> Callable:
    """Run in a worker thread: drop a stale connection first and close this thread's connection after."""

    def wrapped(*args):
        close_old_connections()
        try:
            return function(*args)
        finally:
            connection.close()

    return wrapped


def run_in_thread(stop_event: threading.Event, *, loop: asyncio.AbstractEventLoop | None = None, workers: int = 4) -> threading.Thread:
    """Start the poller in a daemon thread of this process (`make run`); set `stop_event` to stop it."""

    def run() -> None:
        try:
            Poller(loop=loop, workers=workers).run_forever(stop_event)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="skyclust-poller", daemon=True)
    thread.start()
    return thread
