from django.urls import path

from vms.consumers import VMEventsConsumer

websocket_urlpatterns = [
    path("ws/workspaces/<uuid:workspace_id>/", VMEventsConsumer.as_asgi(), name="ws-workspace-events"),
]
