"""The GCP adapter against the GCP emulator, over HTTP, with the real google-cloud-compute client."""
from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
import uuid
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request
from google.cloud import compute_v1
from google.oauth2 import service_account

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
from vms.providers.gcp import STATUS_BY_GCP_STATE, GCPProvider, instance_name
from vms.sandbox.gcp import GCPEmulator
from vms.state import VMStatus

DEBIAN = "projects/debian-cloud/global/images/family/debian-12"


@pytest.fixture(scope="module")
def emulator():
    with GCPEmulator() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_emulator(emulator):
    emulator.reset()
    emulator.transition_seconds = 0.0
    emulator.throttle_status = 403
    yield
    emulator.reset()
    emulator.transition_seconds = 0.0


@pytest.fixture
def provider(emulator) -> GCPProvider:
    return GCPProvider(emulator.account_config())


def spec(**overrides) -> InstanceSpec:
    values = dict(
        vm_id=str(uuid.uuid4()),
        name="Web Server #1",
        instance_type="e2-micro",
        region="us-central1",
        zone="us-central1-a",
        image_id=DEBIAN,
        storage_gb=10,
    )
    values.update(overrides)
    return InstanceSpec(**values)


@pytest.fixture
def created(provider):
    return provider.create(spec())


def managed_ids(provider, region: str = "") -> set[str]:
    return {instance.instance_id for instance in provider.list_managed(region)}


def wait_for_status(provider, ref: InstanceRef, status: VMStatus, within: float = 3.0):
    deadline = time.monotonic() + within
    while True:
        current = provider.get(ref).status
        if current == status or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def wrong_key_config(emulator, name: str) -> tuple[AccountConfig, str]:
    """A config whose key file names a known account but is signed with another private key."""
    good = emulator.account_config(name)
    info = json.loads(good.credentials["service_account_json"])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    config = AccountConfig(
        provider="gcp", name=name, credentials={"service_account_json": json.dumps(info)},
        settings=good.settings, endpoint_url=good.endpoint_url,
    )
    secret = info["private_key"].splitlines()[5]  # a line of the key's body
    return config, secret


# -- lifecycle ---------------------------------------------------------------------------------------------


def test_create_returns_running_instance_named_and_labelled(provider, emulator):
    vm_spec = spec(name="Web Server #1")
    instance = provider.create(vm_spec)

    assert instance.status == VMStatus.RUNNING
    assert instance.cloud_state == "RUNNING"
    assert instance.instance_id == f"web-server-1-{vm_spec.vm_id[:8]}"
    assert (instance.region, instance.zone, instance.vm_id) == ("us-central1", "us-central1-a", vm_spec.vm_id)
    assert provider.get(instance.ref) == instance
    assert managed_ids(provider) == {instance.instance_id}
    sent = emulator.compute.get(emulator.url, "skyclust-sandbox", "us-central1-a", instance.instance_id)
    assert sent["labels"] == {VM_ID_TAG: vm_spec.vm_id}
    assert sent["machineType"].endswith("/zones/us-central1-a/machineTypes/e2-micro")


def test_stop_then_get_reports_stopped(provider, created):
    provider.stop(created.ref)

    stopped = provider.get(created.ref)
    assert (stopped.status, stopped.cloud_state) == (VMStatus.STOPPED, "TERMINATED")
    assert [i.status for i in provider.list_managed()] == [VMStatus.STOPPED]


def test_start_after_stop_reports_running(provider, created):
    provider.stop(created.ref)
    provider.start(created.ref)

    assert provider.get(created.ref).status == VMStatus.RUNNING
    assert [i.status for i in provider.list_managed()] == [VMStatus.RUNNING]


def test_reboot_resets_a_running_instance(provider, emulator, created):
    provider.reboot(created.ref)

    assert emulator.calls["reset"] == 1
    assert provider.get(created.ref).status == VMStatus.RUNNING


def test_reboot_of_stopped_instance_starts_it(provider, emulator, created):
    provider.stop(created.ref)

    provider.reboot(created.ref)

    assert emulator.calls["start"] == 1
    assert provider.get(created.ref).status == VMStatus.RUNNING


def test_terminate_makes_get_not_found_and_drops_from_list(provider, created):
    provider.terminate(created.ref)

    with pytest.raises(NotFound) as caught:
        provider.get(created.ref)
    assert caught.value.provider == "gcp"
    assert managed_ids(provider) == set()


