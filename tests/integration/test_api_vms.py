"""The VM endpoints: list, create (with Idempotency-Key), retrieve, edit, delete, lifecycle actions, and their errors."""
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from tests import factories
from vms.api import tokens
from vms.models import VM, IdempotencyKey
from vms.providers.base import AuthenticationFailed, CloudInstance, Conflict, Throttled, Unavailable
from vms.state import VMStatus
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

AWS = {"provider": "aws", "type": "t3.small", "region": "us-east-1", "image_id": "ami-0c7217cdde317cfec"}
GCP = {"provider": "gcp", "type": "e2-small", "region": "us-central1", "zone": "us-central1-a", "image_id": "projects/debian-cloud/global/images/family/debian-12"}
VM_FIELDS = {
    "id", "name", "workspace_id", "account_id", "provider", "type", "region", "zone", "image_id", "status", "instance_id",
    "metadata", "cpus", "memory_mb", "storage_gb", "created_at", "updated_at", "status_checked_at", "status_source",
    "last_error", "allowed_actions",
}


def client_for(user) -> APIClient:
    client = APIClient()
    _, key = tokens.token_create(user=user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def cloud_vm(fake_cloud, account, name: str, status: VMStatus = VMStatus.RUNNING, **fields):
    vm = factories.make_vm(account, name, status=status, **fields)
    fake_cloud.instances[vm.instance_id] = CloudInstance(vm.instance_id, status, status.value, vm.region, vm.zone, str(vm.pk), name)
    return vm


def create_body(world, name="web-1", **extra):
    return {"name": name, "workspace_id": str(world.workspace.pk), **AWS, **extra}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "request_id"} <= set(body["error"])
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


# -- list -------------------------------------------------------------------------------------------


def test_list_pages_with_total_count(world, fake_cloud):
    for index in range(5):
        cloud_vm(fake_cloud, world.account, f"vm-{index}")
    response = client_for(world.owner).get("/api/v1/vms/", {"limit": 2, "offset": 2, "ordering": "name"})
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 5 and [row["name"] for row in body["results"]] == ["vm-2", "vm-3"]
    assert "offset=4" in body["next"] and "limit=2" in body["previous"]
    assert set(body["results"][0]) == VM_FIELDS


def test_list_filters_search_and_ordering(world, fake_cloud):
    gcp_account = factories.make_account(world.workspace, "gcp")
    cloud_vm(fake_cloud, world.account, "api-east", region="us-east-1")
    cloud_vm(fake_cloud, world.account, "api-west", status=VMStatus.STOPPED, region="us-west-2")
    cloud_vm(fake_cloud, gcp_account, "db-gcp", instance_id="gce-12345")
    cloud_vm(fake_cloud, world.other_account, "api-foreign")
    client = client_for(world.owner)

    def names(**query):
        response = client.get("/api/v1/vms/", query)
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names(ordering="name") == ["api-east", "api-west", "db-gcp"]
    assert names(ordering="-name") == ["db-gcp", "api-west", "api-east"]
    assert names(status="stopped") == ["api-west"]
    assert names(provider="gcp") == ["db-gcp"]
    assert names(region="us-east-1", ordering="name") == ["api-east"]
    assert names(search="API", ordering="name") == ["api-east", "api-west"]
    assert names(search="gce-123") == ["db-gcp"]  # by instance id
    assert names(workspace_id=str(world.workspace.pk), ordering="name") == ["api-east", "api-west", "db-gcp"]
    assert names(workspace_id=str(world.other_workspace.pk)) == []  # not visible: nothing, not an error


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "sleeping"}, "status"), ({"provider": "ibm"}, "provider"), ({"ordering": "price"}, "ordering"),
        ({"workspace_id": "not-a-uuid"}, "workspace_id"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"), ({"offset": "-1"}, "offset"), ({"search": "x" * 101}, "search"),
    ],
)
def test_list_rejects_bad_query_by_parameter(world, query, field):
    response = client_for(world.viewer).get("/api/v1/vms/", query)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and list(error["fields"]) == [field]


def test_list_query_count_does_not_grow_with_vms(world, fake_cloud):
    client = APIClient()
    client.force_authenticate(world.viewer)
    shared = cloud_vm(fake_cloud, world.other_account, "shared-with-viewer")
    assign_perm("vms.view_vm", world.viewer, shared)  # the per-VM share path is in the query too

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/vms/", {"limit": 500})
        assert response.status_code == 200
        return len(captured), response.json()["count"]

    for index in range(3):
        cloud_vm(fake_cloud, world.account, f"few-{index}")
    few, few_count = queries_for_list()
    for index in range(60):
        cloud_vm(fake_cloud, world.account if index % 2 else world.other_account, f"many-{index}")
    many, many_count = queries_for_list()
    assert (few_count, many_count) == (4, 34)
    assert few == many <= 6


