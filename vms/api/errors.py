"""The one error shape of the API, and the exception handler that produces it from every error the services raise.

    {"error": {"code": "invalid_transition", "message": "Cannot stop a VM that is stopped.",
               "current_status": "stopped", "allowed_actions": ["start", "restart", "terminate"],
               "request_id": "4f0c…"}}

`code` and `message` are always there; `fields` (400), `current_status` / `allowed_actions` (409),
`retry_after` (429, 503), `provider` and `vm_id` (cloud failures) only where they apply.

Cloud failures (vms.providers.base.ProviderError): a cloud that throttles us or is unreachable is a 503 with
Retry-After (temporarily unable: try again later); 429 is kept for *this* API throttling *this* caller, so a
script never slows itself down because of load it did not cause. A cloud that refuses because of the
instance's state is a 409 like an illegal transition; any other cloud failure is a 502 (an instance the cloud
no longer has included: the VM is then marked terminated). The message is
always the cloud's reason.
"""
import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from vms.access import Access
from vms.api.models import ApiToken
from vms.models import VM
from vms.providers.base import Conflict, NotFound, ProviderError, Throttled, Unavailable
from vms.selectors import vms_visible_to
from vms.state import LIFECYCLE_ACTIONS, STATUS_CHOICES, InvalidTransition
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

DEFAULT_CLOUD_RETRY_AFTER = 5  # seconds, when a throttling cloud does not say
NOT_FOUND = (Http404, VM.DoesNotExist, Workspace.DoesNotExist, ApiToken.DoesNotExist)
# Services name the cloud account `account`; the API calls the field `account_id`.
SERVICE_TO_API_FIELD = {"account": "account_id"}


class APIError(exceptions.APIException):
    """An API error with a code of our own (e.g. 422 idempotency_key_reused)."""

    def __init__(self, status_code: int, code: str, message: str):
        self.status_code = status_code
        super().__init__(message, code)


def error_response(status: int, code: str, message: str, *, request=None, headers=None, **extra) -> Response:
    body = {"code": code, "message": message}
    body.update({key: value for key, value in extra.items() if value is not None})
    body["request_id"] = getattr(request, "id", "") if request is not None else ""
    return Response({"error": body}, status=status, headers=headers)


def api_exception_handler(exc, context):
    request, view = context.get("request"), context.get("view")
    kwargs = getattr(view, "kwargs", None) or {}
    set_rollback()

    if isinstance(exc, DjangoValidationError):
        fields = _service_fields(exc)
        return error_response(400, "invalid", _invalid_message(fields), request=request, fields=fields)
    if isinstance(exc, NOT_FOUND):
        return error_response(404, "not_found", _not_found_message(exc), request=request)
    if isinstance(exc, DjangoPermissionDenied):
        return error_response(403, "permission_denied", str(exc) or "Your role does not allow this.", request=request)
    if isinstance(exc, InvalidTransition):
        return _transition_response(exc, request, kwargs.get("vm_id"))
    if isinstance(exc, ProviderError):
        return _cloud_response(exc, request, getattr(exc, "vm_id", None) or kwargs.get("vm_id"))
    if isinstance(exc, exceptions.ValidationError):
        fields = _drf_fields(exc.detail)
        return error_response(400, "invalid", _invalid_message(fields), request=request, fields=fields)
    if isinstance(exc, exceptions.APIException):
        return _drf_response(exc, request)
    logger.exception("unexpected error in %s", getattr(request, "path", "the API"))
    return error_response(500, "internal_error", "Something went wrong on our side; the request id identifies it in our logs.", request=request)


def _drf_response(exc: exceptions.APIException, request) -> Response:
    headers, retry_after = {}, None
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled):
        retry_after = max(1, math.ceil(exc.wait or 1))
        headers["Retry-After"] = str(retry_after)
    code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else exc.default_code
    return error_response(exc.status_code, str(code), str(exc.detail), request=request, headers=headers, retry_after=retry_after)


def _transition_response(exc: InvalidTransition, request, vm_id) -> Response:
    allowed = exc.allowed_actions
    if vm_id is not None and request is not None:
        # The actions this caller may take now, not merely what the table allows.
        access = Access(request.user)
        vm = vms_visible_to(access).filter(pk=vm_id).first()
        if vm is not None:
            allowed = access.allowed_actions(vm)
    message = str(exc)
    if exc.action == "delete":
        message += " Only a terminated VM, or one that never got a cloud instance, can be deleted: terminate it first."
    return error_response(409, "invalid_transition", message, request=request, current_status=exc.current.value, allowed_actions=allowed)


