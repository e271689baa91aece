"""What one user sees of a VM, and the out-of-band fragments that update every open page after a change.

The list row, the detail status block and the workspace summary are each one named partial. The full
page includes it, an HTMX action answers with it and a WebSocket push sends it out-of-band: one piece of
markup, three uses. Buttons come from `Access`, which asks the transition table and the user's permission.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone

from vms import state
from vms.access import Access
from vms.models import VM
from vms.providers.registry import PROVIDER_CHOICES
from vms.selectors import vms_visible_to
from vms.state import VMStatus
from workspaces.models import AuditEvent
from workspaces.roles import VIEW

ACTION_LABELS = {"start": "Start", "stop": "Stop", "restart": "Restart", "terminate": "Terminate", "delete": "Delete"}
ROW_ACTIONS = (*state.LIFECYCLE_ACTIONS, "delete")
PROVIDER_LABELS = dict(PROVIDER_CHOICES)
SUMMARY_LIST_LIMIT = 8


@dataclass(frozen=True)
class ActionButton:
    action: str
    label: str
    confirm: str = ""  # the question asked before a destructive action, naming the VM

    @property
    def destructive(self) -> bool:
        return bool(self.confirm)


@dataclass
class VMView:
    """A VM with the buttons this user may press now."""

    vm: VM
    buttons: list[ActionButton] = field(default_factory=list)

    @property
    def selectable(self) -> bool:
        """Offered for bulk actions when any lifecycle action is possible."""
        return any(button.action in state.LIFECYCLE_ACTIONS for button in self.buttons)

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.vm.provider, self.vm.provider)


def confirmation(action: str, vm: VM) -> str:
    if action == "terminate":
        return f"Terminate {vm.name}? Its cloud instance and its disks are destroyed."
    if action == "delete":
        return f"Delete {vm.name} from SkyClust? Its record is removed (the audit log keeps its history)."
    return ""


def vm_view(vm: VM, access: Access) -> VMView:
    actions = access.allowed_actions(vm)
    if access.can_delete(vm):
        actions.append("delete")
    return VMView(vm, [ActionButton(action, ACTION_LABELS[action], confirmation(action, vm)) for action in actions])


def vm_views(vms, access: Access) -> list[VMView]:
    return [vm_view(vm, access) for vm in vms]


# -- workspace summary ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    count: int
    percent: int  # of the largest bar, for the chart's width


@dataclass
class WorkspaceSummary:
    workspace_id: UUID
    total: int
    by_provider: list[Bar]
    by_status: list[Bar]
    in_transition: list[VM]
    in_error: list[VM]
    events: list[AuditEvent]


def _bars(counts: dict[str, int], labels: dict[str, str]) -> list[Bar]:
    largest = max(counts.values(), default=0) or 1
    return [Bar(key, label, counts.get(key, 0), round(100 * counts.get(key, 0) / largest)) for key, label in labels.items()]


def workspace_summary(workspace_id) -> WorkspaceSummary:
    """Counts by provider and status (one grouped query), the VMs in transition or in error, the newest events."""
    by_provider: dict[str, int] = {}
    by_status: dict[str, int] = {}
    rows = VM.objects.filter(workspace_id=workspace_id).values_list("provider", "status").annotate(n=Count("id")).order_by()
    for provider, status, n in rows:
        by_provider[provider] = by_provider.get(provider, 0) + n
        by_status[status] = by_status.get(status, 0) + n
    vms = VM.objects.filter(workspace_id=workspace_id).only("id", "name", "status", "provider", "last_error", "updated_at", "workspace_id")
    return WorkspaceSummary(
        workspace_id=workspace_id,
        total=sum(by_status.values()),
        by_provider=_bars(by_provider, PROVIDER_LABELS),
        by_status=[bar for bar in _bars(by_status, {s.value: s.label for s in VMStatus}) if bar.count],
        in_transition=list(vms.filter(status__in=state.TRANSITIONAL).order_by("-updated_at")[:SUMMARY_LIST_LIMIT]),
        in_error=list(vms.filter(status=VMStatus.ERROR).order_by("-updated_at")[:SUMMARY_LIST_LIMIT]),
        events=list(AuditEvent.objects.filter(workspace_id=workspace_id).order_by("-created_at", "-id")[:10]),
    )


# -- the push after a change ----------------------------------------------------------------------

def vm_change_fragments(*, vm_id, workspace_id, access: Access, event: str = "") -> str:
    """Out-of-band swaps for one changed VM as this user sees it: list row, detail status block, summary.

    A new VM ("vm.created") is inserted at the top of an open list that shows the newest VMs; a VM that
    is gone (or no longer visible to this user) removes its row and replaces its status block with a
    notice. Elements that are not on the open page are ignored by htmx.
    """
    vm = vms_visible_to(access).filter(pk=vm_id).first()
    if vm is None:
        fragments = [
            render_to_string("vms/vm_list.html#vm-row-removed", {"vm_id": vm_id}),
            render_to_string("vms/vm_detail.html#vm-status-removed", {"vm_id": vm_id}),
        ]
    else:
        context = {"row": vm_view(vm, access), "oob": event != "vm.created", "now": timezone.now()}
        fragments = [
            render_to_string("vms/vm_list.html#vm-row-new" if event == "vm.created" else "vms/vm_list.html#vm-row", context),
            render_to_string("vms/vm_detail.html#vm-status", context),
        ]
    if access.has_workspace_permission(UUID(str(workspace_id)), VIEW):
        fragments.append(summary_fragment(workspace_id))
    return "\n".join(fragments)


def summary_fragment(workspace_id) -> str:
    return render_to_string(
        "workspaces/overview.html#summary", {"summary": workspace_summary(workspace_id), "oob": True, "now": timezone.now()}
    )


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """"12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for no moment."""
    if moment is None:
        return "never"
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
