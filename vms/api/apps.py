from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API: its own app only because API tokens need a table (and vms migrations are shared)."""

    name = "vms.api"
    label = "api"
    verbose_name = "REST API"