def _cloud_response(exc: ProviderError, request, vm_id) -> Response:
    extra = {"provider": exc.provider or None, "vm_id": str(vm_id) if vm_id else None}
    if isinstance(exc, Throttled):
        retry_after = max(1, math.ceil(exc.retry_after or DEFAULT_CLOUD_RETRY_AFTER))
        return error_response(503, "cloud_throttled", exc.message, request=request, headers={"Retry-After": str(retry_after)}, retry_after=retry_after, **extra)
    if isinstance(exc, Unavailable):
        return error_response(503, "cloud_unavailable", exc.message, request=request, headers={"Retry-After": str(DEFAULT_CLOUD_RETRY_AFTER)}, retry_after=DEFAULT_CLOUD_RETRY_AFTER, **extra)
    if isinstance(exc, Conflict):
        current = VM.objects.filter(pk=vm_id).values_list("status", flat=True).first() if vm_id else None
        return error_response(409, "cloud_conflict", exc.message, request=request, current_status=current, **extra)
    code = "cloud_instance_not_found" if isinstance(exc, NotFound) else "cloud_error"
    return error_response(502, code, exc.message, request=request, **extra)


def _not_found_message(exc) -> str:
    if isinstance(exc, Workspace.DoesNotExist):
        return "No such workspace (or you are not a member of it)."
    if isinstance(exc, ApiToken.DoesNotExist):
        return "No such token."
    if isinstance(exc, VM.DoesNotExist):
        return "No such VM (or you may not see it)."
    return str(exc) or "Not found."


def _service_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {SERVICE_TO_API_FIELD.get(field, field): messages for field, messages in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


def _drf_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {"metadata.team": ["..."]}."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            fields.update(_drf_fields(value, f"{prefix}.{key}" if prefix else str(key)))
        return fields
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        fields = {}
        for index, item in enumerate(detail):
            if item:
                fields.update(_drf_fields(item, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    messages = [str(item) for item in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "non_field_errors": messages}


def _invalid_message(fields: dict) -> str:
    return f"Invalid input: {', '.join(fields)}." if fields else "Invalid input."


# -- the shape, for the OpenAPI schema -------------------------------------------------------------

class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. invalid, not_authenticated, permission_denied, not_found, invalid_transition, idempotency_key_reused, throttled, cloud_error, cloud_instance_not_found, cloud_unavailable, cloud_throttled, cloud_conflict.")
    message = serializers.CharField(help_text="What went wrong, for people (for cloud failures: the cloud's reason).")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="400 only: each invalid field (dotted for nested ones, `non_field_errors` for the whole body) and its messages.",
    )
    current_status = serializers.ChoiceField(STATUS_CHOICES, required=False, help_text="409 only: the VM's status now.")
    allowed_actions = serializers.ListField(
        child=serializers.ChoiceField(LIFECYCLE_ACTIONS), required=False,
        help_text="409 invalid_transition only: the lifecycle actions you may take from the current status.",
    )
    retry_after = serializers.IntegerField(required=False, help_text="429/503 only: seconds to wait (also in the Retry-After header).")
    provider = serializers.CharField(required=False, help_text="Cloud failures only: aws, gcp or azure.")
    vm_id = serializers.UUIDField(required=False, help_text="Cloud failures only: the VM concerned (a failed create leaves the VM in `error` with `last_error`).")
    request_id = serializers.CharField(help_text="Also in the X-Request-ID response header; quote it when reporting a problem.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input. `error.fields` maps each invalid field to its messages.",
    401: "Not authenticated: send `Authorization: Token <key>` (or use a session cookie).",
    403: "Your role in the VM's workspace does not allow this (also: a session request without its CSRF token).",
    404: "No such object, or one you may not see: another workspace's ids are 404, never 403.",
    409: "Not possible in the VM's current state. `error.current_status` is the status now; for `invalid_transition`, `error.allowed_actions` lists what you may do instead. `cloud_conflict`: the cloud refused because of the instance's state.",
    422: "The Idempotency-Key was already used with a different body (or its VM was since deleted).",
    429: "Too many requests from you: wait `Retry-After` seconds.",
    502: "A cloud call failed; `error.message` is the cloud's reason. A failed create leaves the VM in `error` (see `error.vm_id`).",
    503: "The cloud is unavailable or throttling SkyClust; retry after `Retry-After` seconds. `error.message` is the cloud's reason.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    message = "No such endpoint. Paths end with a slash; see /api/v1/docs/."
    body = {"error": {"code": "not_found", "message": message, "request_id": getattr(request, "id", "")}}
    return JsonResponse(body, status=404)
