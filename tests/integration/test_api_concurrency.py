"""Concurrent creates with one Idempotency-Key (a retried CI step racing its first try) make one VM."""
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests import factories
from vms.api import tokens
from vms.models import VM

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONCURRENT = 8


def test_concurrent_creates_with_one_idempotency_key_make_one_vm(fake_cloud):
    world = factories.build_world()
    _, key = tokens.token_create(user=world.owner, name="ci")
    body = {"name": "race-1", "workspace_id": str(world.workspace.pk), "provider": "aws", "type": "t3.small",
            "region": "us-east-1", "image_id": "ami-0c7217cdde317cfec"}
    barrier = threading.Barrier(CONCURRENT)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def create():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            response = client.post("/api/v1/vms/", body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-7")
            answer = (response.status_code, response.json().get("id", ""))
        finally:
            connection.close()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=create) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == CONCURRENT
    assert {status for status, _ in answers} <= {200, 201}
    assert len({vm_id for _, vm_id in answers}) == 1
    assert VM.objects.count() == 1 and fake_cloud.calls["create"] == 1
