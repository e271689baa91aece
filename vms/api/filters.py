"""Query parameters of the list endpoints, validated (a bad value is a 400 naming the parameter)."""
from rest_framework import serializers

from vms.providers.registry import PROVIDER_CHOICES
from vms.selectors import ORDERINGS
from vms.state import STATUS_CHOICES
from workspaces.models import AuditEvent


class VMListQuery(serializers.Serializer):
    workspace_id = serializers.UUIDField(required=False, help_text="Only VMs of this workspace (no match: an empty list).")
    status = serializers.ChoiceField(STATUS_CHOICES, required=False, allow_blank=True)
    provider = serializers.ChoiceField(PROVIDER_CHOICES, required=False, allow_blank=True)
    region = serializers.CharField(required=False, allow_blank=True, max_length=64)
    search = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="Part of the name or instance id, case-insensitive.")
    ordering = serializers.ChoiceField(
        list(ORDERINGS), required=False, allow_blank=True, help_text="Sort key; `-` for descending. Default `-created` (newest first)."
    )


class AuditEventListQuery(serializers.Serializer):
    workspace_id = serializers.UUIDField(required=False)
    vm_id = serializers.UUIDField(required=False, help_text="Only events about this VM.")
    action = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="Exact action, e.g. vm.start, vm.status.change.")
    source = serializers.ChoiceField(AuditEvent.Source.choices, required=False, allow_blank=True)
    outcome = serializers.ChoiceField(AuditEvent.Outcome.choices, required=False, allow_blank=True)
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601).")


def validated_query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data
