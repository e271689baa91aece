"""Sync targets: which (cloud account, region) pairs the poller lists, who holds each one now, and when next.

Pollers share the work through row leases, with no coordinator of their own. On PostgreSQL a poller takes
due targets with `SELECT ... FOR UPDATE SKIP LOCKED` and stamps `leased_until` before it commits, so a
second poller skips them while they are locked and filters them out once they are leased. SQLite has no
SKIP LOCKED; there a conditional `UPDATE ... WHERE id = ? AND lease is free` claims each target, which is
just as race-free (only one UPDATE can match). A poller that dies simply lets its leases expire.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from vms import state
from vms.models import VM, SyncTarget
from vms.providers import registry
from vms.providers.base import Throttled, UnknownProvider
from vms.state import VMStatus

MAX_BACKOFF_SECONDS = 300.0
JITTER = 0.2  # share of a delay added at random, so throttled pollers do not come back in step
_TRANSITIONAL = [status.value for status in state.TRANSITIONAL]


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def lists_per_region(provider: str) -> bool | None:
    """Whether the provider's adapter lists one region per call; None for a provider no adapter knows."""
    try:
        return bool(registry.adapter_class(provider).lists_per_region)
    except UnknownProvider:
        return None


def lease_free(now: datetime) -> Q:
    return Q(leased_until__isnull=True) | Q(leased_until__lt=now)


def not_throttled(now: datetime) -> Q:
    return Q(throttled_until__isnull=True) | Q(throttled_until__lte=now)


# -- keeping targets in step with the VMs ------------------------------------------------------------

def ensure_targets(now: datetime) -> int:
    """Create a target for every account/region with a live VM, drop unleased ones left without any.

    Two small queries when nothing changed, so the poller runs it every tick. Returns how many were created.
    """
    wanted: set[tuple] = set()
    live_pairs = VM.objects.exclude(status=VMStatus.TERMINATED).values_list("account_id", "provider", "region").distinct()
    for account_id, provider, region in live_pairs.order_by():
        per_region = lists_per_region(provider)
        if per_region is not None:
            wanted.add((account_id, region if per_region else ""))
    existing = {(account_id, region): pk for pk, account_id, region in SyncTarget.objects.values_list("pk", "account_id", "region")}
    missing = wanted - existing.keys()
    if missing:
        SyncTarget.objects.bulk_create(
            [SyncTarget(account_id=account_id, region=region, next_poll_at=now) for account_id, region in sorted(missing, key=str)],
            ignore_conflicts=True,  # another poller may have made the same one a moment ago
        )
    obsolete = [pk for key, pk in existing.items() if key not in wanted]
    if obsolete:
        SyncTarget.objects.filter(pk__in=obsolete).filter(lease_free(now)).delete()
    return len(missing)


def hasten_transitional(now: datetime) -> int:
    """Bring forward targets that got a VM in transition (a user's action) while scheduled at the settled pace.

    A target backing off after failures keeps its back-off.
    """
    soon = now + seconds(settings.POLL_TRANSITIONAL_INTERVAL)
    moving = VM.objects.filter(account_id=OuterRef("account_id"), status__in=_TRANSITIONAL)
    return (
        SyncTarget.objects.filter(next_poll_at__gt=soon, consecutive_failures=0)
        .filter(not_throttled(now))
        .filter(Q(Exists(moving), region="") | (~Q(region="") & Q(Exists(moving.filter(region=OuterRef("region"))))))
        .update(next_poll_at=soon)
    )


# -- leases ------------------------------------------------------------------------------------------

def lease_due(owner: str, *, now: datetime, limit: int | None = None, all_targets: bool = False) -> list[SyncTarget]:
    """Claim up to `limit` due targets (every unleased one with `all_targets`) for `owner`, oldest due first."""
    due = lease_free(now) & not_throttled(now)
    if not all_targets:
        due &= Q(next_poll_at__lte=now)
    claim = {"leased_until": now + seconds(settings.POLL_LEASE_SECONDS), "leased_by": owner}
    candidates = SyncTarget.objects.filter(due).order_by("next_poll_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            SyncTarget.objects.filter(pk__in=ids).update(**claim)
    else:
        ids = [
            pk for pk in candidates.values_list("pk", flat=True)[:limit]
            if SyncTarget.objects.filter(due, pk=pk).update(**claim)  # 0 rows: another poller won it
        ]
    return list(
        SyncTarget.objects.filter(pk__in=ids, leased_by=owner)
        .select_related("account", "account__workspace")
        .order_by("next_poll_at", "pk")
    )


def renew_lease(target: SyncTarget, owner: str) -> bool:
    """Extend a lease during a long poll; False when it was lost (expired and taken by another poller)."""
    until = timezone.now() + seconds(settings.POLL_LEASE_SECONDS)
    return bool(SyncTarget.objects.filter(pk=target.pk, leased_by=owner).update(leased_until=until))


def release(targets: list[SyncTarget], owner: str) -> None:
    """Give back leases of targets this poller will not poll after all (it is stopping)."""
    if targets:
        SyncTarget.objects.filter(pk__in=[t.pk for t in targets], leased_by=owner).update(leased_until=None, leased_by="")


# -- scheduling after a poll -------------------------------------------------------------------------

def settled_delay(transitional: bool) -> float:
    if transitional:
        return settings.POLL_TRANSITIONAL_INTERVAL
    return settings.POLL_SETTLED_INTERVAL * (1 + JITTER * (random.random() - 0.5))  # spread targets over the minute


def backoff_delay(failures: int, retry_after: float | None = None) -> float:
    """Exponential in consecutive failures from the transitional interval, capped, never below Retry-After."""
    exponential = min(MAX_BACKOFF_SECONDS, settings.POLL_TRANSITIONAL_INTERVAL * 2 ** min(failures - 1, 20))
    delay = max(retry_after or 0.0, exponential)
    return delay * (1 + JITTER * random.random())


def finish_success(target: SyncTarget, owner: str, *, transitional: bool) -> None:
    now = timezone.now()
    SyncTarget.objects.filter(pk=target.pk, leased_by=owner).update(
        next_poll_at=now + seconds(settled_delay(transitional)),
        leased_until=None,
        leased_by="",
        last_polled_at=now,
        last_error="",
        consecutive_failures=0,
        throttled_until=None,
    )


def finish_failure(target: SyncTarget, owner: str, error: Exception, message: str) -> float:
    """Record the error on the target and back off; returns the delay chosen."""
    now = timezone.now()
    failures = target.consecutive_failures + 1
    throttled = isinstance(error, Throttled)
    delay = backoff_delay(failures, error.retry_after if throttled else None)
    SyncTarget.objects.filter(pk=target.pk, leased_by=owner).update(
        next_poll_at=now + seconds(delay),
        leased_until=None,
        leased_by="",
        last_error=message[:2000],
        consecutive_failures=failures,
        throttled_until=now + seconds(delay) if throttled else None,
    )
    return delay