def test_start_during_stopping_is_conflict(provider, emulator, created):
    emulator.transition_seconds = 5.0
    provider.stop(created.ref)

    with pytest.raises(Conflict, match="is not ready"):
        provider.start(created.ref)


def test_creating_twice_with_same_vm_id_makes_one_instance(provider, emulator):
    vm_spec = spec()

    first = provider.create(vm_spec)
    second = provider.create(vm_spec)

    assert first.instance_id == second.instance_id
    assert emulator.calls["insert"] == 2
    assert managed_ids(provider) == {first.instance_id}


def test_create_after_request_id_expired_adopts_the_labelled_instance(provider, emulator):
    vm_spec = spec()
    first = provider.create(vm_spec)
    emulator.compute._operations_by_request_id.clear()  # GCP forgets request ids after a while

    again = provider.create(vm_spec)

    assert again.instance_id == first.instance_id
    assert managed_ids(provider) == {first.instance_id}


def test_create_over_another_vms_instance_of_same_name_is_conflict(provider):
    vm_spec = spec()
    provider.create(vm_spec)
    same_name_other_vm = spec(vm_id=vm_spec.vm_id[:8] + str(uuid.uuid4())[8:], name=vm_spec.name)

    with pytest.raises(Conflict, match="already exists"):
        provider.create(same_name_other_vm)


def test_create_in_exhausted_zone_is_unavailable_with_clouds_reason(provider, emulator):
    emulator.exhausted_zones.add("us-central1-a")

    with pytest.raises(Unavailable, match="does not have enough resources"):
        provider.create(spec())
    assert managed_ids(provider) == set()


# -- listing -------------------------------------------------------------------------------------------------


def test_listing_1200_managed_instances_pages_with_few_calls(provider, emulator):
    emulator.seed_instances(1200, zones=("us-central1-a", "europe-west1-b", "asia-east1-c"))
    emulator.calls.clear()

    listed = list(provider.list_managed())

    assert len({i.instance_id for i in listed}) == 1200
    assert emulator.calls["aggregatedList"] <= math.ceil(1200 / GCPProvider.PAGE_SIZE) + 1


def test_list_managed_skips_unlabelled_instances(provider, emulator):
    managed = set(emulator.seed_instances(3))
    emulator.seed_instances(4, managed=False, name_prefix="foreign")

    assert managed_ids(provider) == managed


def test_list_managed_for_a_region_keeps_only_its_zones(provider, emulator):
    emulator.seed_instances(6, zones=("us-central1-a", "europe-west1-b"))

    listed = list(provider.list_managed("europe-west1"))

    assert len(listed) == 3
    assert {i.zone for i in listed} == {"europe-west1-b"}


def test_find_by_vm_id_finds_the_labelled_instance_or_none(provider, created):
    emulator_seeded_noise = provider.create(spec(name="other"))

    assert provider.find_by_vm_id(created.vm_id, "us-central1") == created
    assert provider.find_by_vm_id(created.vm_id, "europe-west1") is None
    assert provider.find_by_vm_id(str(uuid.uuid4()), "us-central1") is None
    assert emulator_seeded_noise.vm_id != created.vm_id


def test_verify_succeeds_with_one_list_call(provider, emulator):
    provider.verify()

    assert emulator.calls == {"aggregatedList": 1}


# -- throttling and failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("throttle_status", [403, 429])
def test_two_throttled_calls_are_retried_then_succeed(provider, emulator, created, throttle_status):
    emulator.throttle_status = throttle_status
    emulator.faults.configure(throttle_next=2)
    emulator.calls.clear()

    assert provider.get(created.ref).status == VMStatus.RUNNING
    assert emulator.calls["get"] == 3


def test_always_throttled_raises_throttled_with_retry_after_in_bounded_time(provider, emulator, created):
    emulator.faults.configure(throttle_always=True, retry_after=7)

    started = time.monotonic()
    with pytest.raises(Throttled) as caught:
        provider.get(created.ref)

    assert time.monotonic() - started < 15
    assert caught.value.retry_after == 7.0
    assert emulator.calls["get"] > 2


