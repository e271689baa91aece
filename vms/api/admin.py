from django.contrib import admin

from vms.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be looked at and revoked (deleted) here, never made or shown: keys exist only hashed."""

    list_display = ["name", "user", "key_prefix", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "key_prefix"]
    readonly_fields = ["user", "name", "key_prefix", "created_at", "last_used_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
