"""Display filters of the dashboard: relative times and memory sizes. No business logic here."""
from django import template

from vms.rendering import ago as _ago

register = template.Library()


@register.filter
def ago(moment) -> str:
    return _ago(moment)


@register.filter
def memory(megabytes) -> str:
    """2048 -> "2 GiB", 512 -> "0.5 GiB"."""
    try:
        return f"{int(megabytes) / 1024:g} GiB"
    except (TypeError, ValueError):
        return ""
