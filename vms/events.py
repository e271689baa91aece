"""Publish VM changes to the workspace's channel group, only after the transaction commits.

A lost message is healed by the next poll (status sync is level-triggered), so a failed publish is
logged, never raised into the command that caused it.
"""
import logging
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "vm.event"  # handled by VMEventsConsumer.vm_event
EVENTS = ("vm.created", "vm.started", "vm.stopped", "vm.restarted", "vm.terminated", "vm.deleted", "vm.updated", "vm.status.changed")


def workspace_group(workspace_id) -> str:
    return f"workspace.{UUID(str(workspace_id)).hex}"


def event_payload(vm, event: str, *, old_status: str | None = None) -> dict:
    return {
        "type": MESSAGE_TYPE,
        "event": event,
        "vm_id": str(vm.pk),
        "workspace_id": str(vm.workspace_id),
        "name": vm.name,
        "old_status": old_status if old_status is not None else vm.status,
        "new_status": vm.status,
    }


def publish(workspace_id, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(workspace_group(workspace_id), payload)
    except Exception:
        logger.exception("could not publish %s for VM %s", payload.get("event"), payload.get("vm_id"))


def vm_changed(vm, event: str, *, old_status: str | None = None) -> None:
    """Publish `event` for `vm` once the surrounding transaction commits (at once outside one)."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    payload = event_payload(vm, event, old_status=old_status)
    transaction.on_commit(lambda: publish(vm.workspace_id, payload))
