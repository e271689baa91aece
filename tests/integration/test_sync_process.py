"""The poller as a process and as a thread: clean exit on SIGTERM, and events published from the in-server
thread reach the server's own event loop (the in-memory channel layer of `make run`)."""
import asyncio
import signal
import subprocess
import sys
import threading
import time

import pytest
from channels.layers import get_channel_layer

from tests import factories, liveserver
from vms import services
from vms.events import workspace_group
from vms.state import VMStatus
from vms.sync import run_in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def test_poll_providers_runs_until_sigterm_and_exits_cleanly():
    env = liveserver.process_env(POLL_SETTLED_INTERVAL="60")
    poller = subprocess.Popen([sys.executable, "manage.py", "poll_providers"], cwd=liveserver.ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "polling until SIGTERM" in poller.stdout.readline()
        poller.send_signal(signal.SIGTERM)
        out, err = poller.communicate(timeout=15)
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.wait()
    assert poller.returncode == 0, err
    assert "poll_providers stopped" in out


async def test_in_server_poller_publishes_on_the_servers_loop(fake_cloud):
    """`make run` passes daphne's loop: the poller's events must land on it, as a consumer there receives them."""
    from channels.db import database_sync_to_async

    def arrange():
        world = factories.build_world()
        vm = services.vm_create(actor=world.owner, workspace=world.workspace, account=world.account, name="web-1",
                                instance_type="t3.small", region="us-east-1", image_id="ami-0c7217cdde317cfec")
        fake_cloud.set_status(vm.instance_id, VMStatus.STOPPED)
        return world, vm

    world, vm = await database_sync_to_async(arrange)()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(workspace_group(world.workspace.pk), channel)
    stop = threading.Event()
    thread = run_in_thread(stop, loop=asyncio.get_running_loop(), workers=2)
    started = time.monotonic()
    try:
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
        # published from another thread without the loop, the message would sit unseen until the loop woke
        # for some other reason (here: the 10 s timeout)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive()
    assert (message["event"], message["vm_id"], message["new_status"]) == ("vm.status.changed", str(vm.pk), "stopped")
