"""Workspace writes: workspaces, memberships (roles as guardian object permissions), cloud accounts."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from vms.access import Access
from workspaces import audit
from workspaces.models import AuditEvent, CloudAccount, Membership, Workspace, WorkspaceUserObjectPermission
from workspaces.roles import ALL_WORKSPACE_PERMISSIONS, MANAGE_ACCOUNTS, MANAGE_MEMBERS, ROLE_PERMISSIONS, VIEW, Role

# Per provider: which settings an account needs, and which credential fields are secret.
ACCOUNT_SETTINGS = {"aws": (), "gcp": ("project_id",), "azure": ("subscription_id", "resource_group")}
ACCOUNT_SECRETS = {
    "aws": ("access_key_id", "secret_access_key"),
    "gcp": ("service_account_json",),
    "azure": ("tenant_id", "client_id", "client_secret"),
}


def _require(actor, workspace: Workspace, permission: str, doing: str) -> None:
    access = Access(actor)
    if not access.has_workspace_permission(workspace.pk, VIEW):
        raise Workspace.DoesNotExist
    if not access.has_workspace_permission(workspace.pk, permission):
        raise PermissionDenied(f"Your role does not allow you to {doing} in {workspace.name}.")


def _grant_role(user, workspace: Workspace, role: str) -> None:
    WorkspaceUserObjectPermission.objects.filter(
        user=user, content_object=workspace, permission__codename__in=ALL_WORKSPACE_PERMISSIONS
    ).delete()
    for codename in ROLE_PERMISSIONS[role]:
        assign_perm(f"workspaces.{codename}", user, workspace)


# -- workspaces and members -----------------------------------------------------------------------

def workspace_create(*, name: str, actor) -> Workspace:
    name = (name or "").strip()
    if not 2 <= len(name) <= 100:
        raise ValidationError({"name": "Name must be 2 to 100 characters."})
    slug = slugify(name)[:100] or "workspace"
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(name=name, slug=slug)
            Membership.objects.create(user=actor, workspace=workspace, role=Role.OWNER)
            _grant_role(actor, workspace, Role.OWNER)
            audit.record(action="workspace.create", target=workspace, workspace=workspace, actor=actor, after={"name": name})
    except IntegrityError:
        raise ValidationError({"name": f"A workspace named {name!r} already exists."}) from None
    return workspace


def _owners_left(workspace: Workspace, without_user) -> int:
    return Membership.objects.filter(workspace=workspace, role=Role.OWNER).exclude(user=without_user).count()


def _check_owner_change(actor, workspace: Workspace, *roles: str) -> None:
    if Role.OWNER in roles and not Membership.objects.filter(user=actor, workspace=workspace, role=Role.OWNER).exists():
        raise PermissionDenied("Only an owner can make or unmake owners.")


def member_add(*, workspace: Workspace, user, role: str, actor, authorize: bool = True) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of: {', '.join(Role.values)}."})
    if authorize:
        _require(actor, workspace, MANAGE_MEMBERS, "manage members")
        _check_owner_change(actor, workspace, role)
    with transaction.atomic():
        if Membership.objects.filter(user=user, workspace=workspace).exists():
            raise ValidationError({"username": f"{user.get_username()} is already a member."})
        membership = Membership.objects.create(user=user, workspace=workspace, role=role)
        _grant_role(user, workspace, role)
        audit.record(action="member.add", target=membership, workspace=workspace, actor=actor, after={"user": user.get_username(), "role": role})
    return membership


def member_change_role(*, membership: Membership, role: str, actor, authorize: bool = True) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of: {', '.join(Role.values)}."})
    workspace = membership.workspace
    if authorize:
        _require(actor, workspace, MANAGE_MEMBERS, "manage members")
        _check_owner_change(actor, workspace, role, membership.role)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        before = membership.role
        if before == Role.OWNER and role != Role.OWNER and _owners_left(workspace, membership.user_id) == 0:
            raise ValidationError({"role": "The last owner cannot be demoted; make someone else owner first."})
        membership.role = role
        membership.save(update_fields=["role"])
        _grant_role(membership.user, workspace, role)
        audit.record(action="member.change_role", target=membership, workspace=workspace, actor=actor, before={"role": before}, after={"role": role})
    return membership


def member_remove(*, membership: Membership, actor, authorize: bool = True) -> None:
    workspace = membership.workspace
    if authorize:
        _require(actor, workspace, MANAGE_MEMBERS, "manage members")
        _check_owner_change(actor, workspace, membership.role)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Role.OWNER and _owners_left(workspace, membership.user_id) == 0:
            raise ValidationError({"role": "The last owner cannot be removed; make someone else owner first."})
        for codename in ALL_WORKSPACE_PERMISSIONS:
            remove_perm(f"workspaces.{codename}", membership.user, workspace)
        audit.record(action="member.remove", target=membership, workspace=workspace, actor=actor, before={"user": membership.user.get_username(), "role": membership.role})
        membership.delete()


# -- cloud accounts -------------------------------------------------------------------------------

def clean_account_fields(provider: str, credentials: dict, settings: dict) -> tuple[dict, dict]:
    if provider not in ACCOUNT_SETTINGS:
        raise ValidationError({"provider": f"Provider must be one of: {', '.join(ACCOUNT_SETTINGS)}."})
    settings = {key: str(value).strip() for key, value in (settings or {}).items() if str(value).strip()}
    missing = [key for key in ACCOUNT_SETTINGS[provider] if not settings.get(key)]
    if missing:
        raise ValidationError({key: "This field is required." for key in missing})
    credentials = {key: str(value).strip() for key, value in (credentials or {}).items() if str(value).strip()}
    if credentials:
        absent = [key for key in ACCOUNT_SECRETS[provider] if key not in credentials]
        if absent:
            raise ValidationError({key: "Required unless the account uses ambient credentials." for key in absent})
    return credentials, settings


def account_create(
    *, workspace: Workspace, provider: str, name: str, actor, credentials: dict | None = None,
    settings: dict | None = None, endpoint_url: str = "", authorize: bool = True,
) -> CloudAccount:
    if authorize:
        _require(actor, workspace, MANAGE_ACCOUNTS, "manage cloud accounts")
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError({"name": "Name must be 1 to 100 characters."})
    credentials, settings = clean_account_fields(provider, credentials or {}, settings or {})
    account = CloudAccount(workspace=workspace, provider=provider, name=name, settings=settings, endpoint_url=endpoint_url or "")
    account.set_credentials(credentials)
    try:
        with transaction.atomic():
            account.save()
            audit.record(action="account.create", target=account, workspace=workspace, actor=actor,
                         after={"provider": provider, "name": name, "ambient": not credentials, "endpoint_url": account.endpoint_url})
    except IntegrityError:
        raise ValidationError({"name": f"An account named {name!r} already exists in this workspace."}) from None
    return account


def account_replace_credentials(*, account: CloudAccount, credentials: dict, actor, authorize: bool = True) -> CloudAccount:
    """Replace the secret (an empty dict switches to ambient credentials). The old secret is not kept."""
    if authorize:
        _require(actor, account.workspace, MANAGE_ACCOUNTS, "manage cloud accounts")
    credentials, _ = clean_account_fields(account.provider, credentials, account.settings)
    with transaction.atomic():
        account.set_credentials(credentials)
        account.last_verified_at = None
        account.last_verify_error = ""
        account.save(update_fields=["credentials_encrypted", "last_verified_at", "last_verify_error"])
        audit.record(action="account.replace_credentials", target=account, workspace=account.workspace, actor=actor, after={"ambient": not credentials})
    return account


def account_update(*, account: CloudAccount, actor, name: str, settings: dict, endpoint_url: str, authorize: bool = True) -> CloudAccount:
    """Change the non-secret parts of an account: its name, settings and endpoint override."""
    if authorize:
        _require(actor, account.workspace, MANAGE_ACCOUNTS, "manage cloud accounts")
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError({"name": "Name must be 1 to 100 characters."})
    _, settings = clean_account_fields(account.provider, {}, settings)
    before = {"name": account.name, "settings": account.settings, "endpoint_url": account.endpoint_url}
    account.name, account.settings, account.endpoint_url = name, settings, endpoint_url or ""
    try:
        with transaction.atomic():
            account.save(update_fields=["name", "settings", "endpoint_url"])
            audit.record(action="account.update", target=account, workspace=account.workspace, actor=actor, before=before,
                         after={"name": name, "settings": settings, "endpoint_url": account.endpoint_url})
    except IntegrityError:
        raise ValidationError({"name": f"An account named {name!r} already exists in this workspace."}) from None
    return account


def account_remove(*, account: CloudAccount, actor, authorize: bool = True) -> None:
    if authorize:
        _require(actor, account.workspace, MANAGE_ACCOUNTS, "manage cloud accounts")
    in_use = account.vms.count()
    if in_use:
        raise ValidationError({"account": f"{account.name} still has {in_use} VM(s); terminate and delete them first."})
    with transaction.atomic():
        audit.record(action="account.remove", target=account, workspace=account.workspace, actor=actor, before={"name": account.name})
        account.delete()


def account_verify(*, account: CloudAccount, actor, authorize: bool = True) -> str:
    """One cheap read call against the cloud. Returns "" on success, else the cloud's reason."""
    from vms.cloud import adapter_for_account
    from vms.providers.base import ProviderError

    if authorize:
        _require(actor, account.workspace, MANAGE_ACCOUNTS, "manage cloud accounts")
    try:
        adapter_for_account(account).verify()
        reason = ""
    except ProviderError as error:
        reason = error.message
    with transaction.atomic():
        account.last_verified_at = timezone.now()
        account.last_verify_error = reason
        account.save(update_fields=["last_verified_at", "last_verify_error"])
        audit.record(action="account.verify", target=account, workspace=account.workspace, actor=actor,
                     outcome=AuditEvent.Outcome.FAILURE if reason else AuditEvent.Outcome.SUCCESS, message=reason)
    return reason
