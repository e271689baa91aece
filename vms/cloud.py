"""Adapters for Django-side objects: one cached adapter per cloud account configuration."""
import threading

from vms.providers import registry
from vms.providers.base import Provider

_cache: dict[tuple, Provider] = {}
_lock = threading.Lock()


def adapter_for_account(account) -> Provider:
    # Keyed by everything that shapes the SDK client, so a replaced secret or endpoint gets a new client.
    key = (account.pk, account.provider, account.credentials_encrypted, account.endpoint_url, repr(sorted(account.settings.items())))
    with _lock:
        adapter = _cache.get(key)
        if adapter is None:
            adapter = registry.adapter_for(account.adapter_config())
            _cache[key] = adapter
        return adapter


def adapter_for_vm(vm) -> Provider:
    return adapter_for_account(vm.account)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
