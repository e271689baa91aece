"""The AWS adapter against the EC2 sandbox (moto behind the emulator), over HTTP with the real boto3."""
from __future__ import annotations

import json
import logging
import math
import socket
import time
import urllib.request
import uuid

import boto3
import pytest

from vms.providers.aws import AWSProvider
from vms.providers.base import (
    VM_ID_TAG,
    AccountConfig,
    AuthenticationFailed,
    Conflict,
    InstanceRef,
    InstanceSpec,
    InvalidRequest,
    NotFound,
    Throttled,
    Unavailable,
)
from vms.sandbox.aws import AWSEmulator
from vms.state import VMStatus

REGION = "us-east-1"
UBUNTU = "ami-0c7217cdde317cfec"
TRANSITION_SECONDS = 0.3


@pytest.fixture(scope="module")
def running_emulator():
    with AWSEmulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(running_emulator):
    running_emulator.reset()
    return running_emulator


@pytest.fixture
def provider(emulator):
    return AWSProvider(emulator.account_config())


@pytest.fixture(scope="module")
def slow_emulator():
    with AWSEmulator(transition_seconds=TRANSITION_SECONDS) as emulator:
        yield emulator


@pytest.fixture
def slow_provider(slow_emulator):
    slow_emulator.reset()
    return AWSProvider(slow_emulator.account_config())


def make_spec(**overrides) -> InstanceSpec:
    values = {
        "vm_id": str(uuid.uuid4()),
        "name": "web-1",
        "instance_type": "t3.micro",
        "region": REGION,
        "image_id": UBUNTU,
        "zone": "us-east-1b",
        "storage_gb": 12,
    }
    return InstanceSpec(**{**values, **overrides})


def ec2_client(emulator: AWSEmulator, region: str = REGION):
    credentials = emulator.account_config().credentials
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=emulator.url,
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
    )


def listed_status(provider: AWSProvider, ref: InstanceRef) -> VMStatus | None:
    return next((i.status for i in provider.list_managed(ref.region) if i.instance_id == ref.instance_id), None)


def observed(provider: AWSProvider, ref: InstanceRef) -> tuple[VMStatus, VMStatus | None]:
    """The status seen through get and through list_managed."""
    return provider.get(ref).status, listed_status(provider, ref)


