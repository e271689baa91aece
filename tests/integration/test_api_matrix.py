"""Every endpoint x role: anonymous, non-member, viewer, operator, admin, owner; and another workspace's ids (404, never 403)."""
import pytest
from rest_framework.test import APIClient

from tests import factories
from vms.api import tokens
from vms.providers.base import CloudInstance
from vms.state import VMStatus

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "viewer", "operator", "admin", "owner")
AWS_CREATE = {"provider": "aws", "type": "t3.small", "region": "us-east-1", "image_id": "ami-0c7217cdde317cfec"}


def client_for(world, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        _, key = tokens.token_create(user=getattr(world, role), name="matrix")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def cloud_vm(fake_cloud, account, name: str, status: VMStatus):
    """A VM row and the instance the (fake) cloud has for it."""
    vm = factories.make_vm(account, name, status=status)
    fake_cloud.instances[vm.instance_id] = CloudInstance(vm.instance_id, status, status.value, vm.region, vm.zone, str(vm.pk), name)
    return vm


def send(client, method: str, url: str, body=None):
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


# endpoint -> (method, url template, status of the VM it acts on, body, expected status per role)
VM_ENDPOINTS = {
    "retrieve": ("get", "/api/v1/vms/{id}/", VMStatus.RUNNING, None, {"viewer": 200, "operator": 200, "admin": 200, "owner": 200}),
    "put": ("put", "/api/v1/vms/{id}/", VMStatus.RUNNING, {"name": "renamed", "metadata": {"a": "b"}}, {"viewer": 403, "operator": 403, "admin": 200, "owner": 200}),
    "patch": ("patch", "/api/v1/vms/{id}/", VMStatus.RUNNING, {"metadata": {"a": "b"}}, {"viewer": 403, "operator": 403, "admin": 200, "owner": 200}),
    "delete": ("delete", "/api/v1/vms/{id}/", VMStatus.TERMINATED, None, {"viewer": 403, "operator": 403, "admin": 204, "owner": 204}),
    "start": ("post", "/api/v1/vms/{id}/start/", VMStatus.STOPPED, None, {"viewer": 403, "operator": 200, "admin": 200, "owner": 200}),
    "stop": ("post", "/api/v1/vms/{id}/stop/", VMStatus.RUNNING, None, {"viewer": 403, "operator": 200, "admin": 200, "owner": 200}),
    "restart": ("post", "/api/v1/vms/{id}/restart/", VMStatus.RUNNING, None, {"viewer": 403, "operator": 200, "admin": 200, "owner": 200}),
    "terminate": ("post", "/api/v1/vms/{id}/terminate/", VMStatus.RUNNING, None, {"viewer": 403, "operator": 403, "admin": 200, "owner": 200}),
}


@pytest.mark.parametrize("endpoint", VM_ENDPOINTS)
def test_vm_endpoint_matrix(world, fake_cloud, endpoint):
    method, template, status, body, member_expectations = VM_ENDPOINTS[endpoint]
    expected = {"anonymous": 401, "outsider": 404, **member_expectations}
    got = {}
    for role in ROLES:
        vm = cloud_vm(fake_cloud, world.account, f"{endpoint}-{role}", status)  # a fresh VM per role: actions change it
        role_body = {**body, "name": f"{body['name']}-{role}"} if body and "name" in body else body  # names are unique
        response = send(client_for(world, role), method, template.format(id=vm.pk), role_body)
        got[role] = response.status_code
        if response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message", "request_id"}
    assert got == expected


@pytest.mark.parametrize("endpoint", VM_ENDPOINTS)
def test_another_workspaces_vm_is_404_for_every_role_never_403(world, fake_cloud, endpoint):
    method, template, status, body, _ = VM_ENDPOINTS[endpoint]
    foreign = cloud_vm(fake_cloud, world.other_account, f"foreign-{endpoint}", status)
    got = {role: send(client_for(world, role), method, template.format(id=foreign.pk), body).status_code for role in ROLES[2:]}
    assert got == dict.fromkeys(ROLES[2:], 404)
    foreign.refresh_from_db()
    assert foreign.status == status and fake_cloud.calls.total() == 0  # nothing happened to it


def test_unknown_vm_id_is_the_same_404_as_a_foreign_one(world, fake_cloud):
    foreign = cloud_vm(fake_cloud, world.other_account, "foreign", VMStatus.RUNNING)
    client = client_for(world, "owner")
    unknown = client.post("/api/v1/vms/00000000-0000-4000-8000-000000000000/stop/")
    hidden = client.post(f"/api/v1/vms/{foreign.pk}/stop/")
    assert unknown.status_code == hidden.status_code == 404
    assert unknown.json()["error"]["message"] == hidden.json()["error"]["message"]


def test_create_matrix(world, fake_cloud):
    expected = {"anonymous": 401, "outsider": 404, "viewer": 403, "operator": 403, "admin": 201, "owner": 201}
    got = {}
    for role in ROLES:
        body = {"name": f"new-{role}", "workspace_id": str(world.workspace.pk), **AWS_CREATE}
        got[role] = client_for(world, role).post("/api/v1/vms/", body, format="json").status_code
    assert got == expected
    assert fake_cloud.calls["create"] == 2


def test_create_in_another_workspace_is_404_for_every_role(world, fake_cloud):
    body = {"name": "intruder", "workspace_id": str(world.other_workspace.pk), **AWS_CREATE}
    got = {role: client_for(world, role).post("/api/v1/vms/", body, format="json").status_code for role in ROLES[2:]}
    assert got == dict.fromkeys(ROLES[2:], 404)
    assert fake_cloud.calls["create"] == 0


def test_list_matrix_shows_each_role_only_its_workspaces(world, fake_cloud):
    mine = cloud_vm(fake_cloud, world.account, "platform-vm", VMStatus.RUNNING)
    theirs = cloud_vm(fake_cloud, world.other_account, "data-vm", VMStatus.RUNNING)
    expected = {"outsider": {str(theirs.pk)}, **{role: {str(mine.pk)} for role in ("viewer", "operator", "admin", "owner")}}
    assert client_for(world, "anonymous").get("/api/v1/vms/").status_code == 401
    for role, ids in expected.items():
        response = client_for(world, role).get("/api/v1/vms/")
        assert response.status_code == 200
        assert {row["id"] for row in response.json()["results"]} == ids, role


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", []), ("operator", ["stop", "restart"]), ("owner", ["stop", "restart", "terminate"])],
)
def test_allowed_actions_are_the_callers(world, fake_cloud, role, allowed):
    vm = cloud_vm(fake_cloud, world.account, "running", VMStatus.RUNNING)
    assert client_for(world, role).get(f"/api/v1/vms/{vm.pk}/").json()["allowed_actions"] == allowed


