"""The API and the dashboard refuse and allow exactly the same actions: every action x status x role, driven
through both doors (POST /api/v1/vms/<id>/<action>/ or DELETE, and the dashboard's POST /vms/<id>/<action>/)."""
import itertools
import uuid

import pytest
from rest_framework.test import APIClient
from django.test import Client

from tests import factories
from vms.api import tokens
from vms.models import VM
from vms.providers.base import CloudInstance
from vms.state import VMStatus

pytestmark = pytest.mark.django_db

ACTIONS = ("start", "stop", "restart", "terminate", "delete")
ROLES = ("outsider", "viewer", "operator", "admin", "owner")


def cloud_vm(fake_cloud, account, status: VMStatus) -> VM:
    name = f"parity-{uuid.uuid4().hex[:8]}"
    vm = factories.make_vm(account, name, status=status)
    fake_cloud.instances[vm.instance_id] = CloudInstance(vm.instance_id, status, status.value, vm.region, vm.zone, str(vm.pk), name)
    return vm


def through_api(client: APIClient, vm: VM, action: str) -> int:
    response = client.delete(f"/api/v1/vms/{vm.pk}/") if action == "delete" else client.post(f"/api/v1/vms/{vm.pk}/{action}/")
    return 200 if response.status_code == 204 else response.status_code


def through_dashboard(client: Client, vm: VM, action: str) -> int:
    return client.post(f"/vms/{vm.pk}/{action}/", headers={"HX-Request": "true"}).status_code


def outcome(code: int) -> str:
    return {200: "done", 403: "forbidden", 404: "not found", 409: "conflict"}.get(code, f"unexpected {code}")


def test_api_and_dashboard_allow_and_refuse_the_same_actions(world, fake_cloud):
    api_clients, dashboard_clients = {}, {}
    for role in ROLES:
        user = getattr(world, role)
        _, key = tokens.token_create(user=user, name="parity")
        api_clients[role] = APIClient()
        api_clients[role].credentials(HTTP_AUTHORIZATION=f"Token {key}")
        dashboard_clients[role] = Client()
        dashboard_clients[role].force_login(user)

    differences, seen = [], set()
    for action, status, role in itertools.product(ACTIONS, VMStatus, ROLES):
        via_api, via_dashboard = cloud_vm(fake_cloud, world.account, status), cloud_vm(fake_cloud, world.account, status)
        api_outcome = outcome(through_api(api_clients[role], via_api, action))
        dashboard_outcome = outcome(through_dashboard(dashboard_clients[role], via_dashboard, action))
        after = [VM.objects.filter(pk=vm.pk).values_list("status", flat=True).first() for vm in (via_api, via_dashboard)]
        if api_outcome != dashboard_outcome or after[0] != after[1]:
            differences.append(f"{role} {action} on {status.value}: API {api_outcome} -> {after[0]}, dashboard {dashboard_outcome} -> {after[1]}")
        seen.add(api_outcome)
    assert differences == []
    assert seen == {"done", "forbidden", "not found", "conflict"}  # the matrix really covers every kind of answer
