from django.contrib import admin, messages
from django.utils import timezone
from django.core.exceptions import ValidationError

from vms import services, state
from vms.models import VM, SyncTarget
from vms.providers.base import ProviderError


@admin.register(VM)
class VMAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "provider", "status", "instance_type", "region", "instance_id", "status_checked_at", "created_at"]
    list_filter = ["provider", "status", "workspace"]
    search_fields = ["name", "instance_id", "id"]
    list_select_related = ["workspace", "account"]
    readonly_fields = [
        "id", "workspace", "account", "provider", "instance_id", "status", "instance_type", "region", "zone", "image_id",
        "cpus", "memory_mb", "storage_gb", "created_at", "updated_at", "status_checked_at", "status_source", "last_error",
    ]
    fields = ["name", "metadata", *readonly_fields]
    actions = ["start_vms", "stop_vms", "restart_vms", "terminate_vms"]

    def has_add_permission(self, request):
        return False  # VMs are created through the dashboard or API, which provision the instance

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a row would orphan its instance; terminate first (lifecycle action)

    def save_model(self, request, obj, form, change):
        try:
            services.vm_update(vm_id=obj.pk, actor=request.user, name=obj.name, metadata=obj.metadata, authorize=False)
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)

    def _lifecycle(self, request, queryset, action: str):
        done, refused = [], []
        for vm in queryset:
            try:
                services.LIFECYCLE_COMMANDS[action](vm_id=vm.pk, actor=request.user, authorize=False)
                done.append(vm.name)
            except state.InvalidTransition as error:
                refused.append(f"{vm.name}: {error}")
            except ProviderError as error:
                refused.append(f"{vm.name}: {error.message}")
        if done:
            self.message_user(request, f"{action.capitalize()} sent to {', '.join(done)}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    @admin.action(description="Start selected VMs")
    def start_vms(self, request, queryset):
        self._lifecycle(request, queryset, "start")

    @admin.action(description="Stop selected VMs")
    def stop_vms(self, request, queryset):
        self._lifecycle(request, queryset, "stop")

    @admin.action(description="Restart selected VMs")
    def restart_vms(self, request, queryset):
        self._lifecycle(request, queryset, "restart")

    @admin.action(description="Terminate selected VMs")
    def terminate_vms(self, request, queryset):
        self._lifecycle(request, queryset, "terminate")


@admin.register(SyncTarget)
class SyncTargetAdmin(admin.ModelAdmin):
    """Status sync at a glance: which account/region each poller lists, when next, and why one is failing."""

    list_display = ["__str__", "next_poll_at", "last_polled_at", "leased_by", "leased_until", "consecutive_failures", "throttled_until", "last_error"]
    list_filter = ["account__provider", ("last_error", admin.EmptyFieldListFilter)]
    search_fields = ["account__name", "region", "last_error"]
    list_select_related = ["account"]
    readonly_fields = [
        "account", "region", "next_poll_at", "leased_until", "leased_by", "last_polled_at", "last_error",
        "consecutive_failures", "throttled_until",
    ]
    actions = ["poll_now"]

    def has_add_permission(self, request):
        return False  # targets follow the VMs: the poller makes and drops them

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Poll selected targets at the next tick (a throttled one still waits)")
    def poll_now(self, request, queryset):
        count = queryset.update(next_poll_at=timezone.now())
        self.message_user(request, f"{count} target(s) will be polled at the next tick.", messages.SUCCESS)