# -- create -----------------------------------------------------------------------------------------


def test_create_returns_201_with_the_vm_and_location(world, fake_cloud):
    response = client_for(world.admin).post("/api/v1/vms/", create_body(world, metadata={"team": "web"}), format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == VM_FIELDS
    assert (body["status"], body["cpus"], body["memory_mb"], body["storage_gb"]) == ("running", 2, 2048, 8)
    assert body["account_id"] == str(world.account.pk) and body["metadata"] == {"team": "web"}
    assert body["allowed_actions"] == ["stop", "restart", "terminate"]
    assert response["Location"] == f"/api/v1/vms/{body['id']}/"
    row = AuditEvent.objects.get(action="vm.create", target_id=body["id"])
    assert (row.actor, row.source) == (world.admin, "api")


def test_create_on_gcp_with_zone(world, fake_cloud):
    gcp = factories.make_account(world.workspace, "gcp")
    response = client_for(world.owner).post("/api/v1/vms/", create_body(world, **GCP), format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["account_id"], response.json()["zone"]) == (str(gcp.pk), "us-central1-a")
    without_zone = {key: value for key, value in create_body(world, "web-2", **GCP).items() if key != "zone"}
    error = error_of(client_for(world.owner).post("/api/v1/vms/", without_zone, format="json"))
    assert "us-central1-a" in error["fields"]["zone"][0]


def test_create_validates_every_field_by_name(world, fake_cloud):
    body = {"name": "x", "workspace_id": 7, "provider": "ibm", "type": 3, "metadata": {"k": 1}}
    response = client_for(world.owner).post("/api/v1/vms/", body, format="json")
    assert response.status_code == 400
    assert set(error_of(response)["fields"]) == {"name", "workspace_id", "provider", "type", "region", "image_id", "metadata.k"}
    assert fake_cloud.calls["create"] == 0


def test_create_names_the_catalogs_choices(world, fake_cloud):
    response = client_for(world.owner).post("/api/v1/vms/", create_body(world, region="mars-1", type="e2-small"), format="json")
    fields = error_of(response)["fields"]
    assert set(fields) == {"region", "type"}
    assert "us-east-1" in fields["region"][0] and "t3.small" in fields["type"][0]


@pytest.mark.parametrize("metadata", [{"bad key!": "v"}, {"k": "v" * 256}, {f"k{i}": "v" for i in range(51)}, ["not", "a", "map"]])
def test_create_rejects_bad_metadata(world, fake_cloud, metadata):
    response = client_for(world.owner).post("/api/v1/vms/", create_body(world, metadata=metadata), format="json")
    assert response.status_code == 400
    assert all(field.startswith("metadata") for field in error_of(response)["fields"])


def test_create_refuses_a_live_duplicate_name(world, fake_cloud):
    client = client_for(world.owner)
    assert client.post("/api/v1/vms/", create_body(world), format="json").status_code == 201
    response = client.post("/api/v1/vms/", create_body(world), format="json")
    assert response.status_code == 400 and "already exists" in error_of(response)["fields"]["name"][0]


def test_create_picks_the_only_account_or_asks_which(world, fake_cloud):
    client = client_for(world.owner)
    error = error_of(client.post("/api/v1/vms/", create_body(world, **GCP), format="json"))
    assert "no gcp cloud account" in error["fields"]["account_id"][0]

    second = factories.make_account(world.workspace, "aws", name="aws-second")
    error = error_of(client.post("/api/v1/vms/", create_body(world), format="json"))
    message = error["fields"]["account_id"][0]
    assert str(world.account.pk) in message and str(second.pk) in message and "aws-second" in message

    chosen = client.post("/api/v1/vms/", create_body(world, account_id=str(second.pk)), format="json")
    assert chosen.status_code == 201 and chosen.json()["account_id"] == str(second.pk)


def test_create_refuses_an_account_of_another_workspace_or_provider(world, fake_cloud):
    client = client_for(world.owner)
    foreign = error_of(client.post("/api/v1/vms/", create_body(world, account_id=str(world.other_account.pk)), format="json"))
    assert "No cloud account with this id" in foreign["fields"]["account_id"][0]
    gcp = factories.make_account(world.workspace, "gcp")
    mismatch = error_of(client.post("/api/v1/vms/", create_body(world, account_id=str(gcp.pk)), format="json"))
    assert "not aws" in mismatch["fields"]["account_id"][0]
    assert VM.objects.count() == 0


def test_create_cloud_failure_is_502_with_the_reason_and_the_vm_in_error(world, fake_cloud):
    fake_cloud.fail_next("create", AuthenticationFailed("AuthFailure: AWS was not able to validate the credentials.", provider="aws"))
    response = client_for(world.owner).post("/api/v1/vms/", create_body(world), format="json")
    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "cloud_error" and "AuthFailure" in error["message"] and error["provider"] == "aws"
    vm = VM.objects.get(pk=error["vm_id"])
    assert vm.status == VMStatus.ERROR and "AuthFailure" in vm.last_error


# -- Idempotency-Key -----------------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_same_vm(world, fake_cloud):
    client = client_for(world.owner)
    first = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="ci-run-42")
    again = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="ci-run-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert VM.objects.count() == 1 and fake_cloud.calls["create"] == 1
    assert IdempotencyKey.objects.get(key="ci-run-42").vm_id == VM.objects.get().pk


