"""API tokens: several named, revocable tokens per user; the key is shown once and stored only hashed."""
import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from vms.api.models import ApiToken
from workspaces import audit

KEY_PREFIX = "skc_"
NAME_MAX = 100
TOKENS_PER_USER_MAX = 50
# Writing last_used_at on every request would turn each read into a write; once a minute is enough to see use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def clean_token_name(name) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError({"name": f"Name must be 1 to {NAME_MAX} characters."})
    return name


def tokens_of(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token and its key (the only time the key exists in clear)."""
    name = clean_token_name(name)
    with transaction.atomic():
        if tokens_of(user).count() >= TOKENS_PER_USER_MAX:
            raise ValidationError({"name": f"You already have {TOKENS_PER_USER_MAX} tokens; revoke one first."})
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken.objects.create(user=user, name=name, key_hash=hash_key(key), key_prefix=key[: len(KEY_PREFIX) + 4])
        audit.record(action="token.create", target=token, actor=user, after={"name": name})
    return token, key


def token_revoke(*, user, token_id) -> None:
    """Revoke one of the user's own tokens; ApiToken.DoesNotExist for anyone else's (a 404)."""
    with transaction.atomic():
        token = tokens_of(user).select_for_update().get(pk=token_id)
        audit.record(action="token.revoke", target=token, actor=user, before={"name": token.name})
        token.delete()


def token_authenticate(key: str) -> ApiToken | None:
    """The live token for `key` (with its user), or None. Records when it was last used."""
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
