"""GET /healthz: is the database reachable, does the channel layer carry a message?"""
import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

CHANNEL_TIMEOUT_SECONDS = 2.0


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as error:  # any driver error means "down"; its class name says which
        return f"down: {type(error).__name__}"


async def _channel_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), CHANNEL_TIMEOUT_SECONDS)
    if message.get("token") != token:
        raise RuntimeError("unexpected message")


def _channel_layer_state() -> str:
    try:
        async_to_sync(_channel_round_trip)()
        return "ok"
    except Exception as error:
        return f"down: {type(error).__name__}"


@require_GET
def healthz(request):
    checks = {"database": _database_state(), "channel_layer": _channel_layer_state()}
    healthy = all(state == "ok" for state in checks.values())
    layer = get_channel_layer()
    body = {"status": "ok" if healthy else "degraded", "checks": checks, "channel_layer_backend": type(layer).__name__}
    return JsonResponse(body, status=200 if healthy else 503)