def test_workspace_endpoints_matrix(world):
    platform = f"/api/v1/workspaces/{world.workspace.pk}/"
    got_detail = {role: client_for(world, role).get(platform).status_code for role in ROLES}
    assert got_detail == {"anonymous": 401, "outsider": 404, "viewer": 200, "operator": 200, "admin": 200, "owner": 200}
    got_roles = {}
    for role in ROLES[1:]:
        rows = client_for(world, role).get("/api/v1/workspaces/").json()["results"]
        got_roles[role] = {(row["name"], row["role"]) for row in rows}
    assert got_roles == {
        "outsider": {("Data", "owner")}, "viewer": {("Platform", "viewer")},
        "operator": {("Platform", "operator")}, "admin": {("Platform", "admin")}, "owner": {("Platform", "owner")},
    }
    assert client_for(world, "anonymous").get("/api/v1/workspaces/").status_code == 401


def test_audit_events_matrix(world, fake_cloud):
    vm = cloud_vm(fake_cloud, world.account, "audited", VMStatus.RUNNING)
    assert client_for(world, "owner").post(f"/api/v1/vms/{vm.pk}/stop/").status_code == 200
    assert client_for(world, "anonymous").get("/api/v1/audit-events/").status_code == 401
    for role in ROLES[2:]:
        rows = client_for(world, role).get("/api/v1/audit-events/", {"vm_id": str(vm.pk)}).json()["results"]
        assert [row["action"] for row in rows] == ["vm.stop"], role
    outsider_rows = client_for(world, "outsider").get("/api/v1/audit-events/").json()["results"]
    assert outsider_rows and {row["workspace_id"] for row in outsider_rows} == {str(world.other_workspace.pk)}
    foreign_filter = client_for(world, "outsider").get("/api/v1/audit-events/", {"workspace_id": str(world.workspace.pk)})
    assert foreign_filter.status_code == 200 and foreign_filter.json()["count"] == 0
