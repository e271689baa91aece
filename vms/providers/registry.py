"""Maps a provider name to its adapter class; an unknown provider is a clear error."""
from importlib import import_module

from vms.providers.base import AccountConfig, Provider, UnknownProvider

ADAPTERS = {
    "aws": "vms.providers.aws.AWSProvider",
    "gcp": "vms.providers.gcp.GCPProvider",
    "azure": "vms.providers.azure.AzureProvider",
}

PROVIDER_CHOICES = [("aws", "AWS EC2"), ("gcp", "GCP Compute Engine"), ("azure", "Azure")]

_overrides: dict[str, type] = {}


def adapter_class(provider: str) -> type:
    if provider in _overrides:
        return _overrides[provider]
    try:
        dotted = ADAPTERS[provider]
    except KeyError:
        raise UnknownProvider(
            f"Unknown provider {provider!r}; expected one of {', '.join(ADAPTERS)}.", provider=provider
        ) from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def adapter_for(config: AccountConfig) -> Provider:
    return adapter_class(config.provider)(config)


def override(provider: str, cls: type | None) -> None:
    """Swap in another adapter class (tests use this for fault doubles); None restores the real one."""
    if cls is None:
        _overrides.pop(provider, None)
    else:
        _overrides[provider] = cls
