"""Every VM write: keyword-only, an explicit actor, one short transaction, the audit row, the event on commit.

Cloud calls happen outside any transaction. Who may do what is asked of `vms.access.Access`;
what may happen from which status is asked of `vms.state`.
"""
from __future__ import annotations

import logging
import re
import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from vms import catalog, events, state
from vms.access import Access
from vms.cloud import adapter_for_vm
from vms.models import VM
from vms.providers.base import (
    AuthenticationFailed,
    Conflict,
    InstanceSpec,
    InvalidRequest,
    NotFound,
    ProviderError,
    Throttled,
)
from vms.state import VMStatus
from workspaces import audit
from workspaces.models import AuditEvent, CloudAccount, Workspace

logger = logging.getLogger(__name__)

NAME_MIN, NAME_MAX = 3, 100
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 63, 255
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.:/-]+$")
# Errors after which the cloud certainly did not act, so the VM keeps the status it had.
_CLOUD_DID_NOT_ACT = (Throttled, AuthenticationFailed, InvalidRequest, Conflict)
EVENT_OF_ACTION = {"start": "vm.started", "stop": "vm.stopped", "restart": "vm.restarted", "terminate": "vm.terminated"}


# -- validation shared by forms, the API and admin (they show these messages by field) -------------

def clean_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise ValidationError({"name": f"Name must be {NAME_MIN} to {NAME_MAX} characters."})
    return name


def clean_metadata(metadata) -> dict[str, str]:
    if metadata in (None, ""):
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError({"metadata": "Metadata must be an object of string keys and string values."})
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValidationError({"metadata": f"At most {METADATA_MAX_KEYS} metadata entries."})
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= METADATA_KEY_MAX or not _METADATA_KEY.match(key):
            raise ValidationError(
                {"metadata": f"Metadata key {str(key)[:70]!r} must be 1 to {METADATA_KEY_MAX} characters of letters, digits and _.:/-"}
            )
        if not isinstance(value, str) or len(value) > METADATA_VALUE_MAX:
            raise ValidationError({"metadata": f"Metadata value of {key!r} must be a string of at most {METADATA_VALUE_MAX} characters."})
    return dict(metadata)


def _ensure_name_free(workspace_id, name: str, *, exclude_id=None) -> None:
    live = VM.objects.filter(workspace_id=workspace_id, name=name).exclude(status=VMStatus.TERMINATED)
    if exclude_id:
        live = live.exclude(pk=exclude_id)
    if live.exists():
        raise ValidationError({"name": f"A live VM named {name!r} already exists in this workspace."})


def _authorize(actor, vm: VM, action: str) -> None:
    """404 for a VM the actor may not see, 403 for an action their role does not allow."""
    access = Access(actor)
    if not access.can(vm, "view"):
        raise VM.DoesNotExist
    if not access.can(vm, action):
        raise PermissionDenied(f"Your role does not allow you to {action} {vm.name}.")


def _snapshot(vm: VM) -> dict:
    return {"status": vm.status, "instance_id": vm.instance_id}


# -- create ---------------------------------------------------------------------------------------

def vm_create(
    *,
    actor,
    workspace: Workspace,
    account: CloudAccount,
    name: str,
    instance_type: str,
    region: str,
    image_id: str,
    zone: str = "",
    metadata: dict | None = None,
    vm_id: uuid.UUID | None = None,
    authorize: bool = True,
) -> VM:
    """Write the pending row first (its UUID is the cloud idempotency key), then create the instance.

    Calling again with the same `vm_id` returns the VM already made instead of a second one.
    """
    if authorize:
        access = Access(actor)
        if not access.has_workspace_permission(workspace.pk, "view_workspace"):
            raise Workspace.DoesNotExist
        if not access.has_workspace_permission(workspace.pk, "manage_vms"):
            raise PermissionDenied(f"Your role does not allow you to create VMs in {workspace.name}.")
    if vm_id is not None:
        existing = VM.objects.filter(pk=vm_id, workspace=workspace).first()
        if existing is not None:
            return existing

    name = clean_name(name)
    metadata = clean_metadata(metadata)
    zone = zone or ""
    errors = {}
    if account.workspace_id != workspace.pk:
        errors["account"] = "This cloud account does not belong to the workspace."
    errors.update(catalog.validate(provider=account.provider, region=region, zone=zone, instance_type=instance_type, image_id=image_id))
    if errors:
        raise ValidationError(errors)
    cpus, memory_mb, storage_gb = catalog.sizing(account.provider, instance_type, image_id)

    try:
        with transaction.atomic():
            if vm_id is not None and VM.objects.filter(pk=vm_id, workspace=workspace).exists():
                return VM.objects.get(pk=vm_id)  # a concurrent duplicate of this very create won the race
            _ensure_name_free(workspace.pk, name)
            vm = VM.objects.create(
                id=vm_id or uuid.uuid4(),
                name=name,
                workspace=workspace,
                account=account,
                provider=account.provider,
                status=VMStatus.PENDING,
                instance_type=instance_type,
                region=region,
                zone=zone,
                image_id=image_id,
                cpus=cpus,
                memory_mb=memory_mb,
                storage_gb=storage_gb,
                metadata=metadata,
                status_source=VM.StatusSource.ACTION,
            )
            audit.record(action="vm.create", target=vm, actor=actor, after=_snapshot(vm) | {"provider": vm.provider, "region": region, "type": instance_type})
            events.vm_changed(vm, "vm.created")
    except (IntegrityError, ValidationError):
        # Lost a race: the same vm_id (a double submit, which gets the VM the first one made) or the same name.
        existing = VM.objects.filter(pk=vm_id, workspace=workspace).first() if vm_id else None
        if existing is not None:
            return existing
        raise ValidationError({"name": f"A live VM named {name!r} already exists in this workspace."}) from None

    vm_provision(vm=vm, actor=actor)
    return vm


