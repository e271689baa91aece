"""Two pollers racing for the same sync targets never list one target at the same moment.

Each poller runs in its own thread with its own database connection and leases every unleased target
again and again (`all_targets`); the cloud double records when each list call on each target started and
ended, and no two of those intervals may overlap.
"""
import threading
import time
from collections import defaultdict

import pytest
from django.db import connection

from tests import factories
from tests.conftest import uses_postgres
from vms import cloud, sync
from vms.models import SyncTarget
from vms.providers import registry
from vms.providers.base import CloudInstance
from vms.state import VMStatus

pytestmark = pytest.mark.django_db(transaction=True)

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
LIST_SECONDS = 0.1


class RecordingCloud:
    def __init__(self):
        self.intervals: dict[tuple, list[tuple[float, float, str]]] = defaultdict(list)
        self.lock = threading.Lock()

    def adapter_class(self):
        recorder = self

        class RecordingProvider:
            name = "aws"
            lists_per_region = True

            def __init__(self, config):
                self.config = config

            def list_managed(self, region=""):
                started = time.monotonic()
                holder = SyncTarget.objects.filter(account__name=self.config.name, region=region).values_list("leased_by", flat=True).get()
                time.sleep(LIST_SECONDS)
                with recorder.lock:
                    recorder.intervals[(self.config.name, region)].append((started, time.monotonic(), holder))
                return [CloudInstance(f"i-{region}", VMStatus.RUNNING, "running", region, "", "")]

        return RecordingProvider


def race_two_pollers(seconds: float = 1.5) -> RecordingCloud:
    recorder = RecordingCloud()
    registry.override("aws", recorder.adapter_class())
    cloud.clear_cache()
    owner = factories.make_user("owner")
    for number in range(3):
        account = factories.make_account(factories.make_workspace(f"Team {number}", owner), "aws")
        for region in REGIONS:
            factories.make_vm(account, f"vm-{region}", region=region, instance_id=f"i-{region}")

    deadline = time.monotonic() + seconds
    errors = []

    def poller(name: str):
        worker = sync.Poller(owner=name, workers=3)
        try:
            while time.monotonic() < deadline:
                worker.run_once(all_targets=True)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            worker.close()
            connection.close()

    threads = [threading.Thread(target=poller, args=(name,), name=name) for name in ("poller-a", "poller-b")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        registry.override("aws", None)
    assert not errors
    return recorder


def assert_never_concurrent(recorder: RecordingCloud) -> None:
    assert len(recorder.intervals) == 3 * len(REGIONS)
    for target, intervals in recorder.intervals.items():
        intervals.sort()
        assert len(intervals) >= 2, f"{target} was listed only {len(intervals)} time(s)"
        for (_, end, first), (start, _, second) in zip(intervals, intervals[1:]):
            assert start >= end, f"{target} was listed by {first} and {second} at once"
    holders = {holder for intervals in recorder.intervals.values() for *_, holder in intervals}
    assert holders == {"poller-a", "poller-b"}  # both did work, each under its own lease


@pytest.mark.postgres
def test_two_pollers_on_postgresql_never_list_the_same_target_at_once():
    assert_never_concurrent(race_two_pollers())


@pytest.mark.skipif(uses_postgres(), reason="the SQLite claim path; PostgreSQL runs the SKIP LOCKED test above")
def test_two_pollers_on_sqlite_never_list_the_same_target_at_once():
    assert_never_concurrent(race_two_pollers())
