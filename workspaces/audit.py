"""The one way AuditEvent rows are written."""
from workspaces import request_context
from workspaces.models import AuditEvent


def _actor_repr(actor, source: str) -> str:
    if actor is not None:
        return actor.get_username()
    return source  # "sync" or "system"


def build(
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
    """An unsaved AuditEvent: `record` saves one, `record_many` saves a batch (the poller's changes)."""
    context = request_context.current.get()
    source = source or (context.source if actor is not None else "system")
    return AuditEvent(
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


def record(**fields) -> AuditEvent:
    event = build(**fields)
    event.save()
    return event


def record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    return AuditEvent.objects.bulk_create(events, batch_size=500)
