from django.urls import path

from workspaces import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("w/<str:ws>/", views.WorkspaceOverviewView.as_view(), name="workspace"),
    path("w/<str:ws>/settings/", views.SettingsView.as_view(), name="workspace-settings"),
    path("w/<str:ws>/settings/members/", views.MembersView.as_view(), name="members"),
    path("w/<str:ws>/settings/members/<int:membership_id>/role/", views.MemberRoleView.as_view(), name="member-role"),
    path("w/<str:ws>/settings/members/<int:membership_id>/remove/", views.MemberRemoveView.as_view(), name="member-remove"),
    path("w/<str:ws>/settings/accounts/", views.AccountsView.as_view(), name="accounts"),
    path("w/<str:ws>/settings/accounts/new/<slug:provider>/", views.AccountCreateView.as_view(), name="account-create"),
    path("w/<str:ws>/settings/accounts/<uuid:account_id>/secret/", views.AccountSecretView.as_view(), name="account-secret"),
    path("w/<str:ws>/settings/accounts/<uuid:account_id>/verify/", views.AccountVerifyView.as_view(), name="account-verify"),
    path("w/<str:ws>/settings/accounts/<uuid:account_id>/remove/", views.AccountRemoveView.as_view(), name="account-remove"),
    path("w/<str:ws>/settings/sharing/", views.SharingView.as_view(), name="sharing"),
]
