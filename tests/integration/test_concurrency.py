"""20 concurrent starts of one stopped VM: one wins, 19 get a conflict, the cloud hears one call."""
import threading

import pytest
from django.db import connection

from tests import factories
from vms import services
from vms.state import InvalidTransition, VMStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_concurrent_starts_make_one_provider_call(fake_cloud):
    world = factories.build_world()
    vm = services.vm_create(actor=world.owner, workspace=world.workspace, account=world.account, name="race-1",
                            instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec")
    services.vm_stop(vm_id=vm.pk, actor=world.owner)
    services.vm_update_status(vm_id=vm.pk, status=VMStatus.STOPPED)
    fake_cloud.calls.clear()

    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def start():
        try:
            barrier.wait()
            services.vm_start(vm_id=vm.pk, actor=world.owner)
            result = "ok"
        except InvalidTransition as error:
            result = f"conflict:{error.current}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes.count("ok") == 1
    assert outcomes.count("conflict:starting") == 19
    assert fake_cloud.calls["start"] == 1
