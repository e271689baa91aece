"""The REST API's views: parse, call a selector or a service, serialize. Errors become the one shape in errors.py."""
import uuid

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from vms import selectors, services
from vms.access import Access
from vms.api import filters, idempotency, tokens
from vms.api.errors import error_responses
from vms.api.pagination import StrictLimitOffsetPagination
from vms.api.serializers import (
    TRANSITION_TABLE_DOC,
    AuditEventSerializer,
    ProviderCatalogSerializer,
    TokenCreatedSerializer,
    TokenObtainSerializer,
    TokenSerializer,
    VMCreateSerializer,
    VMSerializer,
    VMUpdateSerializer,
    WorkspaceSerializer,
    catalog_rows,
)
from vms.api.throttling import TokenObtainThrottle
from vms.models import VM
from vms.providers.base import ProviderError
from workspaces import selectors as workspace_selectors

RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503], description="Seconds to wait before retrying."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description=(
        "Optional, 1 to 255 printable ASCII characters. Repeating a create with the same key and body returns the VM "
        "made the first time (200) instead of making another; the same key with another body is a 422."
    ),
)


def api_schema(**kwargs):
    """extend_schema, with the Retry-After header every throttled (429) or cloud-throttled (503) response carries."""
    kwargs["parameters"] = [*kwargs.get("parameters", ()), RETRY_AFTER]
    return extend_schema(**kwargs)


CREATED_HEADERS = [
    OpenApiParameter("Location", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[201], description="The new VM's URL."),
    OpenApiParameter("Idempotent-Replayed", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200], description="`true`: this is the VM an earlier request with the same Idempotency-Key made."),
]


