import uuid

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from vms.providers.base import AccountConfig
from vms.providers.registry import PROVIDER_CHOICES
from workspaces import crypto
from workspaces.roles import Role


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("operate_vms", "Start, stop and restart VMs"),
            ("manage_vms", "Create, edit, terminate and delete VMs"),
            ("manage_members", "Manage members and roles"),
            ("manage_accounts", "Manage cloud accounts"),
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="one_membership_per_user")]
        ordering = ["workspace", "user__username"]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.workspace}"


class WorkspaceUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Workspace, on_delete=models.CASCADE)


class WorkspaceGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Workspace, on_delete=models.CASCADE)


class CloudAccount(models.Model):
    """One set of credentials for one cloud, owned by a workspace. Secrets are write-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="accounts")
    provider = models.CharField(max_length=16, choices=PROVIDER_CHOICES)
    name = models.CharField(max_length=100)
    # Fernet token of a JSON object: AWS access key pair, GCP service-account JSON, Azure client secret.
    # Empty means ambient credentials (the SDK's default chain).
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    # Non-secret settings: GCP project_id; Azure subscription_id, resource_group, tenant_id, client_id.
    settings = models.JSONField(default=dict, blank=True)
    endpoint_url = models.URLField(
        blank=True, default="", help_text="Optional: point the SDK at another endpoint (sandbox, LocalStack, sovereign cloud)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_verify_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["workspace", "provider", "name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="unique_account_name_per_workspace")]

    def __str__(self):
        return f"{self.name} ({self.get_provider_display()})"

    @property
    def uses_ambient_credentials(self) -> bool:
        return not self.credentials_encrypted

    def set_credentials(self, credentials: dict) -> None:
        self.credentials_encrypted = crypto.encrypt_json(credentials) if credentials else ""

    def adapter_config(self) -> AccountConfig:
        return AccountConfig(
            provider=self.provider,
            name=self.name,
            credentials=crypto.decrypt_json(self.credentials_encrypted),
            settings=dict(self.settings),
            endpoint_url=self.endpoint_url,
        )


class AuditEvent(models.Model):
    """Append-only record of who did what to which target, with the outcome."""

    class Source(models.TextChoices):
        USER = "user", "Dashboard"
        API = "api", "API"
        SYNC = "sync", "Status sync"
        SYSTEM = "system", "System"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_repr = models.CharField(max_length=150)
    source = models.CharField(max_length=8, choices=Source.choices)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64, db_index=True)
    target_repr = models.CharField(max_length=200)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    message = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_repr} {self.action} {self.target_repr} ({self.outcome})"
