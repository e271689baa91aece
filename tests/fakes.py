"""An in-memory cloud that speaks the provider protocol, for service tests that do not need HTTP.

It keeps real state (instances, their statuses, call counts) so tests observe what the service did;
`fail_next` makes the next call raise a given ProviderError.
"""
import itertools
import threading
from collections import Counter

from vms.providers.base import CloudInstance, InstanceRef, InstanceSpec, NotFound, ProviderError
from vms.state import VMStatus


class FakeCloud:
    def __init__(self):
        self.instances: dict[str, CloudInstance] = {}
        self.calls: Counter = Counter()
        self.failures: dict[str, ProviderError] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, operation: str, error: ProviderError) -> None:
        self.failures[operation] = error

    def set_status(self, instance_id: str, status: VMStatus) -> None:
        current = self.instances[instance_id]
        self.instances[instance_id] = CloudInstance(current.instance_id, status, status.value, current.region, current.zone, current.vm_id, current.name)

    def adapter_class(self, provider: str):
        cloud = self

        class FakeProvider:
            name = provider
            lists_per_region = provider == "aws"

            def __init__(self, config):
                self.config = config

            def _call(self, operation: str):
                with cloud._lock:
                    cloud.calls[operation] += 1
                    error = cloud.failures.pop(operation, None)
                if error is not None:
                    raise error

            def create(self, spec: InstanceSpec) -> CloudInstance:
                self._call("create")
                existing = self.find_by_vm_id(spec.vm_id, spec.region)
                if existing:
                    return existing
                instance_id = f"{provider}-{next(cloud._ids)}"
                instance = CloudInstance(instance_id, VMStatus.RUNNING, "running", spec.region, spec.zone, spec.vm_id, spec.name)
                cloud.instances[instance_id] = instance
                return instance

            def get(self, ref: InstanceRef) -> CloudInstance:
                self._call("get")
                try:
                    return cloud.instances[ref.instance_id]
                except KeyError:
                    raise NotFound(f"{ref.instance_id} not found", provider=provider, account=self.config.name) from None

            def find_by_vm_id(self, vm_id: str, region: str):
                return next((i for i in cloud.instances.values() if i.vm_id == vm_id), None)

            def list_managed(self, region: str = ""):
                self._call("list")
                return [i for i in cloud.instances.values() if not region or i.region == region]

            def _move(self, operation: str, ref: InstanceRef, status: VMStatus) -> None:
                self._call(operation)
                if ref.instance_id not in cloud.instances:
                    raise NotFound(f"{ref.instance_id} not found", provider=provider, account=self.config.name)
                cloud.set_status(ref.instance_id, status)

            def start(self, ref):
                self._move("start", ref, VMStatus.RUNNING)

            def stop(self, ref):
                self._move("stop", ref, VMStatus.STOPPED)

            def reboot(self, ref):
                self._move("reboot", ref, VMStatus.RUNNING)

            def terminate(self, ref):
                self._move("terminate", ref, VMStatus.TERMINATED)

            def verify(self):
                self._call("verify")

        return FakeProvider
