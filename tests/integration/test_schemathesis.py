"""Fuzz the live OpenAPI schema with schemathesis: generated requests, valid and invalid, against the app
in-process (WSGI) with a real API token and the fake cloud.

Every response must conform to the schema (documented status code, body, content type, headers) and none
may be a 5xx. Not checked: "schema-valid data is accepted", because the schema cannot say that a region must
belong to the chosen provider or that a name must be free; such requests are rightly a 400.
"""
import logging
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests import factories
from vms.api import tokens
from vms.providers.base import CloudInstance
from vms.state import VMStatus

pytestmark = pytest.mark.django_db

MIN_REQUESTS = 500
POSITIVE_EXAMPLES, NEGATIVE_EXAMPLES, KNOWN_ID_EXAMPLES = 25, 12, 15


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/minute", "anon": "100000/minute", "token_obtain": "100000/minute"},
    }
    cache.clear()
    yield
    cache.clear()


@contextmanager
def connection_kept_open():
    """The WSGI handler closes the DB connection after each request; the test's transaction needs it open."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _run(operation, statuses: list, headers: dict, mode: GenerationMode, examples: int, **fixed) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @hypothesis_settings(
        max_examples=examples, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        response = case.call(headers=headers)
        statuses.append(response.status_code)
        case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])

    fuzz()


def _has_inputs(operation) -> bool:
    """An operation without parameters or body (its only header being Authorization) has nothing to send wrong."""
    return bool(len(operation.path_parameters) or len(operation.query) or operation.body)


def test_generated_requests_get_documented_answers_and_no_5xx(world, fake_cloud, unthrottled, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")  # thousands of expected 4xx lines otherwise
    known = [factories.make_vm(world.account, f"fuzz-{status.value}", status=status) for status in (VMStatus.RUNNING, VMStatus.STOPPED, VMStatus.TERMINATED)]
    for vm in known:  # the fake cloud has these instances, so lifecycle calls on them succeed
        fake_cloud.instances[vm.instance_id] = CloudInstance(vm.instance_id, vm.status, vm.status, vm.region, vm.zone, str(vm.pk), vm.name)
    _, key = tokens.token_create(user=world.owner, name="schemathesis")
    headers = {"Authorization": f"Token {key}"}
    valid_bodies = {  # random bodies rarely succeed; these do, so the success responses are checked too
        ("POST", "/api/v1/auth/token/"): {"username": world.viewer.username, "password": factories.PASSWORD},
        ("POST", "/api/v1/vms/"): {
            "name": "fuzz-created", "workspace_id": str(world.workspace.pk), "provider": "aws", "type": "t3.small",
            "region": "us-east-1", "image_id": "ami-0c7217cdde317cfec",
        },
    }

    statuses: list[int] = []
    with connection_kept_open():
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
        operations = [result.ok() for result in schema.get_all_operations()]
        # Token revocation goes last: a generated id may be the very token this run authenticates with.
        operations.sort(key=lambda op: (op.method.upper() == "DELETE" and "tokens" in op.path, op.path, op.method))
        for operation in operations:
            _run(operation, statuses, headers, GenerationMode.POSITIVE, POSITIVE_EXAMPLES)
            if _has_inputs(operation):
                _run(operation, statuses, headers, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
            if "{vm_id}" in operation.path:
                for vm in known:
                    _run(operation, statuses, headers, GenerationMode.POSITIVE, KNOWN_ID_EXAMPLES // len(known), path_parameters={"vm_id": str(vm.pk)})
            body = valid_bodies.get((operation.method.upper(), operation.path))
            if body is not None:
                _run(operation, statuses, headers, GenerationMode.POSITIVE, KNOWN_ID_EXAMPLES, body=body)

    assert len(statuses) >= MIN_REQUESTS, f"only {len(statuses)} requests"
    assert not [code for code in statuses if code >= 500]
    assert {200, 201, 204, 400, 401, 404, 409} <= set(statuses)  # the run reached every kind of answer, not only 401s