def test_same_idempotency_key_with_another_body_is_422(world, fake_cloud):
    client = client_for(world.owner)
    client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    response = client.post("/api/v1/vms/", create_body(world, "web-2"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422 and error_of(response)["code"] == "idempotency_key_reused"
    assert VM.objects.count() == 1


def test_idempotency_keys_are_per_user(world, fake_cloud):
    first = client_for(world.owner).post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    second = client_for(world.admin).post("/api/v1/vms/", create_body(world, "web-2"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_a_refused_create_leaves_its_idempotency_key_free(world, fake_cloud):
    client = client_for(world.owner)
    bad = client.post("/api/v1/vms/", create_body(world, region="mars-1"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    fixed = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (bad.status_code, fixed.status_code) == (400, 201)


def test_a_failed_create_replays_the_vm_in_error_without_a_second_cloud_call(world, fake_cloud):
    client = client_for(world.owner)
    fake_cloud.fail_next("create", Unavailable("EC2 endpoint unreachable", provider="aws"))
    failed = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    replay = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (failed.status_code, replay.status_code) == (503, 200)
    assert replay.json()["id"] == error_of(failed)["vm_id"] and replay.json()["status"] == "error"
    assert fake_cloud.calls["create"] == 1


def test_an_idempotency_key_whose_vm_was_deleted_is_spent(world, fake_cloud):
    client = client_for(world.owner)
    vm_id = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k").json()["id"]
    VM.objects.filter(pk=vm_id).update(status=VMStatus.TERMINATED)  # as the poller records once the cloud is done
    assert client.delete(f"/api/v1/vms/{vm_id}/").status_code == 204
    response = client.post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422 and "no longer exists" in error_of(response)["message"]
    assert fake_cloud.calls["create"] == 1


@pytest.mark.parametrize("key", ["", " leading-space", "x" * 256, "tab\there"])
def test_a_malformed_idempotency_key_is_400(world, fake_cloud, key):
    response = client_for(world.owner).post("/api/v1/vms/", create_body(world), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in error_of(response)["message"]
    assert VM.objects.count() == 0


# -- retrieve, edit, delete ------------------------------------------------------------------------


def test_retrieve_is_the_vm_dto(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1", metadata={"team": "web"})
    body = client_for(world.viewer).get(f"/api/v1/vms/{vm.pk}/").json()
    assert set(body) == VM_FIELDS
    assert (body["id"], body["name"], body["workspace_id"], body["type"], body["metadata"]) == (
        str(vm.pk), "web-1", str(world.workspace.pk), vm.instance_type, {"team": "web"},
    )


def test_put_replaces_name_and_metadata_and_needs_both(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1", metadata={"old": "yes"})
    client = client_for(world.owner)
    missing = client.put(f"/api/v1/vms/{vm.pk}/", {"name": "web-2"}, format="json")
    assert missing.status_code == 400 and list(error_of(missing)["fields"]) == ["metadata"]
    response = client.put(f"/api/v1/vms/{vm.pk}/", {"name": "web-2", "metadata": {"new": "yes"}}, format="json")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["metadata"]) == ("web-2", {"new": "yes"})
    assert AuditEvent.objects.filter(action="vm.update", target_id=str(vm.pk), source="api").exists()


def test_patch_changes_only_what_is_given(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1", metadata={"keep": "me"})
    response = client_for(world.owner).patch(f"/api/v1/vms/{vm.pk}/", {"name": "web-renamed"}, format="json")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["metadata"]) == ("web-renamed", {"keep": "me"})


def test_patch_refuses_a_taken_name(world, fake_cloud):
    cloud_vm(fake_cloud, world.account, "taken")
    vm = cloud_vm(fake_cloud, world.account, "web-1")
    response = client_for(world.owner).patch(f"/api/v1/vms/{vm.pk}/", {"name": "taken"}, format="json")
    assert response.status_code == 400 and "already exists" in error_of(response)["fields"]["name"][0]


def test_delete_of_a_live_vm_is_409_saying_terminate_first(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1")
    response = client_for(world.owner).delete(f"/api/v1/vms/{vm.pk}/")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "invalid_transition" and error["current_status"] == "running"
    assert "terminate it first" in error["message"]
    assert VM.objects.filter(pk=vm.pk).exists()


# -- lifecycle actions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [("start", "stopped", "starting"), ("stop", "running", "stopping"), ("restart", "running", "starting"), ("terminate", "running", "terminating")],
)
def test_action_returns_the_vm_in_its_transitional_status(world, fake_cloud, action, before, after):
    vm = cloud_vm(fake_cloud, world.account, "web-1", status=VMStatus(before))
    response = client_for(world.owner).post(f"/api/v1/vms/{vm.pk}/{action}/")
    assert response.status_code == 200 and response.json()["status"] == after
    assert AuditEvent.objects.get(action=f"vm.{action}", target_id=str(vm.pk)).source == "api"


def test_illegal_transition_is_409_with_status_and_the_callers_allowed_actions(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1", status=VMStatus.STOPPED)
    response = client_for(world.operator).post(f"/api/v1/vms/{vm.pk}/stop/")
    assert response.status_code == 409
    error = error_of(response)
    assert (error["code"], error["current_status"]) == ("invalid_transition", "stopped")
    assert error["allowed_actions"] == ["start", "restart"]  # an operator may not terminate
    assert fake_cloud.calls["stop"] == 0


def test_action_body_is_ignored(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1")
    assert client_for(world.owner).post(f"/api/v1/vms/{vm.pk}/stop/", {"force": True}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (Throttled("RequestLimitExceeded", retry_after=7, provider="aws"), 503, "cloud_throttled", "7"),
        (Throttled("RequestLimitExceeded", provider="aws"), 503, "cloud_throttled", "5"),
        (Unavailable("connection reset by peer", provider="aws"), 503, "cloud_unavailable", "5"),
        (AuthenticationFailed("AuthFailure", provider="aws"), 502, "cloud_error", None),
        (Conflict("IncorrectInstanceState", provider="aws"), 409, "cloud_conflict", None),
    ],
)
def test_cloud_failure_on_an_action_carries_the_clouds_reason(world, fake_cloud, error, status, code, retry_after):
    vm = cloud_vm(fake_cloud, world.account, "web-1")
    fake_cloud.fail_next("stop", error)
    response = client_for(world.owner).post(f"/api/v1/vms/{vm.pk}/stop/")
    assert response.status_code == status
    body = error_of(response)
    assert (body["code"], body["message"], body["provider"], body["vm_id"]) == (code, error.message, "aws", str(vm.pk))
    assert response.get("Retry-After") == retry_after
    vm.refresh_from_db()
    assert error.message in vm.last_error


def test_vanished_instance_is_502_and_the_vm_is_terminated(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "web-1")
    del fake_cloud.instances[vm.instance_id]
    response = client_for(world.owner).post(f"/api/v1/vms/{vm.pk}/stop/")
    assert response.status_code == 502 and error_of(response)["code"] == "cloud_instance_not_found"
    vm.refresh_from_db()
    assert vm.status == VMStatus.TERMINATED


# -- throttling, unknown paths, methods ----------------------------------------------------------------


def test_requests_are_throttled_per_user_with_retry_after(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/minute"}}
    cache.clear()
    try:
        viewer = client_for(world.viewer)
        codes = [viewer.get("/api/v1/vms/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        throttled = viewer.get("/api/v1/vms/")
        error = error_of(throttled)
        assert error["code"] == "throttled" and int(throttled["Retry-After"]) == error["retry_after"] > 0
        assert client_for(world.operator).get("/api/v1/vms/").status_code == 200  # another user has their own budget
    finally:
        cache.clear()


def test_unknown_api_path_and_wrong_method_use_the_error_shape(world):
    client = client_for(world.owner)
    unknown = client.post("/api/v1/vmz/", {}, format="json")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"
    not_a_uuid = client.get("/api/v1/vms/12/")
    assert not_a_uuid.status_code == 404 and error_of(not_a_uuid)["code"] == "not_found"
    wrong = client.delete("/api/v1/vms/")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_malformed_json_is_400_and_form_bodies_415(world):
    client = client_for(world.owner)
    broken = client.generic("POST", "/api/v1/vms/", "{not json", content_type="application/json")
    assert broken.status_code == 400 and error_of(broken)["code"] == "parse_error"
    form = client.post("/api/v1/vms/", {"name": "web-1"})  # multipart
    assert form.status_code == 415 and error_of(form)["code"] == "unsupported_media_type"
