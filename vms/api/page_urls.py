from django.urls import path

from vms.api import pages

urlpatterns = [
    path("", pages.token_list, name="api-tokens"),
    path("<int:token_id>/revoke/", pages.token_revoke, name="api-token-revoke"),
]