def vm_provision(*, vm: VM, actor=None) -> VM:
    """Create (or adopt) the cloud instance of a pending row. Safe to repeat: the VM id is the idempotency key."""
    adapter = adapter_for_vm(vm)
    spec = InstanceSpec(
        vm_id=str(vm.pk),
        name=vm.name,
        instance_type=vm.instance_type,
        region=vm.region,
        zone=vm.zone,
        image_id=vm.image_id,
        storage_gb=vm.storage_gb,
        tags={"skyclust-workspace": vm.workspace.slug},
    )
    try:
        instance = adapter.create(spec)
    except ProviderError as error:
        _record_failure(vm_id=vm.pk, action="create", error=error, actor=actor, cloud_status=VMStatus.ERROR)
        raise
    with transaction.atomic():
        locked = VM.objects.select_for_update().get(pk=vm.pk)
        old = locked.status
        locked.instance_id = instance.instance_id
        locked.zone = locked.zone or instance.zone
        if locked.status == VMStatus.PENDING:
            locked.status = instance.status
        locked.status_checked_at = timezone.now()
        locked.status_source = VM.StatusSource.ACTION
        locked.last_error = ""
        locked.save(update_fields=["instance_id", "zone", "status", "status_checked_at", "status_source", "last_error", "updated_at"])
        if old != locked.status:
            events.vm_changed(locked, "vm.status.changed", old_status=old)
    vm.refresh_from_db()
    return vm


# -- lifecycle commands ---------------------------------------------------------------------------

def vm_start(*, vm_id, actor, authorize: bool = True) -> VM:
    return _run_action("start", vm_id=vm_id, actor=actor, authorize=authorize)


def vm_stop(*, vm_id, actor, authorize: bool = True) -> VM:
    return _run_action("stop", vm_id=vm_id, actor=actor, authorize=authorize)


def vm_restart(*, vm_id, actor, authorize: bool = True) -> VM:
    return _run_action("restart", vm_id=vm_id, actor=actor, authorize=authorize)


def vm_terminate(*, vm_id, actor, authorize: bool = True) -> VM:
    return _run_action("terminate", vm_id=vm_id, actor=actor, authorize=authorize)


LIFECYCLE_COMMANDS = {"start": vm_start, "stop": vm_stop, "restart": vm_restart, "terminate": vm_terminate}


def _run_action(action: str, *, vm_id, actor, authorize: bool) -> VM:
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        if authorize:
            _authorize(actor, vm, action)
        before = vm.status
        state.ensure_allowed(action, before)  # InvalidTransition -> 409
        vm.status = state.TRANSITIONAL_STATUS[action]
        vm.status_source = VM.StatusSource.ACTION
        vm.save(update_fields=["status", "status_source", "updated_at"])
        audit.record(action=f"vm.{action}", target=vm, actor=actor, before={"status": before}, after={"status": vm.status})
        events.vm_changed(vm, EVENT_OF_ACTION[action], old_status=before)

    try:
        _call_provider(vm, action, before)
    except NotFound:
        if action != "terminate":
            _record_failure(vm_id=vm.pk, action=action, error=NotFound("The instance no longer exists in the cloud."), actor=actor, cloud_status=VMStatus.TERMINATED)
            raise
        _settle(vm.pk, VMStatus.TERMINATED)  # already gone: that is what terminate wanted
    except ProviderError as error:
        _record_failure(vm_id=vm.pk, action=action, error=error, actor=actor, before=before)
        raise
    else:
        VM.objects.filter(pk=vm.pk).update(last_error="", status_checked_at=timezone.now())
    vm.refresh_from_db()
    return vm


