import re

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
_INTEGER = re.compile(r"-?[0-9]{1,9}")


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset with a total count; a limit or offset that is not a number in range is a 400, not ignored."""

    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_limit(self, request):
        return self._bounded(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request):
        return self._bounded(request, self.offset_query_param, 0, None, 0)

    @staticmethod
    def _bounded(request, name: str, minimum: int, maximum: int | None, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not _INTEGER.fullmatch(raw):
            raise serializers.ValidationError({name: ["A whole number of at most 9 digits is required."]})
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise serializers.ValidationError({name: [f"Must be {bound}."]})
        return value

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"].update({"minimum": 1, "maximum": self.max_limit, "default": self.default_limit})
        offset["schema"].update({"minimum": 0, "default": 0})
        return [limit, offset]