def wait_for(provider: AWSProvider, ref: InstanceRef, status: VMStatus, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while provider.get(ref).status != status:
        assert time.monotonic() < deadline, f"{ref.instance_id} never became {status}"
        time.sleep(0.05)


# lifecycle ----------------------------------------------------------------------------------------


def test_create_makes_a_running_instance_tagged_with_vm_id_and_name(provider, emulator):
    spec = make_spec(name="billing-api")

    created = provider.create(spec)

    assert created.instance_id.startswith("i-")
    assert (created.vm_id, created.name, created.zone) == (spec.vm_id, "billing-api", "us-east-1b")
    assert observed(provider, created.ref) == (VMStatus.RUNNING, VMStatus.RUNNING)
    found = provider.find_by_vm_id(spec.vm_id, REGION)
    assert found.instance_id == created.instance_id


def test_create_sizes_the_root_volume_from_the_spec(provider, emulator):
    created = provider.create(make_spec(storage_gb=25))

    client = ec2_client(emulator)
    item = client.describe_instances(InstanceIds=[created.instance_id])["Reservations"][0]["Instances"][0]
    root = next(m for m in item["BlockDeviceMappings"] if m["DeviceName"] == item["RootDeviceName"])
    volume = client.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Size"] == 25


def test_stop_then_get_reports_stopped(provider):
    ref = provider.create(make_spec()).ref

    provider.stop(ref)

    assert observed(provider, ref) == (VMStatus.STOPPED, VMStatus.STOPPED)


def test_start_after_stop_reports_running(provider):
    ref = provider.create(make_spec()).ref
    provider.stop(ref)

    provider.start(ref)

    assert observed(provider, ref) == (VMStatus.RUNNING, VMStatus.RUNNING)


def test_reboot_of_a_running_instance_keeps_it_running(provider, emulator):
    ref = provider.create(make_spec()).ref

    provider.reboot(ref)

    assert emulator.calls["RebootInstances"] == 1
    assert observed(provider, ref) == (VMStatus.RUNNING, VMStatus.RUNNING)


def test_reboot_of_a_stopped_instance_starts_it(provider, emulator):
    ref = provider.create(make_spec()).ref
    provider.stop(ref)

    provider.reboot(ref)

    assert emulator.calls["StartInstances"] == 1
    assert observed(provider, ref) == (VMStatus.RUNNING, VMStatus.RUNNING)


def test_terminate_then_get_and_list_report_terminated(provider):
    ref = provider.create(make_spec()).ref

    provider.terminate(ref)

    assert observed(provider, ref) == (VMStatus.TERMINATED, VMStatus.TERMINATED)


def test_start_of_a_terminated_instance_is_conflict(provider):
    ref = provider.create(make_spec()).ref
    provider.terminate(ref)

    with pytest.raises(Conflict, match="not in a state from which it can be started"):
        provider.start(ref)


def test_get_of_an_unknown_instance_is_not_found(provider):
    with pytest.raises(NotFound) as caught:
        provider.get(InstanceRef("i-0123456789abcdef0", REGION))
    assert (caught.value.provider, caught.value.account) == ("aws", "sandbox")


def test_verify_with_valid_credentials_makes_one_call(provider, emulator):
    provider.verify()

    assert sum(emulator.calls.values()) == 1


# idempotent create ---------------------------------------------------------------------------------


def test_creating_twice_with_the_same_vm_id_makes_one_instance(provider, emulator):
    spec = make_spec()

    first = provider.create(spec)
    second = provider.create(spec)

    assert second.instance_id == first.instance_id
    assert emulator.calls["RunInstances"] == 1
    assert [i.instance_id for i in provider.list_managed(REGION)] == [first.instance_id]


# batched listing -----------------------------------------------------------------------------------


def test_listing_1200_managed_instances_stays_within_the_page_budget(provider, emulator):
    client = ec2_client(emulator)
    managed = {"ResourceType": "instance", "Tags": [{"Key": VM_ID_TAG, "Value": "bulk"}]}
    for _ in range(3):  # moto pays ~5 ms per instance and per call either way: few calls, many instances
        client.run_instances(
            ImageId=UBUNTU, InstanceType="t3.micro", MinCount=400, MaxCount=400, TagSpecifications=[managed]
        )
    client.run_instances(ImageId=UBUNTU, InstanceType="t3.micro", MinCount=5, MaxCount=5)  # not ours
    emulator.calls.clear()

    listed = list(provider.list_managed(REGION))

    assert len({i.instance_id for i in listed}) == len(listed) == 1200
    assert all(i.vm_id == "bulk" and i.status == VMStatus.RUNNING for i in listed)
    assert emulator.calls["DescribeInstances"] <= math.ceil(1200 / provider.page_size) + 1


def test_list_managed_follows_next_token_through_every_page(provider, emulator):
    client = ec2_client(emulator)
    for index in range(12):
        tags = {"ResourceType": "instance", "Tags": [{"Key": VM_ID_TAG, "Value": str(index)}]}
        client.run_instances(ImageId=UBUNTU, InstanceType="t3.micro", MinCount=1, MaxCount=1, TagSpecifications=[tags])
    provider.page_size = 5  # EC2's minimum; moto pages over reservations, one per instance here
    emulator.calls.clear()

    listed = list(provider.list_managed(REGION))

    assert sorted(int(i.vm_id) for i in listed) == list(range(12))
    assert emulator.calls["DescribeInstances"] == 3


def test_list_managed_without_region_covers_every_catalog_region(provider):
    east = provider.create(make_spec())
    west = provider.create(make_spec(region="eu-west-1", zone=""))

    listed = {(i.instance_id, i.region) for i in provider.list_managed()}

    assert listed == {(east.instance_id, "us-east-1"), (west.instance_id, "eu-west-1")}


# throttling and failures ---------------------------------------------------------------------------


def test_two_throttled_calls_are_retried_and_succeed(provider, emulator):
    ref = provider.create(make_spec()).ref
    emulator.faults.configure(throttle_next=2)
    emulator.calls.clear()

    assert provider.get(ref).status == VMStatus.RUNNING
    assert emulator.calls["DescribeInstances"] == 3


def test_constant_throttling_raises_throttled_with_retry_after_in_bounded_time(provider, emulator):
    emulator.faults.configure(throttle_always=True, retry_after=7)
    started = time.monotonic()

    with pytest.raises(Throttled) as caught:
        list(provider.list_managed(REGION))

    assert time.monotonic() - started < 15
    assert caught.value.retry_after == 7.0
    assert emulator.calls["DescribeInstances"] == provider.max_attempts


def test_server_errors_outliving_retries_are_unavailable(provider, emulator):
    provider.max_attempts = 2  # the retry machinery is proven above; keep this test quick
    emulator.faults.configure(error_rate=1.0)

    with pytest.raises(Unavailable, match="internal error"):
        provider.verify()
    assert emulator.calls["DescribeInstances"] == 2


def test_unreachable_endpoint_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = AccountConfig(
        provider="aws",
        name="offline",
        credentials={"access_key_id": "AKIAOFFLINE", "secret_access_key": "offline-secret"},
        endpoint_url=f"http://127.0.0.1:{closed_port}",
    )
    provider = AWSProvider(config)
    provider.max_attempts = 2

    with pytest.raises(Unavailable, match="Cannot reach AWS EC2"):
        provider.verify()


# bad input and bad credentials ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("image_id", "ami-00000000000000000", UBUNTU),
        ("instance_type", "x9.huge", "t3.micro"),
        ("region", "mars-north-1", "eu-west-1"),
        ("zone", "us-east-1z", "us-east-1a"),
    ],
)
def test_value_outside_the_catalog_is_invalid_request_naming_allowed_values(provider, emulator, field, value, allowed):
    with pytest.raises(InvalidRequest) as caught:
        provider.create(make_spec(**{field: value}))

    assert "choose one of" in caught.value.message and allowed in caught.value.message
    assert sum(emulator.calls.values()) == 0