def _call_provider(vm: VM, action: str, before: str) -> None:
    adapter = adapter_for_vm(vm)
    if not vm.instance_id:
        if action != "terminate":
            raise NotFound("This VM has no cloud instance.")
        # A create may have been interrupted: find the instance by its tag before calling it gone.
        instance = adapter.find_by_vm_id(str(vm.pk), vm.region)
        if instance is None:
            raise NotFound("This VM never got a cloud instance.")
        VM.objects.filter(pk=vm.pk).update(instance_id=instance.instance_id, zone=instance.zone or vm.zone)
        vm.instance_id, vm.zone = instance.instance_id, instance.zone or vm.zone
    ref = vm.ref
    if action == "restart" and before == VMStatus.STOPPED:
        adapter.start(ref)  # a stopped instance cannot be rebooted; restarting it means starting it
    elif action == "restart":
        adapter.reboot(ref)
    else:
        getattr(adapter, action)(ref)


def _settle(vm_id, status: VMStatus) -> None:
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        old = vm.status
        vm.status = status
        vm.status_checked_at = timezone.now()
        vm.last_error = ""
        vm.save(update_fields=["status", "status_checked_at", "last_error", "updated_at"])
        if old != status:
            events.vm_changed(vm, "vm.status.changed", old_status=old)


def _true_status_after_failure(vm: VM, error: ProviderError, before: str | None) -> VMStatus:
    if before is not None and isinstance(error, _CLOUD_DID_NOT_ACT):
        return VMStatus(before)
    if vm.instance_id:
        try:
            return adapter_for_vm(vm).get(vm.ref).status
        except NotFound:
            return VMStatus.TERMINATED
        except ProviderError:
            pass
    return VMStatus(before) if before is not None and isinstance(error, Throttled) else VMStatus.ERROR


def _record_failure(*, vm_id, action: str, error: ProviderError, actor, before: str | None = None, cloud_status: VMStatus | None = None) -> None:
    """Keep the status the cloud really has, say why in last_error, and audit the failure."""
    vm = VM.objects.select_related("account").get(pk=vm_id)
    status = cloud_status or _true_status_after_failure(vm, error, before)
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        old = vm.status
        vm.status = status
        vm.last_error = f"{action.capitalize()} failed: {error.message}"
        vm.status_checked_at = timezone.now()
        vm.save(update_fields=["status", "last_error", "status_checked_at", "updated_at"])
        audit.record(
            action=f"vm.{action}",
            target=vm,
            actor=actor,
            before={"status": old},
            after={"status": status},
            outcome=AuditEvent.Outcome.FAILURE,
            message=error.message,
        )
        events.vm_changed(vm, "vm.status.changed", old_status=old)
    logger.warning("vm %s %s failed: %s", vm_id, action, error.message)


# -- edit and delete ------------------------------------------------------------------------------

def vm_update(*, vm_id, actor, name: str | None = None, metadata: dict | None = None, authorize: bool = True) -> VM:
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        if authorize:
            _authorize(actor, vm, "update")
        before = {"name": vm.name, "metadata": vm.metadata}
        if name is not None:
            vm.name = clean_name(name)
            _ensure_name_free(vm.workspace_id, vm.name, exclude_id=vm.pk)
        if metadata is not None:
            vm.metadata = clean_metadata(metadata)
        after = {"name": vm.name, "metadata": vm.metadata}
        if after == before:
            return vm
        vm.save(update_fields=["name", "metadata", "updated_at"])
        audit.record(action="vm.update", target=vm, actor=actor, before=before, after=after)
        events.vm_changed(vm, "vm.updated")
    return vm


def vm_delete(*, vm_id, actor, authorize: bool = True) -> None:
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        if authorize:
            _authorize(actor, vm, "delete")
        state.ensure_deletable(vm.status, provisioned=vm.is_provisioned)
        audit.record(action="vm.delete", target=vm, actor=actor, before=_snapshot(vm))
        events.vm_changed(vm, "vm.deleted")
        vm.delete()


# -- status observed by sync ----------------------------------------------------------------------

def vm_update_status(*, vm_id, status: str, checked_at=None, actor=None) -> VM:
    """Record the status the cloud reports; a change is audited with source `sync` and published."""
    status = VMStatus(status)
    with transaction.atomic():
        vm = VM.objects.select_for_update().get(pk=vm_id)
        old = vm.status
        vm.status_checked_at = checked_at or timezone.now()
        vm.status_source = VM.StatusSource.POLL
        if old == status:
            vm.save(update_fields=["status_checked_at", "status_source"])
            return vm
        vm.status = status
        vm.save(update_fields=["status", "status_checked_at", "status_source", "updated_at"])
        audit.record(action="vm.status.change", target=vm, actor=actor, source=AuditEvent.Source.SYNC, before={"status": old}, after={"status": status})
        events.vm_changed(vm, "vm.status.changed", old_status=old)
    return vm
