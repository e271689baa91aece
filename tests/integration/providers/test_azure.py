"""The Azure adapter against the local Azure emulator, over HTTP, with the real azure-mgmt-compute client."""
import json
import logging
import math
import socket
import time
import urllib.request
import uuid
from dataclasses import replace

import pytest

from vms.catalog import sizing
from vms.providers.azure import AzureProvider, status_from_instance_view, vm_resource_name
from vms.providers.base import (
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
from vms.sandbox.azure import AzureEmulator
from vms.state import VMStatus

IMAGE = "Canonical:ubuntu-24_04-lts:server:latest"
TYPE = "Standard_B1s"
REGION = "eastus"


@pytest.fixture(scope="module")
def emulator():
    with AzureEmulator() as running:
        yield running


@pytest.fixture
def azure(emulator):
    emulator.reset()
    emulator.transition_seconds = 0.0
    return AzureProvider(emulator.account_config())


def make_spec(name="web-1", **overrides) -> InstanceSpec:
    values = dict(
        vm_id=str(uuid.uuid4()), name=name, instance_type=TYPE, region=REGION, image_id=IMAGE,
        storage_gb=sizing("azure", TYPE, IMAGE)[2],
    )
    return InstanceSpec(**(values | overrides))


def listed(azure) -> dict[str, VMStatus]:
    return {instance.vm_id: instance.status for instance in azure.list_managed()}


def wait_for(read, expected, timeout=3.0):
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


# --- lifecycle ----------------------------------------------------------------------------------------

def test_create_reports_running_through_get_and_list(azure):
    spec = make_spec(name="web 1 (prod)")
    created = azure.create(spec)

    assert created.instance_id == vm_resource_name(spec.vm_id)
    assert created.vm_id == spec.vm_id and created.name == "web 1 (prod)" and created.region == REGION
    assert created.status == VMStatus.PENDING  # the PUT's answer: Azure has accepted, not yet provisioned
    assert azure.get(created.ref).status == VMStatus.RUNNING
    assert listed(azure) == {spec.vm_id: VMStatus.RUNNING}


def test_stop_then_get_reports_stopped(azure, emulator):
    instance = azure.create(make_spec())
    azure.stop(instance.ref)

    stopped = azure.get(instance.ref)
    assert stopped.status == VMStatus.STOPPED
    assert stopped.cloud_state == "deallocated"  # stop deallocates: no compute billed while stopped
    assert listed(azure) == {instance.vm_id: VMStatus.STOPPED}
    assert emulator.calls["Deallocate"] == 1


def test_start_after_stop_reports_running(azure):
    instance = azure.create(make_spec())
    azure.stop(instance.ref)
    azure.start(instance.ref)

    assert azure.get(instance.ref).status == VMStatus.RUNNING
    assert listed(azure) == {instance.vm_id: VMStatus.RUNNING}


def test_reboot_restarts_a_running_vm(azure, emulator):
    instance = azure.create(make_spec())
    azure.reboot(instance.ref)

    assert emulator.calls["Restart"] == 1
    assert azure.get(instance.ref).status == VMStatus.RUNNING
    assert listed(azure) == {instance.vm_id: VMStatus.RUNNING}


def test_reboot_of_a_deallocated_vm_is_conflict(azure):
    instance = azure.create(make_spec())
    azure.stop(instance.ref)

    with pytest.raises(Conflict, match="deallocated"):
        azure.reboot(instance.ref)


def test_terminate_removes_the_vm_from_get_list_and_lookup(azure):
    spec = make_spec()
    instance = azure.create(spec)
    azure.terminate(instance.ref)

    with pytest.raises(NotFound):
        azure.get(instance.ref)
    assert listed(azure) == {}
    assert azure.find_by_vm_id(spec.vm_id, REGION) is None


def test_creating_twice_with_the_same_vm_id_makes_one_vm(azure, emulator):
    spec = make_spec()
    first = azure.create(spec)
    second = azure.create(spec)

    assert first.instance_id == second.instance_id
    assert emulator.calls["CreateOrUpdate"] == 2
    assert list(listed(azure)) == [spec.vm_id]


def test_recreating_with_a_changed_os_profile_is_conflict(azure, emulator):
    spec = make_spec()
    azure.create(spec)
    config = emulator.account_config()
    other_key = replace(config, settings={**config.settings, "ssh_public_key": "ssh-ed25519 AAAAC3Nza other"})

    with pytest.raises(Conflict, match="osProfile"):
        AzureProvider(other_key).create(spec)


def test_find_by_vm_id_finds_the_created_vm_and_none_for_an_unknown_id(azure):
    spec = make_spec()
    azure.create(spec)

    assert azure.find_by_vm_id(spec.vm_id, REGION).instance_id == vm_resource_name(spec.vm_id)
    assert azure.find_by_vm_id(str(uuid.uuid4()), REGION) is None


def test_get_of_an_unknown_vm_is_not_found(azure):
    with pytest.raises(NotFound, match="was not found"):
        azure.get(InstanceRef("skyclust-missing", REGION))


def test_sdk_long_running_operations_complete_against_the_emulator(azure, emulator):
    """The adapter does not wait on operations, but the emulator speaks the whole LRO protocol."""
    emulator.transition_seconds = 0.1
    operations = azure.client.virtual_machines
    instance = azure.create(make_spec())
    assert wait_for(lambda: azure.get(instance.ref).status, VMStatus.RUNNING) == VMStatus.RUNNING

    operations.begin_deallocate(azure.resource_group, instance.instance_id).result()
    assert azure.get(instance.ref).status == VMStatus.STOPPED
    operations.begin_start(azure.resource_group, instance.instance_id).result()
    assert azure.get(instance.ref).status == VMStatus.RUNNING
    operations.begin_delete(azure.resource_group, instance.instance_id).result()
    with pytest.raises(NotFound):
        azure.get(instance.ref)
    assert emulator.calls["GetOperation"] >= 3


# --- transitional states --------------------------------------------------------------------------------

def test_transitions_pass_through_pending_stopping_starting_and_terminating(azure, emulator):
    emulator.transition_seconds = 0.3

    def status():
        return azure.get(instance.ref).status

    instance = azure.create(make_spec())
    assert instance.status == VMStatus.PENDING
    assert wait_for(status, VMStatus.RUNNING) == VMStatus.RUNNING

    azure.stop(instance.ref)
    assert status() == VMStatus.STOPPING
    assert listed(azure)[instance.vm_id] == VMStatus.STOPPING
    assert wait_for(status, VMStatus.STOPPED) == VMStatus.STOPPED

    azure.start(instance.ref)
    assert status() == VMStatus.STARTING
    assert wait_for(status, VMStatus.RUNNING) == VMStatus.RUNNING

    azure.terminate(instance.ref)
    assert status() == VMStatus.TERMINATING
    time.sleep(0.35)
    with pytest.raises(NotFound):
        azure.get(instance.ref)


# --- listing ----------------------------------------------------------------------------------------------

def test_listing_1200_managed_vms_returns_all_in_few_calls(azure, emulator):
    specs = [make_spec(name=f"vm-{index}") for index in range(1200)]
    for spec in specs:  # seeded in-process with the adapter's own request bodies: this test is about listing
        seed(emulator, azure, spec)
    seed(emulator, azure, make_spec(name="not-ours"), tagged=False)
    seed(emulator, azure, make_spec(name="another-account"), group="another-group")
    emulator.calls.clear()

    found = listed(azure)

    assert set(found) == {spec.vm_id for spec in specs}
    assert set(found.values()) == {VMStatus.RUNNING}
    assert emulator.calls["ListAll"] <= math.ceil(1202 / emulator.page_size) + 1
    assert emulator.calls["ListAll"] == sum(emulator.calls.values())  # no per-VM calls


def seed(emulator, azure, spec, *, tagged=True, group=None):
    group = group or azure.resource_group
    emulator.cloud.resource_groups.add(group.lower())
    name = vm_resource_name(spec.vm_id)
    body = azure._vm_body(name, spec)
    if not tagged:
        del body["tags"]["skyclust-vm-id"]
    emulator.cloud.create_or_update(group, name, body)


# --- throttling and failures -----------------------------------------------------------------------------

def test_throttled_twice_then_the_retry_succeeds(azure, emulator):
    instance = azure.create(make_spec())
    emulator.calls.clear()
    emulator.faults.configure(throttle_next=2, retry_after=0.1)

    assert azure.get(instance.ref).status == VMStatus.RUNNING
    assert emulator.calls["Get"] == 3


def test_always_throttled_raises_throttled_with_retry_after_in_bounded_time(azure, emulator):
    emulator.faults.configure(throttle_always=True, retry_after=1)
    began = time.monotonic()

    with pytest.raises(Throttled) as caught:
        list(azure.list_managed())

    assert caught.value.retry_after == 1.0
    assert caught.value.account == "sandbox" and caught.value.provider == "azure"
    assert time.monotonic() - began < 15
    assert emulator.calls["ListAll"] == 4  # the first try and three retries


def test_a_long_retry_after_is_not_slept_on(azure, emulator):
    emulator.faults.configure(throttle_always=True, retry_after=120)
    began = time.monotonic()

    with pytest.raises(Throttled) as caught:
        azure.verify()

    assert caught.value.retry_after == 120.0
    assert time.monotonic() - began < 2


def test_persistent_server_errors_become_unavailable(azure, emulator):
    emulator.faults.configure(error_rate=1.0)

    with pytest.raises(Unavailable, match="sandbox"):
        azure.start(InstanceRef("skyclust-anything", REGION))


def test_connection_refused_is_unavailable(emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    config = replace(emulator.account_config(), endpoint_url=f"http://127.0.0.1:{free_port}")
    began = time.monotonic()

    with pytest.raises(Unavailable, match="unreachable"):
        AzureProvider(config).verify()
    assert time.monotonic() - began < 10


# --- invalid requests and credentials ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"image_id": "Canonical:no-such-offer:server:latest"}, "platform image 'Canonical:no-such-offer"),
        ({"instance_type": "Standard_Huge"}, "'Standard_Huge' of parameter 'vmSize'"),
        ({"region": "moon-south"}, "location 'moon-south' is not available"),
        ({"storage_gb": 8}, "smaller than the size"),
    ],
)
def test_bad_image_type_region_or_disk_is_invalid_request_with_the_cloud_message(azure, override, words):
    with pytest.raises(InvalidRequest, match=words):
        azure.create(make_spec(**override))


