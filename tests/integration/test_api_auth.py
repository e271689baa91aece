"""Authentication: named, revocable API tokens (stored hashed), the token endpoint, sessions with CSRF, and the
dashboard page where a user manages their tokens."""
import re

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from tests.htmlcheck import checked_client
from vms.api import tokens
from vms.api.models import ApiToken
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def obtain(username: str, password: str, **extra):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password, **extra}, format="json")


# -- the token endpoint ------------------------------------------------------------------------------


def test_username_and_password_give_a_named_working_token(world):
    response = obtain(world.viewer.username, factories.PASSWORD, name="nightly CI")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "nightly CI" and body["token"].startswith(body["key_prefix"])
    assert with_token(body["token"]).get("/api/v1/workspaces/").status_code == 200
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.key_hash == tokens.hash_key(body["token"]) and body["token"] not in (stored.key_hash, stored.key_prefix)
    assert AuditEvent.objects.filter(action="token.create", target_id=str(stored.pk), actor=world.viewer).exists()


def test_each_login_gets_its_own_token(world):
    first, second = (obtain(world.viewer.username, factories.PASSWORD).json() for _ in range(2))
    assert first["token"] != second["token"] and first["name"] == second["name"] == "API"
    assert ApiToken.objects.filter(user=world.viewer).count() == 2


@pytest.mark.parametrize(("username", "password"), [("viewer", "wrong-password"), ("nobody", factories.PASSWORD)])
def test_bad_credentials_are_401_without_saying_which_part(world, username, password):
    response = obtain(username, password)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert not ApiToken.objects.exists()


def test_inactive_user_gets_no_token_and_their_tokens_stop_working(world):
    _, key = tokens.token_create(user=world.viewer, name="old")
    world.viewer.is_active = False
    world.viewer.save()
    assert obtain(world.viewer.username, factories.PASSWORD).status_code == 401
    assert with_token(key).get("/api/v1/vms/").status_code == 401


def test_token_endpoint_validates_its_body(world):
    response = APIClient().post("/api/v1/auth/token/", {"username": "viewer"}, format="json")
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["password"]


def test_token_endpoint_is_throttled_per_address(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token_obtain": "3/minute"},
    }
    cache.clear()
    try:
        codes = [obtain(world.viewer.username, "guess").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        assert obtain(world.viewer.username, factories.PASSWORD).status_code == 429  # even the right password waits
    finally:
        cache.clear()


# -- using and revoking tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Token", "Token skc_not-a-real-key", "Token a b", "Bearer whatever"])
def test_missing_or_bad_token_is_401(world, header):
    response = APIClient().get("/api/v1/vms/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}


def test_list_and_revoke_own_tokens_through_the_api(world):
    _, ci_key = tokens.token_create(user=world.owner, name="ci")
    laptop, laptop_key = tokens.token_create(user=world.owner, name="laptop")
    client = with_token(ci_key)
    listed = client.get("/api/v1/auth/tokens/").json()
    assert [row["name"] for row in listed["results"]] == ["laptop", "ci"]
    assert all("token" not in row for row in listed["results"])  # a key is never shown again
    assert client.delete(f"/api/v1/auth/tokens/{laptop.pk}/").status_code == 204
    assert with_token(laptop_key).get("/api/v1/vms/").status_code == 401
    assert client.get("/api/v1/vms/").status_code == 200


def test_another_users_token_is_404(world):
    theirs, their_key = tokens.token_create(user=world.viewer, name="theirs")
    _, key = tokens.token_create(user=world.owner, name="mine")
    assert with_token(key).delete(f"/api/v1/auth/tokens/{theirs.pk}/").status_code == 404
    assert with_token(their_key).get("/api/v1/vms/").status_code == 200


def test_last_used_is_recorded(world):
    token, key = tokens.token_create(user=world.viewer, name="t")
    assert token.last_used_at is None
    with_token(key).get("/api/v1/vms/")
    token.refresh_from_db()
    assert token.last_used_at is not None


# -- sessions ----------------------------------------------------------------------------------------


def test_session_works_and_unsafe_requests_need_csrf(world, fake_cloud):
    vm = factories.make_vm(world.account, "web-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    assert client.get("/api/v1/vms/").status_code == 200
    refused = client.patch(f"/api/v1/vms/{vm.pk}/", {"name": "web-2"}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    page = client.get("/api-tokens/")  # any page sets the CSRF cookie
    csrf = page.cookies["csrftoken"].value
    allowed = client.patch(f"/api/v1/vms/{vm.pk}/", {"name": "web-2"}, content_type="application/json", headers={"X-CSRFToken": csrf})
    assert allowed.status_code == 200 and allowed.json()["name"] == "web-2"


# -- the dashboard page --------------------------------------------------------------------------------


def test_token_page_needs_login(world):
    response = Client().get("/api-tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_token_page_creates_a_named_token_and_shows_it_once(world):
    client = checked_client(world.viewer)
    created = client.post("/api-tokens/", {"name": "deploy bot"})
    assert created.status_code == 201 and "no-store" in created["Cache-Control"]
    key = re.search(r'value="(skc_[^"]+)"', created.content.decode()).group(1)
    assert with_token(key).get("/api/v1/vms/").status_code == 200
    later = client.get("/api-tokens/").content.decode()
    assert "deploy bot" in later and key not in later and key[:8] in later


def test_token_page_shows_field_errors(world):
    client = checked_client(world.viewer)
    response = client.post("/api-tokens/", {"name": ""})
    assert response.status_code == 400 and b"field-error" in response.content
    assert not ApiToken.objects.exists()


def test_token_page_revokes_only_own_tokens(world):
    mine, key = tokens.token_create(user=world.viewer, name="mine")
    theirs, _ = tokens.token_create(user=world.owner, name="theirs")
    client = checked_client(world.viewer)
    assert client.post(f"/api-tokens/{theirs.pk}/revoke/").status_code == 404
    response = client.post(f"/api-tokens/{mine.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/api-tokens/"
    assert with_token(key).get("/api/v1/vms/").status_code == 401
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert AuditEvent.objects.filter(action="token.revoke", target_id=str(mine.pk)).exists()


def test_token_page_revoke_through_htmx_redirects_the_page(world):
    token, _ = tokens.token_create(user=world.viewer, name="mine")
    client = checked_client(world.viewer)
    response = client.post(f"/api-tokens/{token.pk}/revoke/", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Redirect"] == "/api-tokens/"


def test_tokens_per_user_are_capped(world):
    for index in range(tokens.TOKENS_PER_USER_MAX):
        tokens.token_create(user=world.viewer, name=f"t{index}")
    response = obtain(world.viewer.username, factories.PASSWORD)
    assert response.status_code == 400 and "revoke one first" in response.json()["error"]["fields"]["name"][0]
