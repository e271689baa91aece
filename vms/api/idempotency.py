"""`Idempotency-Key` on VM create: the same key and body give back the VM made the first time.

The VM's id is derived from the key's row, and the VM id is what vm_create already deduplicates on (and
what the cloud sees as its idempotency token), so two concurrent requests with one key make one VM.
A request that fails before any VM row exists (bad input, 403, 404) releases the key, as nothing was done.
"""
import hashlib
import json
import re
import uuid

from vms.api.errors import APIError
from vms.models import IdempotencyKey
from workspaces.models import AuditEvent

HEADER = "Idempotency-Key"
KEY_MAX = 255
_KEY = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,%d}" % (KEY_MAX - 1))
_NAMESPACE = uuid.UUID("8d7f6f0e-57d4-4a55-9a2f-5b0c1c7a3e11")


def key_from(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise APIError(400, "invalid", f"{HEADER} must be 1 to {KEY_MAX} printable ASCII characters.")
    return key


def fingerprint(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(*, user, key: str, request_hash: str) -> IdempotencyKey:
    """The key's row, made now or by an earlier request; 422 when that request had another body."""
    record, _ = IdempotencyKey.objects.get_or_create(user=user, key=key, defaults={"request_hash": request_hash})
    if record.request_hash != request_hash:
        raise APIError(422, "idempotency_key_reused", f"This {HEADER} was already used with a different request body; use a new key.")
    return record


def vm_id_for(record: IdempotencyKey) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{record.pk}:{record.user_id}:{record.key}")


def vm_was_made(record: IdempotencyKey) -> bool:
    return AuditEvent.objects.filter(action="vm.create", target_type="vm", target_id=str(vm_id_for(record))).exists()


def spent() -> APIError:
    """The key made a VM that is gone (deleted, or no longer visible to the caller): it cannot make another."""
    return APIError(422, "idempotency_key_reused", f"The VM created with this {HEADER} no longer exists; use a new key.")


def link(record: IdempotencyKey, vm_id) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(vm_id=vm_id)


def release(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk, vm__isnull=True).delete()
