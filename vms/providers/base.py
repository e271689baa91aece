"""The provider protocol and the plain values that cross it.

Adapters translate one cloud's API into these types and errors. They know nothing about Django models:
the caller hands them an `AccountConfig` and gets back `CloudInstance` values or a `ProviderError`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from vms.state import VMStatus

VM_ID_TAG = "skyclust-vm-id"


class ProviderError(Exception):
    """A cloud call failed. `message` is safe to show to users (never contains a secret)."""

    http_status = 502

    def __init__(self, message: str, *, provider: str = "", account: str = ""):
        self.message = message
        self.provider = provider
        self.account = account
        super().__init__(message)


class NotFound(ProviderError):
    http_status = 404


class Throttled(ProviderError):
    http_status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Conflict(ProviderError):
    """The cloud refused because of the instance's state (or a duplicate name/token)."""

    http_status = 409


class AuthenticationFailed(ProviderError):
    http_status = 502


class InvalidRequest(ProviderError):
    """Bad image, type, region or parameter; `message` carries the cloud's own words."""

    http_status = 400


class Unavailable(ProviderError):
    """Network failure or a 5xx that outlived the SDK's retries."""

    http_status = 503


class UnknownProvider(ProviderError):
    http_status = 400


@dataclass(frozen=True)
class AccountConfig:
    """Everything an adapter needs to reach one cloud account. `credentials` is secret: never log it."""

    provider: str
    name: str
    credentials: dict = field(default_factory=dict, repr=False)
    settings: dict = field(default_factory=dict)  # project_id, subscription_id, resource_group, ...
    endpoint_url: str = ""

    @property
    def ambient(self) -> bool:
        return not self.credentials


@dataclass(frozen=True)
class InstanceSpec:
    vm_id: str  # the VM's UUID: the idempotency key and the value of the skyclust-vm-id tag
    name: str
    instance_type: str
    region: str
    image_id: str
    zone: str = ""
    storage_gb: int = 10
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceRef:
    instance_id: str
    region: str
    zone: str = ""


@dataclass(frozen=True)
class CloudInstance:
    instance_id: str
    status: VMStatus
    cloud_state: str  # the cloud's own word for the state, for audit and display
    region: str
    zone: str = ""
    vm_id: str = ""  # value of the skyclust-vm-id tag, "" when untagged
    name: str = ""

    @property
    def ref(self) -> InstanceRef:
        return InstanceRef(self.instance_id, self.region, self.zone)


class Provider(Protocol):
    name: str
    # True when list_managed() must be called once per region (EC2); False when one call pages
    # through the whole project/subscription (GCP aggregatedList, Azure ListAll).
    lists_per_region: bool

    def __init__(self, config: AccountConfig): ...

    def create(self, spec: InstanceSpec) -> CloudInstance: ...

    def get(self, ref: InstanceRef) -> CloudInstance:
        """Raises NotFound when the instance does not exist (or is gone for good)."""

    def find_by_vm_id(self, vm_id: str, region: str) -> CloudInstance | None: ...

    def list_managed(self, region: str = "") -> Iterator[CloudInstance]:
        """Every instance tagged skyclust-vm-id, in pages of the cloud's maximum size."""

    def start(self, ref: InstanceRef) -> None: ...

    def stop(self, ref: InstanceRef) -> None: ...

    def reboot(self, ref: InstanceRef) -> None: ...

    def terminate(self, ref: InstanceRef) -> None: ...

    def verify(self) -> None:
        """One cheap read call; raises a ProviderError with the cloud's reason on failure."""
