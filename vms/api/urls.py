from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from vms.api import views
from vms.api.docs import DESCRIPTION
from vms.api.errors import api_not_found

app_name = "api"

urlpatterns = [
    path("vms/", views.VMListCreateView.as_view(), name="vm-list"),
    path("vms/<uuid:vm_id>/", views.VMDetailView.as_view(), name="vm-detail"),
    *(
        path(f"vms/<uuid:vm_id>/{action}/", view.as_view(), name=f"vm-{action}")
        for action, view in views.VM_ACTION_VIEWS.items()
    ),
    path("workspaces/", views.WorkspaceListView.as_view(), name="workspace-list"),
    path("workspaces/<uuid:workspace_id>/", views.WorkspaceDetailView.as_view(), name="workspace-detail"),
    path("audit-events/", views.AuditEventListView.as_view(), name="audit-event-list"),
    path("catalog/", views.CatalogView.as_view(), name="catalog"),
    path("auth/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/tokens/", views.TokenListView.as_view(), name="token-list"),
    path("auth/tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="token-detail"),
    path("schema/", SpectacularAPIView.as_view(custom_settings={"DESCRIPTION": DESCRIPTION}), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"), name="docs"),
    re_path(r"^", api_not_found),  # unknown paths under /api/v1/ get the API's error shape too
]
