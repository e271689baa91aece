"""The project shell: health, login/logout, admin (audit log read-only), deploy checks."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests import factories
from workspaces.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"] == {"database": "ok", "channel_layer": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_when_channel_layer_is_down(client, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"].startswith("down")


@pytest.mark.django_db
def test_login_and_logout(client):
    factories.make_user("dana")
    response = client.post(reverse("login"), {"username": "dana", "password": factories.PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code in (200, 302)
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.django_db
def test_bad_login_shows_a_message_not_an_error(client):
    response = client.post(reverse("login"), {"username": "nobody", "password": "x"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


@pytest.mark.django_db
def test_anonymous_home_redirects_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_audit_log_is_read_only_in_admin_even_for_superusers(admin_client, world):
    event = AuditEvent.objects.first()
    changelist = admin_client.get("/admin/workspaces/auditevent/?source=user&q=workspace")
    assert changelist.status_code == 200
    assert admin_client.get(f"/admin/workspaces/auditevent/{event.pk}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/workspaces/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/workspaces/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(f"/admin/workspaces/auditevent/{event.pk}/change/", {"action": "tampered"})
    event.refresh_from_db()
    assert event.action != "tampered"


@pytest.mark.django_db
def test_admin_pages_render(admin_client, world):
    factories.make_vm(world.account)
    for path in ("/admin/", "/admin/workspaces/workspace/", "/admin/workspaces/membership/", "/admin/workspaces/cloudaccount/",
                 f"/admin/workspaces/cloudaccount/{world.account.pk}/change/", "/admin/vms/vm/?status=running", "/admin/vms/vm/?q=vm"):
        assert admin_client.get(path).status_code == 200, path


@pytest.mark.django_db
def test_admin_never_shows_a_secret(admin_client, world):
    from workspaces import services

    account = services.account_create(workspace=world.workspace, provider="aws", name="secretive", actor=None, authorize=False,
                                      credentials={"access_key_id": "AKIAVISIBLE", "secret_access_key": "hidden-secret-42"})
    page = admin_client.get(f"/admin/workspaces/cloudaccount/{account.pk}/change/").content.decode()
    assert "hidden-secret-42" not in page and account.credentials_encrypted not in page


@pytest.mark.django_db
def test_admin_lifecycle_action_goes_through_services(admin_client, world, fake_cloud):
    vm = factories.make_vm(world.account, status="stopped")
    fake_cloud.instances[vm.instance_id] = __import__("vms.providers.base", fromlist=["CloudInstance"]).CloudInstance(
        vm.instance_id, "stopped", "stopped", vm.region, "", str(vm.pk), vm.name)
    admin_client.post("/admin/vms/vm/", {"action": "start_vms", "_selected_action": [str(vm.pk)]})
    vm.refresh_from_db()
    assert vm.status == "starting"
    assert AuditEvent.objects.filter(action="vm.start", target_id=str(vm.pk)).exists()
    admin_client.post("/admin/vms/vm/", {"action": "stop_vms", "_selected_action": [str(vm.pk)]})  # illegal from starting
    vm.refresh_from_db()
    assert vm.status == "starting"


def test_check_deploy_with_production_settings_prints_no_warnings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "prod-" + "k3y-" * 16,
        "ALLOWED_HOSTS": "skyclust.example.com",
        "HTTPS": "true",
        "SKYCLUST_ENCRYPTION_KEY": "a" * 43 + "=",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr.upper() and "no issues" in result.stdout


def test_check_deploy_warns_without_encryption_key(tmp_path):
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "prod-" + "k3y-" * 16, "HTTPS": "true",
           "ALLOWED_HOSTS": "x.example.com", "DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite3'}"}
    env.pop("SKYCLUST_ENCRYPTION_KEY", None)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "skyclust.W001" in result.stdout + result.stderr


@pytest.mark.django_db
def test_admin_account_changes_go_through_services_and_are_audited(admin_client, world):
    response = admin_client.post("/admin/workspaces/cloudaccount/add/", {
        "workspace": str(world.workspace.pk), "provider": "gcp", "name": "gcp-admin", "settings": "{}", "endpoint_url": "",
        "secret_json": "",
    })
    assert response.status_code == 200 and b"project_id" in response.content  # a field error, nothing saved
    admin_client.post("/admin/workspaces/cloudaccount/add/", {
        "workspace": str(world.workspace.pk), "provider": "aws", "name": "aws-admin", "settings": "{}", "endpoint_url": "",
        "secret_json": '{"access_key_id": "AKIAADMIN", "secret_access_key": "admin-secret-77"}',
    })
    from workspaces.models import CloudAccount

    account = CloudAccount.objects.get(name="aws-admin")
    assert account.adapter_config().credentials["secret_access_key"] == "admin-secret-77"
    admin_client.post(f"/admin/workspaces/cloudaccount/{account.pk}/change/", {
        "name": "aws-renamed", "settings": "{}", "endpoint_url": "", "secret_json": '{"access_key_id": "AKIA2", "secret_access_key": "s2"}',
    })
    account.refresh_from_db()
    assert account.name == "aws-renamed" and account.adapter_config().credentials["secret_access_key"] == "s2"
    actions = set(AuditEvent.objects.filter(target_id=str(account.pk)).values_list("action", flat=True))
    assert actions == {"account.create", "account.update", "account.replace_credentials"}
    assert "admin-secret-77" not in str(list(AuditEvent.objects.values("before", "after", "message")))
