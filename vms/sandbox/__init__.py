"""Local emulators of the three clouds: moto's EC2 server and the project's own GCE and Azure emulators.

`start_all()` starts all three on loopback ports (port 0 = any free port) for `make run`, tests and
`python manage.py sandbox`. Each emulator keeps its state in memory and speaks its cloud's REST protocol,
so the real SDKs run against it unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from vms.providers.base import AccountConfig

PROVIDERS = ("aws", "gcp", "azure")


@dataclass
class Sandboxes:
    aws: object
    gcp: object
    azure: object

    def emulator(self, provider: str):
        return getattr(self, provider)

    def all(self) -> dict[str, object]:
        return {provider: self.emulator(provider) for provider in PROVIDERS}

    def account_config(self, provider: str, name: str) -> AccountConfig:
        return self.emulator(provider).account_config(name)

    def set_transition_seconds(self, seconds: float) -> None:
        for emulator in self.all().values():
            emulator.transition_seconds = seconds

    def stop(self) -> None:
        for emulator in self.all().values():
            emulator.stop()

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_all(*, transition_seconds: float = 0.0, host: str = "127.0.0.1", ports: dict[str, int] | None = None) -> Sandboxes:
    from vms.sandbox.aws import AWSEmulator
    from vms.sandbox.azure import AzureEmulator
    from vms.sandbox.gcp import GCPEmulator

    ports = ports or {}
    started = []
    try:
        for cls, provider in ((AWSEmulator, "aws"), (GCPEmulator, "gcp"), (AzureEmulator, "azure")):
            started.append(cls(host=host, port=ports.get(provider, 0), transition_seconds=transition_seconds).start())
    except BaseException:
        for emulator in started:
            emulator.stop()
        raise
    return Sandboxes(*started)
