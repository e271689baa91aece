"""Live status for open pages: one WebSocket per page, subscribed to its workspace's channel group.

On connect the session's user must have `view_workspace` on the workspace; otherwise the socket is accepted
and closed at once with code 4403 (a refused handshake would look like a network failure, 1006, and the
htmx ws extension would keep reconnecting; a 4xxx close it does not retry). On every `vm.event` the
consumer asks again (a removed member is disconnected and receives nothing more) and sends the
out-of-band fragments of `vms.rendering.vm_change_fragments`, rendered for that user's permissions.

Hundreds of sockets of one process receive the same event within a few milliseconds. Their work is done
together: the consumers of an event that arrive within BATCH_SECONDS form one batch, and one trip to the
database thread loads all their users' permissions (two queries) and renders the fragments once per
distinct set of permissions. Nothing is cached beyond the event, so every event is checked afresh.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model

from vms.access import Access
from vms.events import workspace_group
from vms.rendering import vm_change_fragments
from workspaces.roles import VIEW

logger = logging.getLogger(__name__)

ACCESS_DENIED = 4403
BATCH_SECONDS = 0.02
DENIED = object()  # in a batch's answers: this user may no longer see the workspace


class VMEventsConsumer(AsyncWebsocketConsumer):
    group_name: str | None = None

    async def connect(self):
        self.workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        user = self.scope.get("user")
        self.user_id = user.pk if user is not None and user.is_authenticated else None
        allowed = self.user_id is not None and await database_sync_to_async(may_view)(self.user_id, self.workspace_id)
        if not allowed:
            await self.accept()
            await self.close(code=ACCESS_DENIED)
            return
        self.group_name = workspace_group(self.workspace_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self._leave()

    async def receive(self, text_data=None, bytes_data=None):
        pass  # pages only listen

    async def vm_event(self, message):
        if self.group_name is None:
            return
        html = await fragments_for(self.user_id, message)
        if html is DENIED:
            await self._leave()
            await self.close(code=ACCESS_DENIED)
        elif html:
            await self.send(text_data=html)

    async def _leave(self):
        group, self.group_name = self.group_name, None
        if group is not None:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer forgets the channel after its group expiry anyway
                logger.warning("could not leave %s", group, exc_info=True)


def may_view(user_id, workspace_id) -> bool:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user is not None and Access(user).has_workspace_permission(workspace_id, VIEW)


def render_for_users(message: dict, user_ids: set) -> dict:
    """user id -> the HTML for this event as that user sees it ("" for nothing to send), or DENIED."""
    workspace_id = UUID(str(message["workspace_id"]))
    accesses = Access.for_users(get_user_model().objects.filter(pk__in=user_ids, is_active=True))
    answers, rendered = {}, {}
    for user_id in user_ids:
        access = accesses.get(user_id)
        if access is None or not access.has_workspace_permission(workspace_id, VIEW):
            answers[user_id] = DENIED
            continue
        permissions = (frozenset(access.workspace_permissions.items()), frozenset(access.shared_vm_permissions.items()))
        if permissions not in rendered:
            rendered[permissions] = _render(message, access)
        answers[user_id] = rendered[permissions]
    return answers


def _render(message: dict, access: Access) -> str:
    try:
        return vm_change_fragments(
            vm_id=message["vm_id"], workspace_id=message["workspace_id"], access=access, event=message.get("event", "")
        )
    except Exception:  # a page that misses one update is healed by the next; the socket stays open
        logger.exception("could not render %s for VM %s", message.get("event"), message.get("vm_id"))
        return ""


@dataclass
class _Batch:
    message: dict
    user_ids: set = field(default_factory=set)
    answers: asyncio.Future | None = None


_open_batches: dict[tuple, _Batch] = {}


async def fragments_for(user_id, message: dict):
    """Join this process's open batch for the event (or open one) and wait for this user's answer."""
    loop = asyncio.get_running_loop()
    key = (loop, tuple(sorted((name, str(value)) for name, value in message.items())))
    batch = _open_batches.get(key)
    if batch is None:
        batch = _open_batches[key] = _Batch(message, answers=loop.create_future())
        loop.call_later(BATCH_SECONDS, _start, key, batch)
    batch.user_ids.add(user_id)
    try:
        answers = await asyncio.shield(batch.answers)
    except Exception:  # the database may be briefly away: skip this update, the next one heals the page
        logger.exception("could not prepare %s for VM %s", message.get("event"), message.get("vm_id"))
        return ""
    return answers.get(user_id, "")


def _start(key: tuple, batch: _Batch) -> None:
    """Close the batch (later arrivals open a new one) and render it in the database thread."""
    if _open_batches.get(key) is batch:
        del _open_batches[key]

    async def run():
        try:
            batch.answers.set_result(await database_sync_to_async(render_for_users)(batch.message, set(batch.user_ids)))
        except Exception as error:  # noqa: BLE001 - handed to every waiting consumer
            batch.answers.set_exception(error)

    asyncio.ensure_future(run())
