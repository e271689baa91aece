"""Reads that depend on who asks: a VM of another workspace is not found, everywhere."""
from uuid import UUID

from django.db.models import Q, QuerySet

from vms.access import Access
from vms.models import VM


def vms_visible_to(access: Access) -> QuerySet[VM]:
    return VM.objects.filter(
        Q(workspace_id__in=access.workspace_ids()) | Q(pk__in=list(access.shared_vm_permissions))
    ).select_related("account", "workspace")


def vm_get_visible(access: Access, vm_id) -> VM:
    """The VM, or VM.DoesNotExist when it does not exist or this user may not see it (a 404 either way)."""
    try:
        vm_id = UUID(str(vm_id))
    except ValueError:
        raise VM.DoesNotExist from None
    return vms_visible_to(access).get(pk=vm_id)


def vm_get(vm_id) -> VM:
    return VM.objects.select_related("account", "workspace").get(pk=vm_id)


def vm_get_status(vm_id) -> str:
    return VM.objects.values_list("status", flat=True).get(pk=vm_id)


def vms_list(*, limit: int = 50, offset: int = 0) -> QuerySet[VM]:
    return VM.objects.select_related("account", "workspace")[offset : offset + limit]


def vms_in_workspace(workspace_id) -> QuerySet[VM]:
    return VM.objects.filter(workspace_id=workspace_id).select_related("account", "workspace")


def vms_with_status(status: str, *, limit: int = 50, offset: int = 0) -> QuerySet[VM]:
    return VM.objects.filter(status=status).select_related("account", "workspace")[offset : offset + limit]


def vm_check_access(user, vm: VM, action: str = "view") -> bool:
    return Access(user).can(vm, action)


ORDERINGS = {
    "name": ("name", "id"), "-name": ("-name", "id"),
    "status": ("status", "name"), "-status": ("-status", "name"),
    "created": ("created_at", "id"), "-created": ("-created_at", "id"),
}
DEFAULT_ORDERING = "-created"


def vms_filtered(
    queryset: QuerySet[VM], *, workspace_id=None, status: str = "", provider: str = "", region: str = "",
    search: str = "", ordering: str = "",
) -> QuerySet[VM]:
    """The filters, search and orderings the dashboard list and the API share (values already validated)."""
    if workspace_id:
        queryset = queryset.filter(workspace_id=workspace_id)
    if status:
        queryset = queryset.filter(status=status)
    if provider:
        queryset = queryset.filter(provider=provider)
    if region:
        queryset = queryset.filter(region=region)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(instance_id__icontains=search))
    return queryset.order_by(*ORDERINGS.get(ordering or DEFAULT_ORDERING, ORDERINGS[DEFAULT_ORDERING]))
