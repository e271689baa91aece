"""Listen to a workspace's channel group the way a browser's consumer would."""
import asyncio
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from vms.events import workspace_group


async def _drain(layer, channel: str, timeout: float) -> list[dict]:
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), timeout))
        except asyncio.TimeoutError:
            return messages


@contextmanager
def captured_events(workspace_id, timeout: float = 0.3):
    """Yields a list that, after the block, holds every message published to the workspace's group."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)("test.")
    group = workspace_group(workspace_id)
    async_to_sync(layer.group_add)(group, channel)
    received: list[dict] = []
    try:
        yield received
        received.extend(async_to_sync(_drain)(layer, channel, timeout))
    finally:
        async_to_sync(layer.group_discard)(group, channel)
