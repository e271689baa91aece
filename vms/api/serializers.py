"""Request and response shapes. Types and documented bounds only: every rule lives in the services."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vms import catalog, services, state
from vms.models import VM
from vms.providers.registry import PROVIDER_CHOICES
from vms.state import LIFECYCLE_ACTIONS, STATUS_CHOICES
from workspaces.models import AuditEvent
from workspaces.roles import ALL_WORKSPACE_PERMISSIONS, Role

# -- strict scalars: JSON numbers are not silently turned into strings or ids ---------------------


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


@extend_schema_field({
    "type": "object", "additionalProperties": {"type": "string", "maxLength": services.METADATA_VALUE_MAX},
    "maxProperties": services.METADATA_MAX_KEYS,
})
class MetadataField(serializers.DictField):
    """A string -> string map (keys: letters, digits and _.:/-; the service checks the rules)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", (
            f"String keys (1 to {services.METADATA_KEY_MAX} of letters, digits and _.:/-) to string values "
            f"(at most {services.METADATA_VALUE_MAX} characters); at most {services.METADATA_MAX_KEYS} entries."
        ))
        super().__init__(child=StrictCharField(allow_blank=True, trim_whitespace=False, max_length=services.METADATA_VALUE_MAX), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return super().to_internal_value(data)


# -- VMs ----------------------------------------------------------------------------------------------


class VMSerializer(serializers.ModelSerializer):
    """The seed's VMDTO plus sizing, status freshness, the last cloud error and what the caller may do now."""

    workspace_id = serializers.UUIDField(read_only=True)
    account_id = serializers.UUIDField(read_only=True)
    type = serializers.CharField(source="instance_type", read_only=True)
    status = serializers.ChoiceField(STATUS_CHOICES, read_only=True)
    metadata = MetadataField(read_only=True)
    allowed_actions = serializers.SerializerMethodField(
        help_text="Lifecycle actions (start, stop, restart, terminate) that both the VM's status and your role allow now."
    )

    class Meta:
        model = VM
        fields = [
            "id", "name", "workspace_id", "account_id", "provider", "type", "region", "zone", "image_id", "status",
            "instance_id", "metadata", "cpus", "memory_mb", "storage_gb", "created_at", "updated_at",
            "status_checked_at", "status_source", "last_error", "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(LIFECYCLE_ACTIONS)))
    def get_allowed_actions(self, vm) -> list[str]:
        return self.context["access"].allowed_actions(vm)


def _catalog_values(kind: str) -> list[str]:
    values = set()
    for entry in catalog.CATALOG.values():
        if kind == "regions":
            values.update(entry.regions)
        elif kind == "zones":
            values.update(zone for zones in entry.regions.values() for zone in zones)
        else:
            values.update(getattr(entry, kind))
    return sorted(values)


def _catalog_field(kind: str, max_length: int, **kwargs):
    """A string checked by the catalog in the service (which names the provider's choices when it is wrong);
    the schema lists every value any provider accepts."""
    values = _catalog_values(kind) + ([""] if kwargs.get("allow_blank") else [])
    kwargs.setdefault("help_text", f"One of the provider's {kind} listed by GET /api/v1/catalog/ (a wrong one is a 400 listing the choices).")
    field_class = extend_schema_field({"type": "string", "enum": values, "maxLength": max_length})(type(f"Catalog{kind.capitalize()}Field", (StrictCharField,), {}))
    return field_class(max_length=max_length, trim_whitespace=False, **kwargs)


class VMCreateSerializer(serializers.Serializer):
    """The seed's CreateVMRequest, plus the cloud account and the zone."""

    name = StrictCharField(min_length=services.NAME_MIN, max_length=services.NAME_MAX, help_text="Unique among the workspace's live VMs.")
    workspace_id = StrictUUIDField()
    provider = serializers.ChoiceField(PROVIDER_CHOICES)
    type = _catalog_field("types", 64)
    region = _catalog_field("regions", 64)
    image_id = _catalog_field("images", 256)
    zone = _catalog_field(
        "zones", 64, required=False, allow_blank=True,
        help_text="Required on GCP (a zone of the region, see GET /api/v1/catalog/); optional on AWS (EC2 picks one when empty); Azure takes none.",
    )
    metadata = MetadataField(required=False)
    account_id = StrictUUIDField(
        required=False, help_text="The workspace's cloud account to use. Default: the workspace's only account for `provider` (a 400 lists the choices when there are several or none).",
    )


class VMUpdateSerializer(serializers.Serializer):
    """PUT replaces both editable fields; PATCH changes the ones given."""

    name = StrictCharField(min_length=services.NAME_MIN, max_length=services.NAME_MAX)
    metadata = MetadataField()


# -- workspaces, accounts, audit ------------------------------------------------------------------


class CloudAccountSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    provider = serializers.ChoiceField(PROVIDER_CHOICES)


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    role = serializers.SerializerMethodField(help_text="Your role in this workspace.")
    permissions = serializers.SerializerMethodField(help_text="The workspace permissions your role grants.")
    accounts = serializers.SerializerMethodField(help_text="Cloud accounts to create VMs with (`account_id`). Credentials are never shown.")
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(Role.choices, allow_null=True))
    def get_role(self, workspace) -> str | None:
        return self.context["roles"].get(workspace.pk)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(sorted(ALL_WORKSPACE_PERMISSIONS))))
    def get_permissions(self, workspace) -> list[str]:
        return sorted(self.context["access"].workspace_permissions.get(workspace.pk, ()))

    @extend_schema_field(CloudAccountSummarySerializer(many=True))
    def get_accounts(self, workspace) -> list[dict]:
        return CloudAccountSummarySerializer(workspace.accounts.all(), many=True).data


