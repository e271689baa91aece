import uuid

from django.conf import settings

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
            models.Index(fields=["workspace", "name"]),  # the list page sorted by name stays an index walk
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


class SyncTarget(models.Model):
    """One unit of status polling: a cloud account and a region (or "" for a whole project/subscription).

    Pollers lease due targets with SELECT ... FOR UPDATE SKIP LOCKED, so several pollers share the work
    with no coordinator, and a dead poller's lease simply expires.
    """

    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE, related_name="sync_targets")
    region = models.CharField(max_length=64, blank=True, default="")
    next_poll_at = models.DateTimeField(db_index=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=100, blank=True, default="")
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    throttled_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "region"], name="one_sync_target_per_account_region")]
        ordering = ["next_poll_at"]

    def __str__(self):
        return f"{self.account} / {self.region or 'all regions'}"


class IdempotencyKey(models.Model):
    """An API `Idempotency-Key`: the same key and body return the VM made the first time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    vm = models.ForeignKey(VM, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]