def test_persistent_5xx_becomes_unavailable(provider, emulator, created, monkeypatch):
    monkeypatch.setattr(GCPProvider, "RETRY", GCPProvider.RETRY.with_timeout(1.0))
    emulator.faults.configure(error_rate=1.0)

    with pytest.raises(Unavailable, match="unavailable"):
        provider.stop(created.ref)
    assert emulator.calls["stop"] > 1


def test_unreachable_endpoint_is_unavailable():
    with GCPEmulator() as short_lived:
        config = short_lived.account_config("gone")
    provider = GCPProvider(config)

    with pytest.raises(Unavailable):
        provider.verify()


# -- invalid requests --------------------------------------------------------------------------------------


def test_unknown_image_is_invalid_request_naming_it(provider):
    with pytest.raises(InvalidRequest, match="images/family/no-such-os"):
        provider.create(spec(image_id="projects/debian-cloud/global/images/family/no-such-os"))


def test_unknown_machine_type_is_invalid_request_naming_it(provider):
    with pytest.raises(InvalidRequest, match="Machine type with name 'x9-huge' does not exist"):
        provider.create(spec(instance_type="x9-huge"))


def test_unknown_zone_is_invalid_request(provider):
    with pytest.raises(InvalidRequest, match="Unknown zone"):
        provider.create(spec(region="mars-north1", zone="mars-north1-a"))


def test_zone_outside_region_is_invalid_request_without_a_call(provider, emulator):
    with pytest.raises(InvalidRequest, match="not in region"):
        provider.create(spec(region="europe-west1", zone="us-central1-a"))
    assert sum(emulator.calls.values()) == 0


def test_disk_smaller_than_image_is_invalid_request(provider):
    with pytest.raises(InvalidRequest, match="cannot be smaller than the image"):
        provider.create(spec(image_id="projects/rocky-linux-cloud/global/images/family/rocky-linux-9"))


# -- credentials -------------------------------------------------------------------------------------------


