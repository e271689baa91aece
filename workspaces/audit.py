"""The one way AuditEvent rows are written."""
from workspaces import request_context
from workspaces.models import AuditEvent


def _actor_repr(actor, source: str) -> str:
    if actor is not None:
        return actor.get_username()
    return source  # "sync" or "system"


def record(
    *,
    action: str,
    target,
    workspace=None,
    actor=None,
    before: dict | None = None,
    after: dict | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    message: str = "",
    source: str | None = None,
) -> AuditEvent:
    context = request_context.current.get()
    source = source or (context.source if actor is not None else "system")
    return AuditEvent.objects.create(
        workspace=workspace if workspace is not None else getattr(target, "workspace", None),
        actor=actor,
        actor_repr=_actor_repr(actor, source),
        source=source,
        action=action,
        target_type=target._meta.model_name,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        before=before or {},
        after=after or {},
        outcome=outcome,
        message=message,
        request_id=context.request_id,
    )