class ApiView(GenericAPIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    @property
    def access(self) -> Access:
        # One Access per request: its two permission queries are made once and answered in memory after.
        if not hasattr(self.request, "_skyclust_access"):
            self.request._skyclust_access = Access(self.request.user)
        return self.request._skyclust_access

    def get_serializer_context(self):
        return super().get_serializer_context() | {"access": self.access}

    def vm_response(self, vm: VM, status_code: int = status.HTTP_200_OK, **kwargs) -> Response:
        return Response(VMSerializer(vm, context=self.get_serializer_context()).data, status=status_code, **kwargs)


# -- VMs ---------------------------------------------------------------------------------------------


@extend_schema_view(
    get=api_schema(
        summary="List the VMs you may see",
        parameters=[filters.VMListQuery],
        responses={200: VMSerializer(many=True), **error_responses(400, 401, 429)},
    ),
    post=api_schema(
        summary="Create a VM",
        description=(
            "Writes the VM (status `pending`), then asks the cloud for the instance and returns the VM as the cloud "
            "reported it. Valid `provider`/`region`/`zone`/`type`/`image_id` values are listed by GET /api/v1/catalog/. "
            "Needs the admin or owner role in the workspace."
        ),
        request=VMCreateSerializer,
        parameters=[IDEMPOTENCY_KEY, *CREATED_HEADERS],
        responses={
            201: OpenApiResponse(VMSerializer, description="Created."),
            200: OpenApiResponse(VMSerializer, description="A repeat of an earlier create with the same Idempotency-Key and body: the VM it made."),
            **error_responses(400, 401, 403, 404, 409, 422, 429, 502, 503),
        },
    ),
)
class VMListCreateView(ApiView):
    pagination_class = StrictLimitOffsetPagination
    serializer_class = VMSerializer

    def get(self, request):
        query = filters.validated_query(filters.VMListQuery, request)
        vms = selectors.vms_filtered(selectors.vms_visible_to(self.access), **query)
        page = self.paginate_queryset(vms)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def post(self, request):
        body = VMCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = idempotency.key_from(request)
        workspace = workspace_selectors.workspace_get_visible(self.access, data["workspace_id"])
        account = _account_for(self.access, workspace, data["provider"], data.get("account_id"))
        if key is None:
            return self._created(self._create(request.user, workspace, account, data, vm_id=uuid.uuid4()))

        record = idempotency.claim(user=request.user, key=key, request_hash=idempotency.fingerprint(request.data))
        vm_id = idempotency.vm_id_for(record)
        made_before = idempotency.vm_was_made(record)  # read first: the VM row commits together with its audit row
        if (earlier := self._visible_vm(vm_id)) is not None:
            return self._replayed(earlier)
        if made_before:
            raise idempotency.spent()
        try:
            vm = self._create(request.user, workspace, account, data, vm_id=vm_id)
        except ProviderError:
            if VM.objects.filter(pk=vm_id).exists():
                idempotency.link(record, vm_id)
            raise
        except Exception:
            # A concurrent request with the same key may have made the VM meanwhile (this one then fails on the
            # name that VM took): that VM is the answer to this request too.
            if (made := self._visible_vm(vm_id)) is not None:
                idempotency.link(record, vm_id)
                return self._replayed(made)
            idempotency.release(record)
            raise
        idempotency.link(record, vm.pk)
        return self._created(vm)

    @staticmethod
    def _create(actor, workspace, account, data: dict, *, vm_id: uuid.UUID) -> VM:
        try:
            return services.vm_create(
                actor=actor, workspace=workspace, account=account, name=data["name"], instance_type=data["type"],
                region=data["region"], zone=data.get("zone", ""), image_id=data["image_id"],
                metadata=data.get("metadata"), vm_id=vm_id,
            )
        except ProviderError as error:
            if VM.objects.filter(pk=vm_id).exists():  # the row was written first: the VM exists, in `error`
                error.vm_id = vm_id
            raise

    def _visible_vm(self, vm_id) -> VM | None:
        return selectors.vms_visible_to(self.access).filter(pk=vm_id).first()

    def _created(self, vm: VM) -> Response:
        return self.vm_response(vm, status.HTTP_201_CREATED, headers={"Location": f"{self.request.path}{vm.pk}/"})

    def _replayed(self, vm: VM) -> Response:
        return self.vm_response(vm, headers={"Idempotent-Replayed": "true"})


def _account_for(access: Access, workspace, provider: str, account_id):
    """The cloud account to create with: the one named, or the workspace's only account for the provider."""
    accounts = list(workspace_selectors.accounts_usable_by(access, workspace))
    of_provider = [account for account in accounts if account.provider == provider]
    choices = ", ".join(f"{account.pk} ({account.name})" for account in of_provider)
    if account_id is not None:
        account = next((account for account in accounts if account.pk == account_id), None)
        if account is None:
            raise ValidationError({"account_id": f"No cloud account with this id in {workspace.name}." + (f" {provider} accounts: {choices}." if choices else "")})
        if account.provider != provider:
            raise ValidationError({"account_id": f"{account.name} is a {account.provider} account, not {provider}." + (f" {provider} accounts: {choices}." if choices else "")})
        return account
    if len(of_provider) == 1:
        return of_provider[0]
    if not of_provider:
        raise ValidationError({"account_id": f"{workspace.name} has no {provider} cloud account; an admin of the workspace can add one."})
    raise ValidationError({"account_id": f"{workspace.name} has {len(of_provider)} {provider} accounts; pass account_id, one of: {choices}."})


VM_NOT_FOUND = "No such VM, or one you may not see (404, never 403, for another workspace's VM)."


@extend_schema_view(
    get=api_schema(summary="Get a VM", responses={200: VMSerializer, **error_responses(401, 404, 429)}),
    put=api_schema(
        summary="Replace a VM's name and metadata", request=VMUpdateSerializer,
        responses={200: VMSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    patch=api_schema(
        summary="Change a VM's name and/or metadata", request=VMUpdateSerializer(partial=True),
        responses={200: VMSerializer, **error_responses(400, 401, 403, 404, 429)},
    ),
    delete=api_schema(
        summary="Delete a VM",
        description="Only a terminated VM, or one that never got a cloud instance, can be deleted (otherwise 409): terminate it first.",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(401, 403, 404, 409, 429)},
    ),
)
class VMDetailView(ApiView):
    serializer_class = VMSerializer

    def get(self, request, vm_id):
        return self.vm_response(selectors.vm_get_visible(self.access, vm_id))

    def put(self, request, vm_id):
        return self._update(request, vm_id, partial=False)

    def patch(self, request, vm_id):
        return self._update(request, vm_id, partial=True)

    def _update(self, request, vm_id, *, partial: bool):
        selectors.vm_get_visible(self.access, vm_id)  # 404 before looking at the body
        body = VMUpdateSerializer(data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        vm = services.vm_update(vm_id=vm_id, actor=request.user, **body.validated_data)
        return self.vm_response(vm)

    def delete(self, request, vm_id):
        services.vm_delete(vm_id=vm_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VMActionView(ApiView):
    serializer_class = VMSerializer
    action_name = ""

    def post(self, request, vm_id):
        vm = services.LIFECYCLE_COMMANDS[self.action_name](vm_id=vm_id, actor=request.user)
        return self.vm_response(vm)


_ACTION_DOCS = {
    "start": "Start a stopped (or failed) VM. Needs the operator role or above.",
    "stop": "Stop a running VM. Needs the operator role or above.",
    "restart": "Reboot a running VM, or start a stopped one. Needs the operator role or above.",
    "terminate": "Destroy the VM's cloud instance (the VM row stays, `terminated`, until deleted). Needs the admin or owner role.",
}


def _action_view(action: str):
    schema = api_schema(
        summary=f"{action.capitalize()} a VM",
        description=(
            f"{_ACTION_DOCS[action]} Returns the VM in its transitional status; the status poller confirms the final one. "
            f"The transition table: {TRANSITION_TABLE_DOC}."
        ),
        request=None,
        responses={200: VMSerializer, **error_responses(401, 403, 404, 409, 429, 502, 503)},
    )
    view = type(f"VM{action.capitalize()}View", (VMActionView,), {"action_name": action})
    return extend_schema_view(post=schema)(view)


VM_ACTION_VIEWS = {action: _action_view(action) for action in services.LIFECYCLE_COMMANDS}


# -- workspaces, audit, catalog ----------------------------------------------------------------------


class _WorkspaceView(ApiView):
    serializer_class = WorkspaceSerializer

    def get_serializer_context(self):
        roles = dict(workspace_selectors.memberships_of(self.request.user).values_list("workspace_id", "role"))
        return super().get_serializer_context() | {"roles": roles}


@extend_schema_view(get=api_schema(summary="List your workspaces, with your role", responses={200: WorkspaceSerializer(many=True), **error_responses(400, 401, 429)}))
class WorkspaceListView(_WorkspaceView):
    pagination_class = StrictLimitOffsetPagination

    def get(self, request):
        workspaces = workspace_selectors.workspaces_visible_to(self.access).prefetch_related("accounts").order_by("name")
        page = self.paginate_queryset(workspaces)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(get=api_schema(summary="Get one of your workspaces", responses={200: WorkspaceSerializer, **error_responses(401, 404, 429)}))
class WorkspaceDetailView(_WorkspaceView):
    def get(self, request, workspace_id):
        workspace = workspace_selectors.workspaces_visible_to(self.access).prefetch_related("accounts").get(pk=workspace_id)
        return Response(self.get_serializer(workspace).data)


@extend_schema_view(get=api_schema(
    summary="List audit events of your workspaces",
    description="Newest first. Every lifecycle command, edit and observed status change of a VM writes one.",
    parameters=[filters.AuditEventListQuery],
    responses={200: AuditEventSerializer(many=True), **error_responses(400, 401, 429)},
))
class AuditEventListView(ApiView):
    serializer_class = AuditEventSerializer
    pagination_class = StrictLimitOffsetPagination

    def get(self, request):
        query = filters.validated_query(filters.AuditEventListQuery, request)
        events = workspace_selectors.audit_events_visible_to(self.access)
        if query.get("workspace_id"):
            events = events.filter(workspace_id=query["workspace_id"])
        if query.get("vm_id"):
            events = events.filter(target_type="vm", target_id=str(query["vm_id"]))
        for field in ("action", "source", "outcome"):
            if query.get(field):
                events = events.filter(**{field: query[field]})
        if query.get("since"):
            events = events.filter(created_at__gte=query["since"])
        if query.get("until"):
            events = events.filter(created_at__lt=query["until"])
        page = self.paginate_queryset(events.order_by("-created_at", "-id"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(get=api_schema(
    summary="Regions, zones, instance types and images of each cloud",
    description="The values VM create accepts for `region`, `zone`, `type` and `image_id`, per provider.",
    responses={200: ProviderCatalogSerializer(many=True), **error_responses(401, 429)},
))
class CatalogView(ApiView):
    serializer_class = ProviderCatalogSerializer

    def get(self, request):
        return Response(ProviderCatalogSerializer(catalog_rows(), many=True).data)


# -- tokens -------------------------------------------------------------------------------------------


@extend_schema_view(post=api_schema(
    summary="Get an API token with your username and password",
    description="Makes a new named token (see them, and revoke them, on the dashboard's API tokens page or below). Limited per client address.",
    request=TokenObtainSerializer,
    responses={201: TokenCreatedSerializer, **error_responses(400, 401, 429)},
    auth=[],
))
class TokenObtainView(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenObtainThrottle]
    serializer_class = TokenObtainSerializer

    def post(self, request):
        body = TokenObtainSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(request._request, username=body.validated_data["username"], password=body.validated_data["password"])
        if user is None:
            raise exceptions.AuthenticationFailed("Unable to log in with this username and password.", code="invalid_credentials")
        token, key = tokens.token_create(user=user, name=body.validated_data.get("name") or "API")
        return Response(TokenSerializer(token).data | {"token": key}, status=status.HTTP_201_CREATED)

    def get_authenticate_header(self, request):
        return 'Token realm="api"'


@extend_schema_view(get=api_schema(summary="List your API tokens", responses={200: TokenSerializer(many=True), **error_responses(400, 401, 429)}))
class TokenListView(ApiView):
    serializer_class = TokenSerializer
    pagination_class = StrictLimitOffsetPagination

    def get(self, request):
        page = self.paginate_queryset(tokens.tokens_of(request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(delete=api_schema(
    summary="Revoke one of your API tokens",
    responses={204: OpenApiResponse(description="Revoked."), **error_responses(401, 403, 404, 429)},
))
class TokenDetailView(ApiView):
    serializer_class = TokenSerializer

    def delete(self, request, token_id):
        tokens.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
