from django.urls import path

from vms import views

urlpatterns = [
    path("w/<str:ws>/vms/", views.VMListView.as_view(), name="vm-list"),
    path("w/<str:ws>/vms/new/", views.VMCreateView.as_view(), name="vm-create"),
    path("w/<str:ws>/vms/new/options/", views.VMCreateOptionsView.as_view(), name="vm-create-options"),
    path("w/<str:ws>/vms/bulk/", views.VMBulkActionView.as_view(), name="vm-bulk"),
    path("vms/metadata-row/", views.MetadataRowView.as_view(), name="vm-metadata-row"),
    path("vms/<uuid:vm_id>/", views.VMDetailView.as_view(), name="vm-detail"),
    path("vms/<uuid:vm_id>/edit/", views.VMEditView.as_view(), name="vm-edit"),
    path("vms/<uuid:vm_id>/share/", views.VMShareView.as_view(), name="vm-share"),
    path("vms/<uuid:vm_id>/unshare/", views.VMUnshareView.as_view(), name="vm-unshare"),
    path("vms/<uuid:vm_id>/<slug:action>/", views.VMActionView.as_view(), name="vm-action"),
]