class AuditEventSerializer(serializers.ModelSerializer):
    workspace_id = serializers.UUIDField(read_only=True, allow_null=True)
    actor = serializers.CharField(source="actor_repr", read_only=True, help_text="Username, or `sync` / `system`.")

    class Meta:
        model = AuditEvent
        fields = [
            "id", "created_at", "workspace_id", "actor", "source", "action", "target_type", "target_id", "target_repr",
            "before", "after", "outcome", "message", "request_id",
        ]
        read_only_fields = fields


# -- catalog -----------------------------------------------------------------------------------------


class InstanceTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    cpus = serializers.IntegerField()
    memory_mb = serializers.IntegerField()


class ImageSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    storage_gb = serializers.IntegerField()


class RegionSerializer(serializers.Serializer):
    name = serializers.CharField()
    zones = serializers.ListField(child=serializers.CharField())


class ProviderCatalogSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(PROVIDER_CHOICES)
    zone_required = serializers.BooleanField()
    regions = RegionSerializer(many=True)
    types = InstanceTypeSerializer(many=True)
    images = ImageSerializer(many=True)


def catalog_rows() -> list[dict]:
    return [
        {
            "provider": provider,
            "zone_required": entry.zone_required,
            "regions": [{"name": region, "zones": list(zones)} for region, zones in entry.regions.items()],
            "types": [vars(kind) for kind in entry.types.values()],
            "images": [vars(image) for image in entry.images.values()],
        }
        for provider, entry in catalog.CATALOG.items()
    ]


# -- tokens ------------------------------------------------------------------------------------------


class TokenObtainSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, trim_whitespace=False)
    password = StrictCharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    name = StrictCharField(required=False, max_length=100, help_text="A name to recognise the token by on your tokens page. Default: `API`.")


class TokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    key_prefix = serializers.CharField(help_text="The first characters of the key, to recognise it.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only this once.")


# Allowed transitions, for the docs of the lifecycle endpoints.
TRANSITION_TABLE_DOC = "; ".join(
    f"{action} from {' | '.join(sorted(s.value for s in statuses))}" for action, statuses in state.ALLOWED_FROM.items()
)
