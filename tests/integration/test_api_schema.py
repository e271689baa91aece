"""The OpenAPI 3 document at /api/v1/schema/ and the docs at /api/v1/docs/ (served locally, no CDN)."""
import re

import pytest
import yaml
from django.test import Client

from tests.htmlcheck import html_problems

pytestmark = pytest.mark.django_db

VM_ACTION_CODES = {"200", "401", "403", "404", "409", "429", "502", "503"}
EXPECTED_CODES = {
    ("get", "/api/v1/vms/"): {"200", "400", "401", "429"},
    ("post", "/api/v1/vms/"): {"200", "201", "400", "401", "403", "404", "409", "422", "429", "502", "503"},
    ("get", "/api/v1/vms/{vm_id}/"): {"200", "401", "404", "429"},
    ("put", "/api/v1/vms/{vm_id}/"): {"200", "400", "401", "403", "404", "429"},
    ("patch", "/api/v1/vms/{vm_id}/"): {"200", "400", "401", "403", "404", "429"},
    ("delete", "/api/v1/vms/{vm_id}/"): {"204", "401", "403", "404", "409", "429"},
    **{("post", f"/api/v1/vms/{{vm_id}}/{action}/"): VM_ACTION_CODES for action in ("start", "stop", "restart", "terminate")},
    ("get", "/api/v1/workspaces/"): {"200", "400", "401", "429"},
    ("get", "/api/v1/workspaces/{workspace_id}/"): {"200", "401", "404", "429"},
    ("get", "/api/v1/audit-events/"): {"200", "400", "401", "429"},
    ("get", "/api/v1/catalog/"): {"200", "401", "429"},
    ("post", "/api/v1/auth/token/"): {"201", "400", "401", "429"},
    ("get", "/api/v1/auth/tokens/"): {"200", "400", "401", "429"},
    ("delete", "/api/v1/auth/tokens/{token_id}/"): {"204", "401", "403", "404", "429"},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_openapi_3_and_lists_every_operation_with_its_status_codes(schema):
    assert schema["openapi"].startswith("3.")
    operations = {(method, path): op for path, item in schema["paths"].items() for method, op in item.items()}
    assert set(operations) == set(EXPECTED_CODES)
    for key, codes in EXPECTED_CODES.items():
        assert set(operations[key]["responses"]) == codes, key


def test_every_error_response_has_the_one_error_shape_and_429_503_say_retry_after(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path, code)
                if code in ("429", "503"):
                    assert "Retry-After" in response["headers"], (method, path, code)
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "request_id"}
    assert {"fields", "current_status", "allowed_actions", "retry_after", "provider", "vm_id"} <= set(detail["properties"])


def test_create_documents_the_seed_request_and_the_idempotency_key(schema):
    create = schema["components"]["schemas"]["VMCreate"]
    assert set(create["required"]) == {"name", "workspace_id", "provider", "type", "region", "image_id"}
    assert (create["properties"]["name"]["minLength"], create["properties"]["name"]["maxLength"]) == (3, 100)
    assert {"zone", "account_id", "metadata"} <= set(create["properties"])
    parameters = schema["paths"]["/api/v1/vms/"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)
    assert "Idempotency-Key" in schema["info"]["description"] and "429" in schema["info"]["description"]


def test_every_operation_but_the_token_endpoint_needs_authentication(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            names = {name for requirement in operation.get("security", [{}]) for name in requirement}
            if path == "/api/v1/auth/token/":
                assert names == set(), path
            else:
                assert names == {"tokenAuth", "cookieAuth"}, (method, path)


def test_docs_are_served_without_a_cdn_and_without_inline_script_or_style():
    client = Client()
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert html_problems(html, full_page=True) == []
    for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", html):
        assert client.get(asset).status_code == 200, asset
