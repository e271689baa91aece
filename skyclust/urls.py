from django.contrib import admin
from django.urls import include, path

from skyclust.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("vms.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api-tokens/", include("vms.api.page_urls")),
    path("", include("workspaces.urls")),
    path("", include("vms.urls")),
]
