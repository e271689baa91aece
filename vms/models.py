import uuid

from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from vms import state
from vms.providers.base import InstanceRef
from vms.providers.registry import PROVIDER_CHOICES
from vms.state import STATUS_CHOICES, VMStatus
from workspaces.models import CloudAccount, Workspace


class VM(models.Model):
    class StatusSource(models.TextChoices):
        ACTION = "action", "Action"
        POLL = "poll", "Poll"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # also the cloud idempotency key
    name = models.CharField(max_length=100)
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="vms")
    account = models.ForeignKey(CloudAccount, on_delete=models.PROTECT, related_name="vms")
    provider = models.CharField(max_length=16, choices=PROVIDER_CHOICES)
    instance_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=VMStatus.PENDING)
    instance_type = models.CharField("type", max_length=64)
    region = models.CharField(max_length=64)
    zone = models.CharField(max_length=64, blank=True, default="")
    image_id = models.CharField(max_length=256)
    cpus = models.PositiveIntegerField()
    memory_mb = models.PositiveIntegerField("memory (MB)")
    storage_gb = models.PositiveIntegerField("storage (GB)")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_checked_at = models.DateTimeField(null=True, blank=True)
    status_source = models.CharField(max_length=8, choices=StatusSource.choices, default=StatusSource.ACTION)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "VM"
        ordering = ["-created_at", "id"]
        permissions = [("operate_vm", "Start, stop and restart this VM")]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"],
                condition=~Q(status=VMStatus.TERMINATED),
                name="unique_live_vm_name_per_workspace",
                violation_error_message="A live VM with this name already exists in this workspace.",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "status"]),
            models.Index(fields=["workspace", "-created_at"]),
            models.Index(fields=["account", "region"]),
        ]

    def __str__(self):
        return self.name

    @property
    def ref(self) -> InstanceRef:
        return InstanceRef(self.instance_id, self.region, self.zone)

    @property
    def is_provisioned(self) -> bool:
        return bool(self.instance_id)

    @property
    def is_transitional(self) -> bool:
        return state.is_transitional(self.status)

    @property
    def allowed_transitions(self) -> list[str]:
        """Lifecycle actions the transition table allows now (before asking about the user's permission)."""
        return state.allowed_actions(self.status)

    @property
    def is_deletable(self) -> bool:
        return state.can_delete(self.status, provisioned=self.is_provisioned)


class VMUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(VM, on_delete=models.CASCADE)


class VMGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(VM, on_delete=models.CASCADE)
