"""Who is acting and through which door, for the audit rows written deeper down."""
import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    source: str = "system"  # user | api | sync | system


current: ContextVar[RequestContext] = ContextVar("skyclust_request_context", default=RequestContext())


def new_request_id() -> str:
    return uuid.uuid4().hex
