websocket_urlpatterns: list = []  # filled by the live-status consumer