def test_malformed_image_id_is_invalid_request_before_any_call(azure, emulator):
    with pytest.raises(InvalidRequest, match="publisher:offer:sku:version"):
        azure.create(make_spec(image_id="ami-0c7217cdde317cfec"))
    assert sum(emulator.calls.values()) == 0


def test_wrong_secret_is_authentication_failed_naming_the_account_without_the_secret(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-Zx81-should-never-show"
    good = emulator.account_config(name="team-azure")
    config = replace(good, credentials={**good.credentials, "client_secret": secret})

    with pytest.raises(AuthenticationFailed) as caught:
        AzureProvider(config).verify()

    assert "team-azure" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert caught.value.account == "team-azure"


def test_verify_succeeds_with_valid_credentials(azure, emulator):
    azure.verify()
    assert emulator.calls["List"] == 1


def test_verify_with_an_unknown_resource_group_is_invalid_request(emulator):
    good = emulator.account_config()
    config = replace(good, settings={**good.settings, "resource_group": "no-such-group"})

    with pytest.raises(InvalidRequest, match="no-such-group"):
        AzureProvider(config).verify()


def test_real_cloud_accounts_use_azure_identity_without_calling_it():
    settings = {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg"}
    secret = AccountConfig(
        "azure", "prod", credentials={"tenant_id": "t", "client_id": "c", "client_secret": "s"}, settings=settings
    )
    ambient = AccountConfig("azure", "ambient", settings=settings)

    assert type(AzureProvider(secret).credential).__name__ == "ClientSecretCredential"
    assert type(AzureProvider(ambient).credential).__name__ == "DefaultAzureCredential"


def test_missing_settings_are_invalid_request(emulator):
    config = replace(emulator.account_config(), settings={})

    with pytest.raises(InvalidRequest, match="subscription_id and resource_group"):
        AzureProvider(config)


# --- status mapping ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["ProvisioningState/creating"], VMStatus.PENDING),
        (["ProvisioningState/succeeded", "PowerState/starting"], VMStatus.STARTING),
        (["ProvisioningState/succeeded", "PowerState/running"], VMStatus.RUNNING),
        (["ProvisioningState/updating", "PowerState/stopping"], VMStatus.STOPPING),
        (["ProvisioningState/succeeded", "PowerState/stopped"], VMStatus.STOPPED),
        (["ProvisioningState/succeeded", "PowerState/deallocating"], VMStatus.STOPPING),
        (["ProvisioningState/succeeded", "PowerState/deallocated"], VMStatus.STOPPED),
        (["ProvisioningState/deleting", "PowerState/running"], VMStatus.TERMINATING),
        (["ProvisioningState/failed/AllocationFailed", "PowerState/running"], VMStatus.ERROR),
        (["ProvisioningState/succeeded", "PowerState/unknown"], VMStatus.ERROR),
    ],
)
def test_instance_view_codes_map_to_our_status(codes, expected):
    assert status_from_instance_view(codes)[0] == expected


# --- the emulator itself ---------------------------------------------------------------------------------

def test_emulator_on_port_zero_starts_and_stops_cleanly():
    emulator = AzureEmulator(port=0).start()
    host, port = emulator._server.server_address[:2]
    listening = emulator._server.socket
    serving = emulator._thread
    assert port != 0 and emulator.url == f"http://{host}:{port}"
    AzureProvider(emulator.account_config()).verify()  # leaves a keep-alive connection open

    emulator.stop()

    assert listening.fileno() == -1
    assert not serving.is_alive()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()


def test_faults_and_reset_are_controllable_over_http(azure, emulator):
    azure.create(make_spec())

    post(f"{emulator.url}/_sandbox/faults", {"throttle_always": True, "retry_after": 60})
    with pytest.raises(Throttled):
        azure.verify()
    post(f"{emulator.url}/_sandbox/reset", {})

    assert emulator.faults.throttle_always is False
    assert listed(azure) == {}


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())