def test_wrong_key_is_authentication_failed_naming_account_without_secret(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    config, secret = wrong_key_config(emulator, "team-blue")

    with pytest.raises(AuthenticationFailed) as caught:
        GCPProvider(config).verify()

    assert "team-blue" in str(caught.value)
    assert caught.value.account == "team-blue"
    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert secret not in repr(config)


def test_account_of_another_project_is_authentication_failed(emulator):
    config = emulator.account_config("other-team", project_id="someone-elses-project")
    borrowed = AccountConfig(
        provider="gcp", name="other-team", credentials=config.credentials,
        settings={"project_id": "skyclust-sandbox"}, endpoint_url=config.endpoint_url,
    )

    with pytest.raises(AuthenticationFailed, match="other-team.*not allowed"):
        GCPProvider(borrowed).verify()


def test_malformed_key_is_authentication_failed(emulator):
    config = AccountConfig(
        provider="gcp", name="broken", credentials={"service_account_json": '{"type": "service_account"}'},
        settings={"project_id": "skyclust-sandbox"}, endpoint_url=emulator.url,
    )

    with pytest.raises(AuthenticationFailed, match="'broken'.*not a valid service-account key"):
        GCPProvider(config).verify()


def test_no_credentials_with_endpoint_override_is_refused_by_emulator(emulator):
    config = AccountConfig(provider="gcp", name="ambient", settings={"project_id": "p"}, endpoint_url=emulator.url)

    with pytest.raises(AuthenticationFailed, match="'ambient'"):
        GCPProvider(config).verify()


def test_token_endpoint_grants_only_correctly_signed_assertions(emulator):
    good = json.loads(emulator.account_config("token-user").credentials["service_account_json"])
    scopes = ["https://www.googleapis.com/auth/compute"]

    credentials = service_account.Credentials.from_service_account_info(good, scopes=scopes)
    credentials.refresh(Request())
    assert credentials.token.startswith("ya29.sandbox-")

    bad_config, _ = wrong_key_config(emulator, "token-user")
    bad = json.loads(bad_config.credentials["service_account_json"])
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        service_account.Credentials.from_service_account_info(bad, scopes=scopes).refresh(Request())


def test_access_token_from_token_endpoint_is_accepted_by_the_api(emulator):
    info = json.loads(emulator.account_config().credentials["service_account_json"])
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/compute"]
    )
    credentials.refresh(Request())
    request = urllib.request.Request(
        f"{emulator.url}/compute/v1/projects/skyclust-sandbox/aggregated/instances",
        headers={"Authorization": f"Bearer {credentials.token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.load(answer)["kind"] == "compute#instanceAggregatedList"


# -- transitional states -----------------------------------------------------------------------------------


def test_transitions_pass_through_intermediate_states(provider, emulator):
    emulator.transition_seconds = 0.3
    instance = provider.create(spec())
    assert instance.status in {VMStatus.PENDING, VMStatus.STARTING}
    assert wait_for_status(provider, instance.ref, VMStatus.RUNNING) == VMStatus.RUNNING

    provider.stop(instance.ref)
    assert provider.get(instance.ref).status == VMStatus.STOPPING
    assert wait_for_status(provider, instance.ref, VMStatus.STOPPED) == VMStatus.STOPPED

    provider.start(instance.ref)
    assert provider.get(instance.ref).status == VMStatus.STARTING
    assert wait_for_status(provider, instance.ref, VMStatus.RUNNING) == VMStatus.RUNNING


def test_terminate_shows_stopping_then_disappears(provider, emulator):
    emulator.transition_seconds = 0.3
    instance = provider.create(spec())
    wait_for_status(provider, instance.ref, VMStatus.RUNNING)

    provider.terminate(instance.ref)
    assert provider.get(instance.ref).cloud_state == "STOPPING"
    time.sleep(0.35)

    with pytest.raises(NotFound):
        provider.get(instance.ref)


# -- the emulator itself -----------------------------------------------------------------------------------


def test_emulator_on_port_zero_starts_and_stops_cleanly():
    emulator = GCPEmulator(port=0).start()
    port = int(emulator.url.rsplit(":", 1)[1])
    assert port != 0
    GCPProvider(emulator.account_config()).verify()  # leaves a kept-alive connection open

    emulator.stop()

    assert f"gcp-emulator-{port}" not in {thread.name for thread in threading.enumerate()}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_sandbox_control_over_http_sets_faults_and_resets(provider, emulator, created):
    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(
            f"{emulator.url}/_sandbox/{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)

    emulator.calls.clear()
    assert post("faults", {"throttle_next": 1, "retry_after": 2})["faults"]["throttle_next"] == 1
    provider.get(created.ref)  # retried past the one throttled answer
    assert emulator.calls["get"] == 2

    post("reset", {})
    assert emulator.calls == {}
    with pytest.raises(NotFound):
        provider.get(created.ref)


def test_aggregated_list_filter_forms_match_labels(emulator):
    names = emulator.seed_instances(2)
    info = json.loads(emulator.account_config().credentials["service_account_json"])
    credentials = service_account.Credentials.from_service_account_info(info)
    client = compute_v1.InstancesClient(
        credentials=credentials, client_options={"api_endpoint": emulator.url}, transport="rest"
    )
    vm_id = emulator.compute.get(emulator.url, "skyclust-sandbox", "us-central1-a", names[0])["labels"][VM_ID_TAG]

    def listed(filter_text: str) -> list[str]:
        request = compute_v1.AggregatedListInstancesRequest(project="skyclust-sandbox", filter=filter_text)
        return [i.name for _, scoped in client.aggregated_list(request=request) for i in scoped.instances]

    assert listed(f"labels.{VM_ID_TAG}={vm_id}") == [names[0]]
    assert listed(f'labels.{VM_ID_TAG} eq "{vm_id}"') == [names[0]]
    assert listed(f'(labels.{VM_ID_TAG}:*) (status = "RUNNING")') == names
    assert listed(f"labels.{VM_ID_TAG} != {vm_id}") == [names[1]]


# -- pure helpers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        ("Web Server #1", "web-server-1-0b8e5d2a"),
        ("42 answers", "answers-0b8e5d2a"),
        ("---", "vm-0b8e5d2a"),
        ("x" * 80, "x" * 54 + "-0b8e5d2a"),
    ],
)
def test_instance_names_are_gcp_legal_and_carry_the_vm_id(display_name, expected):
    assert instance_name(display_name, "0b8e5d2a-1111-4c4c-8888-123456789abc") == expected


def test_every_gcp_status_maps_to_a_vm_status():
    gcp_states = {status.name for status in compute_v1.Instance.Status} - {"UNDEFINED_STATUS"}

    assert gcp_states <= set(STATUS_BY_GCP_STATE)
    assert STATUS_BY_GCP_STATE["TERMINATED"] == VMStatus.STOPPED