def test_storage_below_the_image_size_is_invalid_request(provider):
    with pytest.raises(InvalidRequest, match="at least 10 GB"):
        provider.create(make_spec(image_id="ami-0fe630eb857a6ec83", storage_gb=5))


def test_image_missing_from_the_region_is_invalid_request_with_the_clouds_message(provider, emulator):
    provider.verify()  # let the emulator set up the region before one image is taken away
    emulator.remove_image(UBUNTU, REGION)

    with pytest.raises(InvalidRequest, match=r"The image id '\[ami-0c7217cdde317cfec\]' does not exist"):
        provider.create(make_spec())
    assert emulator.calls["RunInstances"] == 0


def test_wrong_secret_is_authentication_failed_naming_the_account_without_the_secret(emulator, caplog):
    secret = "wrong-secret-Zq8uN3xV"
    good = emulator.account_config().credentials
    config = AccountConfig(
        provider="aws",
        name="acme-prod",
        credentials={"access_key_id": good["access_key_id"], "secret_access_key": secret},
        endpoint_url=emulator.url,
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AuthenticationFailed) as caught:
        AWSProvider(config).verify()

    assert str(caught.value).startswith("AWS account 'acme-prod': ")
    assert (caught.value.provider, caught.value.account) == ("aws", "acme-prod")
    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert emulator.calls["DescribeInstances"] == 1  # auth failures are not retried


def test_unknown_access_key_is_authentication_failed(emulator):
    config = AccountConfig(
        provider="aws",
        name="stranger",
        credentials={"access_key_id": "AKIAUNKNOWN000000000", "secret_access_key": "irrelevant"},
        endpoint_url=emulator.url,
    )

    with pytest.raises(AuthenticationFailed, match="AWS account 'stranger': AWS was not able to validate"):
        AWSProvider(config).create(make_spec())


# transitional states -------------------------------------------------------------------------------


def test_create_is_pending_until_the_transition_elapses(slow_provider):
    ref = slow_provider.create(make_spec()).ref

    assert observed(slow_provider, ref) == (VMStatus.PENDING, VMStatus.PENDING)
    time.sleep(TRANSITION_SECONDS + 0.05)
    assert observed(slow_provider, ref) == (VMStatus.RUNNING, VMStatus.RUNNING)


def test_stop_passes_through_stopping_before_stopped(slow_provider):
    ref = slow_provider.create(make_spec()).ref
    wait_for(slow_provider, ref, VMStatus.RUNNING)

    slow_provider.stop(ref)

    assert observed(slow_provider, ref) == (VMStatus.STOPPING, VMStatus.STOPPING)
    time.sleep(TRANSITION_SECONDS + 0.05)
    assert observed(slow_provider, ref) == (VMStatus.STOPPED, VMStatus.STOPPED)


def test_start_while_stopping_is_conflict(slow_provider):
    ref = slow_provider.create(make_spec()).ref
    wait_for(slow_provider, ref, VMStatus.RUNNING)
    slow_provider.stop(ref)

    with pytest.raises(Conflict):
        slow_provider.start(ref)


def test_terminate_passes_through_terminating_before_terminated(slow_provider):
    ref = slow_provider.create(make_spec()).ref

    slow_provider.terminate(ref)

    assert slow_provider.get(ref).status == VMStatus.TERMINATING
    time.sleep(TRANSITION_SECONDS + 0.05)
    assert slow_provider.get(ref).status == VMStatus.TERMINATED


# the emulator itself -------------------------------------------------------------------------------


def test_emulator_on_port_0_starts_and_stops_cleanly():
    emulator = AWSEmulator().start()
    port = emulator.port
    server_socket = emulator._server.socket
    thread = emulator._thread
    assert port != 0
    socket.create_connection(("127.0.0.1", port), timeout=1).close()

    emulator.stop()

    assert server_socket.fileno() == -1
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_two_emulators_do_not_share_instances(provider, slow_provider):
    provider.create(make_spec())

    assert list(slow_provider.list_managed(REGION)) == []


def test_control_calls_over_http_set_faults_and_reset(provider, emulator):
    provider.create(make_spec())

    def post(path, payload=None):
        request = urllib.request.Request(
            f"{emulator.url}/_sandbox/{path}", data=json.dumps(payload or {}).encode(), method="POST"
        )
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    assert post("faults", {"throttle_next": 3, "retry_after": 2})["throttle_next"] == 3
    assert emulator.faults.throttle_next == 3
    post("reset")
    assert emulator.faults.throttle_next == 0
    assert list(provider.list_managed(REGION)) == []
