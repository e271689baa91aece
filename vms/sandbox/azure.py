"""A local Azure Resource Manager that speaks just enough Microsoft.Compute for SkyClust.

The real azure-mgmt-compute client talks to it over HTTP: VM create-or-update (idempotent by name), get
(with the instance view), delete, start / powerOff / deallocate / restart, the subscription-wide
`ListAll?statusOnly=true` paged by an absolute `nextLink`, and the long-running-operation protocol
(`Azure-AsyncOperation` and `Location` headers, no `Retry-After` so clients poll at their own pace).

Requests need `Authorization: Bearer <token>` where the token is `access_token_for(...)` of the sandbox
service principal; the secret itself never travels. Stdlib only: `make run` starts it next to the web
process. State lives in memory and moves through transitional states lazily, from the time of the
request that started them (no background threads).
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from vms.catalog import CATALOG
from vms.providers.base import AccountConfig
from vms.sandbox.http import EmulatorError, EmulatorHandler, ServedEmulator

# A made-up service principal and subscription: valid only against this emulator.
SANDBOX_TENANT_ID = "5a7d0b0c-0000-4000-8000-000000000001"
SANDBOX_CLIENT_ID = "5a7d0b0c-0000-4000-8000-000000000002"
SANDBOX_CLIENT_SECRET = "skyclust-sandbox-client-secret"
SANDBOX_SUBSCRIPTION_ID = "5a7d0b0c-0000-4000-8000-000000000003"
SANDBOX_RESOURCE_GROUP = "skyclust-sandbox"

PAGE_SIZE = 100
_CATALOG = CATALOG["azure"]


def access_token_for(tenant_id: str, client_id: str, client_secret: str) -> str:
    """The bearer token the sandbox accepts for a service principal: an HMAC, so the secret stays home."""
    digest = hmac.new(client_secret.encode(), f"{tenant_id}:{client_id}".encode(), hashlib.sha256)
    return f"sandbox.{digest.hexdigest()}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class ArmError(EmulatorError):
    """An ARM error answer: {"error": {"code", "message"}} with an HTTP status."""

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def _not_found(resource_group: str, name: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{resource_group}' "
        "was not found.",
    )


def _invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message)


# ---------------------------------------------------------------------------------------------------------
# The in-memory cloud
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Phase:
    provisioning: str  # ProvisioningState word, e.g. "succeeded"
    power: str  # PowerState word, e.g. "running"


@dataclass
class _Machine:
    name: str
    resource_group: str
    spec: dict  # location, tags, properties exactly as last PUT (secrets included, never returned)
    vm_uuid: str
    time_created: str
    phase: _Phase
    next_phase: _Phase | None = None  # None with settles_at set: the VM disappears (deleted)
    settles_at: float | None = None

    def settle(self, now: float) -> None:
        if self.settles_at is not None and now >= self.settles_at and self.next_phase is not None:
            self.phase, self.next_phase, self.settles_at = self.next_phase, None, None

    def is_gone(self, now: float) -> bool:
        return self.settles_at is not None and self.next_phase is None and now >= self.settles_at

    def move(self, via: _Phase, to: _Phase | None, now: float, seconds: float) -> None:
        self.phase, self.next_phase, self.settles_at = via, to, now + seconds


@dataclass(frozen=True)
class _Action:
    allowed_from: AbstractSet[str]  # power states the action starts from
    already_done: AbstractSet[str]  # power states where it is a no-op that succeeds
    via: str  # power state while it runs
    to: str  # power state once done


# POST VM/{action}; from any other power state it answers 409 OperationNotAllowed.
_ACTIONS = {
    "start": _Action(
        allowed_from={"stopped", "deallocated"}, already_done={"running", "starting"}, via="starting", to="running"
    ),
    "powerOff": _Action(
        allowed_from={"running", "starting"}, already_done={"stopped", "stopping", "deallocated"},
        via="stopping", to="stopped",
    ),
    "deallocate": _Action(
        allowed_from={"running", "starting", "stopped"}, already_done={"deallocated", "deallocating"},
        via="deallocating", to="deallocated",
    ),
    "restart": _Action(allowed_from={"running"}, already_done=set(), via="starting", to="running"),
}

_DISPLAY = {
    "starting": "VM starting", "running": "VM running", "stopping": "VM stopping", "stopped": "VM stopped",
    "deallocating": "VM deallocating", "deallocated": "VM deallocated",
    "creating": "Creating", "updating": "Updating", "succeeded": "Provisioning succeeded",
    "deleting": "Deleting", "failed": "Provisioning failed",
}

# Properties Azure refuses to change on an existing VM (PUT answers 409 PropertyChangeNotAllowed).
_IMMUTABLE = ("osProfile", "storageProfile.imageReference")


@dataclass
class _Operation:
    id: str
    location: str
    settles_at: float
    started: str = field(default_factory=_now_iso)


def _dig(data: dict, dotted: str):
    for key in dotted.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _validate_spec(name: str, spec: dict) -> None:
    """400 InvalidParameter for what Azure would refuse synchronously, in the cloud's own words."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}[A-Za-z0-9_]|[A-Za-z0-9]", name):
        raise _invalid(f"The VM name '{name}' is invalid: use 1-64 letters, digits, '.', '_' or '-'.")
    location = spec.get("location") or ""
    if location not in _CATALOG.regions:
        raise _invalid(
            f"The provided location '{location}' is not available for resource type "
            f"'Microsoft.Compute/virtualMachines'. Available locations: {', '.join(_CATALOG.regions)}."
        )
    properties = spec.get("properties") or {}
    size = _dig(properties, "hardwareProfile.vmSize") or ""
    if size not in _CATALOG.types:
        raise _invalid(
            f"The value '{size}' of parameter 'vmSize' is not valid in location '{location}'. "
            f"Available sizes: {', '.join(_CATALOG.types)}."
        )
    image = _dig(properties, "storageProfile.imageReference") or {}
    image_id = ":".join(str(image.get(part, "")) for part in ("publisher", "offer", "sku", "version"))
    if image_id not in _CATALOG.images:
        raise _invalid(f"The platform image '{image_id}' is not available. Verify that all fields are correct.")
    disk_gb = _dig(properties, "storageProfile.osDisk.diskSizeGB")
    minimum_gb = _CATALOG.images[image_id].storage_gb
    if disk_gb is not None and (not isinstance(disk_gb, int) or disk_gb < minimum_gb):
        raise _invalid(
            f"The specified disk size {disk_gb} GB is smaller than the size of the corresponding disk "
            f"in the VM image: {minimum_gb} GB."
        )
    if not _dig(properties, "osProfile.adminUsername"):
        raise _invalid("Required parameter 'osProfile.adminUsername' is missing (null).")
    network = properties.get("networkProfile") or {}
    if not (network.get("networkInterfaces") or network.get("networkInterfaceConfigurations")):
        raise _invalid("Required parameter 'networkProfile.networkInterfaces' is missing (null).")


class _Cloud:
    """The VMs of one subscription, by (resource group, name), lower-cased as ARM names are case-insensitive.

    Every public method takes the lock; transitions settle when a request observes them."""

    def __init__(self, subscription_id: str, resource_groups: set[str], transition_seconds: float):
        self.subscription_id = subscription_id
        self.initial_resource_groups = frozenset(group.lower() for group in resource_groups)
        self.resource_groups = set(self.initial_resource_groups)
        self.transition_seconds = transition_seconds
        self.machines: dict[tuple[str, str], _Machine] = {}
        self.operations: dict[str, _Operation] = {}
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.machines.clear()
            self.operations.clear()
            self.resource_groups = set(self.initial_resource_groups)

    # --- scope checks ---------------------------------------------------------------------------------

    def check_scope(self, subscription_id: str, resource_group: str | None = None) -> None:
        if subscription_id.lower() != self.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
        if resource_group is not None and resource_group.lower() not in self.resource_groups:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")

    def _observed(self, resource_group: str, name: str, now: float) -> _Machine | None:
        key = (resource_group.lower(), name.lower())
        machine = self.machines.get(key)
        if machine is None:
            return None
        if machine.is_gone(now):
            del self.machines[key]
            return None
        machine.settle(now)
        return machine

    def _existing(self, resource_group: str, name: str, now: float) -> _Machine:
        machine = self._observed(resource_group, name, now)
        if machine is None:
            raise _not_found(resource_group, name)
        return machine

    def _operation(self, location: str, now: float, seconds: float | None = None) -> _Operation:
        seconds = self.transition_seconds if seconds is None else seconds
        operation = _Operation(str(uuid.uuid4()), location, now + seconds)
        self.operations[operation.id] = operation
        return operation

    # --- VM calls -------------------------------------------------------------------------------------

    def create_or_update(self, resource_group: str, name: str, spec: dict) -> tuple[int, _Machine, _Operation | None]:
        """(HTTP status, machine, operation or None when nothing changed)."""
        _validate_spec(name, spec)
        now = time.monotonic()
        with self.lock:
            machine = self._observed(resource_group, name, now)
            if machine is None:
                creating = _Phase("creating", "starting")
                machine = _Machine(
                    name=name, resource_group=resource_group, spec=copy.deepcopy(spec),
                    vm_uuid=str(uuid.uuid4()), time_created=_now_iso(), phase=creating,
                )
                machine.move(creating, _Phase("succeeded", "running"), now, self.transition_seconds)
                self.machines[(resource_group.lower(), name.lower())] = machine
                return 201, machine, self._operation(machine.spec["location"], now)
            return self._update(machine, spec, now)

    def _update(self, machine: _Machine, spec: dict, now: float) -> tuple[int, _Machine, _Operation | None]:
        if machine.phase.provisioning == "deleting":
            raise ArmError(409, "OperationNotAllowed", f"The VM '{machine.name}' is being deleted.")
        if spec == machine.spec:
            return 200, machine, None
        if spec.get("location") != machine.spec.get("location"):
            raise ArmError(409, "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.")
        for dotted in _IMMUTABLE:
            if _dig(spec.get("properties") or {}, dotted) != _dig(machine.spec.get("properties") or {}, dotted):
                raise ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{dotted}' is not allowed.")
        machine.spec = copy.deepcopy(spec)
        power = machine.next_phase.power if machine.next_phase else machine.phase.power
        machine.move(_Phase("updating", machine.phase.power), _Phase("succeeded", power), now, self.transition_seconds)
        return 200, machine, self._operation(machine.spec["location"], now)

    def get(self, resource_group: str, name: str) -> _Machine:
        with self.lock:
            return self._existing(resource_group, name, time.monotonic())

    def delete(self, resource_group: str, name: str) -> _Operation:
        now = time.monotonic()
        with self.lock:
            machine = self._existing(resource_group, name, now)
            if machine.phase.provisioning != "deleting":
                machine.move(_Phase("deleting", machine.phase.power), None, now, self.transition_seconds)
            return self._operation(machine.spec["location"], now)

    def act(self, resource_group: str, name: str, action_name: str) -> _Operation:
        now = time.monotonic()
        with self.lock:
            machine = self._existing(resource_group, name, now)
            action = _ACTIONS[action_name]
            power = machine.phase.power
            if machine.phase.provisioning in ("creating", "deleting") or (
                power not in action.allowed_from and power not in action.already_done
            ):
                state = machine.phase.provisioning if machine.phase.provisioning != "succeeded" else power
                raise ArmError(
                    409, "OperationNotAllowed",
                    f"Operation '{action_name}' is not allowed on VM '{machine.name}' since the VM is {state}.",
                )
            if power in action.already_done:
                return self._operation(machine.spec["location"], now, seconds=0)
            provisioning = machine.phase.provisioning
            via, to = _Phase(provisioning, action.via), _Phase(provisioning, action.to)
            machine.move(via, to, now, self.transition_seconds)
            return self._operation(machine.spec["location"], now)

    def page(self, after: str, size: int, resource_group: str | None = None) -> tuple[list[_Machine], str | None]:
        """Machines sorted by (group, name) after the `after` key, and the next key or None."""
        now = time.monotonic()
        with self.lock:
            for key in [key for key, machine in self.machines.items() if machine.is_gone(now)]:
                del self.machines[key]
            keys = sorted(
                key for key in self.machines
                if f"{key[0]}/{key[1]}" > after and (resource_group is None or key[0] == resource_group.lower())
            )
            chosen = [self.machines[key] for key in keys[:size]]
            for machine in chosen:
                machine.settle(now)
            next_key = f"{keys[size - 1][0]}/{keys[size - 1][1]}" if len(keys) > size else None
            return chosen, next_key

    def operation(self, operation_id: str) -> tuple[_Operation, bool]:
        with self.lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                raise ArmError(404, "NotFound", f"The operation '{operation_id}' was not found.")
            return operation, time.monotonic() >= operation.settles_at


# ---------------------------------------------------------------------------------------------------------
# JSON views
# ---------------------------------------------------------------------------------------------------------

def _status(kind: str, word: str) -> dict:
    return {"code": f"{kind}/{word}", "level": "Info", "displayStatus": _DISPLAY.get(word, word), "time": _now_iso()}


def _instance_view(machine: _Machine) -> dict:
    return {
        "computerName": _dig(machine.spec, "properties.osProfile.computerName") or machine.name,
        "osName": "ubuntu",
        "statuses": [
            _status("ProvisioningState", machine.phase.provisioning),
            _status("PowerState", machine.phase.power),
        ],
    }


def _public_properties(properties: dict) -> dict:
    shown = copy.deepcopy(properties)
    os_profile = shown.get("osProfile") or {}
    for secret in ("adminPassword", "customData"):  # Azure never returns them
        os_profile.pop(secret, None)
    return shown


def _vm_json(subscription_id: str, machine: _Machine, *, with_instance_view: bool) -> dict:
    properties = _public_properties(machine.spec.get("properties") or {})
    properties.update(
        vmId=machine.vm_uuid,
        timeCreated=machine.time_created,
        provisioningState=machine.phase.provisioning.capitalize(),
    )
    if with_instance_view:
        properties["instanceView"] = _instance_view(machine)
    return {
        "id": f"/subscriptions/{subscription_id}/resourceGroups/{machine.resource_group}"
              f"/providers/Microsoft.Compute/virtualMachines/{machine.name}",
        "name": machine.name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": machine.spec["location"],
        "tags": dict(machine.spec.get("tags") or {}),
        "properties": properties,
    }


# ---------------------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------------------

_SUB = r"/subscriptions/(?P<subscription>[^/]+)"
_GROUP = _SUB + r"/resourceGroups/(?P<group>[^/]+)"
_VMS = r"/providers/Microsoft\.Compute/virtualMachines"
_ROUTES: list[tuple[str, re.Pattern, str, str]] = [
    (method, re.compile(f"^{path}$", re.IGNORECASE), handler, operation)
    for method, path, handler, operation in [
        ("GET", _SUB + _VMS, "list_all", "ListAll"),
        ("GET", _GROUP + _VMS, "list_group", "List"),
        ("PUT", _GROUP + _VMS + r"/(?P<name>[^/]+)", "create_or_update", "CreateOrUpdate"),
        ("GET", _GROUP + _VMS + r"/(?P<name>[^/]+)", "get", "Get"),
        ("DELETE", _GROUP + _VMS + r"/(?P<name>[^/]+)", "delete", "Delete"),
        ("GET", _GROUP + _VMS + r"/(?P<name>[^/]+)/instanceView", "instance_view", "InstanceView"),
        ("POST", _GROUP + _VMS + r"/(?P<name>[^/]+)/start", "start", "Start"),
        ("POST", _GROUP + _VMS + r"/(?P<name>[^/]+)/powerOff", "power_off", "PowerOff"),
        ("POST", _GROUP + _VMS + r"/(?P<name>[^/]+)/deallocate", "deallocate", "Deallocate"),
        ("POST", _GROUP + _VMS + r"/(?P<name>[^/]+)/restart", "restart", "Restart"),
        (
            "GET",
            _SUB + r"/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/operations/(?P<operation>[^/]+)",
            "operation_status",
            "GetOperation",
        ),
    ]
]


class _Handler(EmulatorHandler):
    content_type = "application/json; charset=utf-8"

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def extra_headers(self) -> dict[str, str]:
        return {"x-ms-request-id": str(uuid.uuid4())}

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.emulator.url

    # --- ARM ------------------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        emulator, path = self.server.emulator, unquote(path).rstrip("/")
        for route_method, pattern, handler_name, operation in _ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                break
        else:
            raise ArmError(404, "InvalidResourceType", f"No route for {method} {path}.")
        emulator.count_call(operation)
        self._authenticate()
        if "api-version" not in query:
            raise ArmError(
                400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required."
            )
        self._apply_faults()
        getattr(self, f"_{handler_name}")(query=query, body=body, **match.groupdict())

    def _authenticate(self) -> None:
        expected = self.server.emulator.access_token
        given = self.headers.get("Authorization") or ""
        if not given.startswith("Bearer "):
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        if not hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode()):
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The access token is invalid.")

    def _apply_faults(self) -> None:
        faults = self.server.emulator.faults
        decision = faults.decide()
        if decision == "throttle":
            raise ArmError(
                429, "TooManyRequests",
                "The request is being throttled as the limit has been reached for this operation type.",
                {"Retry-After": f"{faults.retry_after:g}"},
            )
        if decision == "error":
            raise ArmError(500, "InternalServerError", "The server encountered an internal error; retry the request.")

    def _operation_headers(self, operation: _Operation) -> dict[str, str]:
        cloud = self.server.emulator.cloud
        url = (
            f"{self._base_url()}/subscriptions/{cloud.subscription_id}/providers/Microsoft.Compute/locations/"
            f"{operation.location}/operations/{operation.id}?api-version=2026-04-01"
        )
        return {"Azure-AsyncOperation": url, "Location": f"{url}&monitor=true"}

    def _vm_payload(self, machine: _Machine, *, with_instance_view: bool) -> dict:
        return _vm_json(self.server.emulator.cloud.subscription_id, machine, with_instance_view=with_instance_view)

    def _list_all(self, *, subscription: str, query: dict, body: bytes) -> None:
        self.server.emulator.cloud.check_scope(subscription)
        path = f"/subscriptions/{subscription}/providers/Microsoft.Compute/virtualMachines"
        self._send_page(path, query, group=None)

    def _list_group(self, *, subscription: str, group: str, query: dict, body: bytes) -> None:
        self.server.emulator.cloud.check_scope(subscription, group)
        path = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines"
        self._send_page(path, query, group=group)

    def _send_page(self, path: str, query: dict, *, group: str | None) -> None:
        emulator = self.server.emulator
        with_instance_view = query.get("statusOnly", "").lower() == "true"
        machines, next_key = emulator.cloud.page(query.get("$skiptoken", ""), emulator.page_size, group)
        payload: dict = {"value": [self._vm_payload(m, with_instance_view=with_instance_view) for m in machines]}
        if next_key:
            carried = {k: v for k, v in query.items() if k != "$skiptoken"} | {"$skiptoken": next_key}
            encoded = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in carried.items())
            payload["nextLink"] = f"{self._base_url()}{path}?{encoded}"
        self._send(200, payload)

    def _create_or_update(self, *, subscription: str, group: str, name: str, query: dict, body: bytes) -> None:
        cloud = self.server.emulator.cloud
        cloud.check_scope(subscription, group)
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            ) from None
        spec = {key: spec[key] for key in ("location", "tags", "properties") if key in spec}
        status, machine, operation = cloud.create_or_update(group, name, spec)
        headers = self._operation_headers(operation) if operation else {}
        self._send(status, self._vm_payload(machine, with_instance_view=False), headers)

    def _get(self, *, subscription: str, group: str, name: str, query: dict, body: bytes) -> None:
        cloud = self.server.emulator.cloud
        cloud.check_scope(subscription, group)
        expand = query.get("$expand", "").lower() == "instanceview"
        self._send(200, self._vm_payload(cloud.get(group, name), with_instance_view=expand))

    def _instance_view(self, *, subscription: str, group: str, name: str, query: dict, body: bytes) -> None:
        cloud = self.server.emulator.cloud
        cloud.check_scope(subscription, group)
        self._send(200, _instance_view(cloud.get(group, name)))

    def _delete(self, *, subscription: str, group: str, name: str, query: dict, body: bytes) -> None:
        cloud = self.server.emulator.cloud
        cloud.check_scope(subscription, group)
        self._send(202, None, self._operation_headers(cloud.delete(group, name)))

    def _act(self, action: str, subscription: str, group: str, name: str) -> None:
        cloud = self.server.emulator.cloud
        cloud.check_scope(subscription, group)
        self._send(202, None, self._operation_headers(cloud.act(group, name, action)))

    def _start(self, *, query: dict, body: bytes, **names: str) -> None:
        self._act("start", **names)

    def _power_off(self, *, query: dict, body: bytes, **names: str) -> None:
        self._act("powerOff", **names)

    def _deallocate(self, *, query: dict, body: bytes, **names: str) -> None:
        self._act("deallocate", **names)

    def _restart(self, *, query: dict, body: bytes, **names: str) -> None:
        self._act("restart", **names)

    def _operation_status(self, *, subscription: str, location: str, operation: str, query: dict, body: bytes) -> None:
        cloud = self.server.emulator.cloud
        cloud.check_scope(subscription)
        found, done = cloud.operation(operation)
        if query.get("monitor", "").lower() == "true":  # the Location URL: 202 until done, then 200
            if done:
                self._send(200, {})
            else:
                self._send(202, None, self._operation_headers(found))
            return
        payload = {"name": found.id, "status": "Succeeded" if done else "InProgress", "startTime": found.started}
        if done:
            payload["endTime"] = _now_iso()
        self._send(200, payload)

class AzureEmulator(ServedEmulator):
    """Local Azure Resource Manager for Microsoft.Compute VMs. See the module docstring."""

    name = "azure"
    handler = _Handler

    def __init__(self, host: str = "127.0.0.1", port: int = 0, transition_seconds: float = 0.0):
        super().__init__(host, port)
        self.page_size = PAGE_SIZE
        self.subscription_id = SANDBOX_SUBSCRIPTION_ID
        self.resource_group = SANDBOX_RESOURCE_GROUP
        self.access_token = access_token_for(SANDBOX_TENANT_ID, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
        self.cloud = _Cloud(self.subscription_id, {self.resource_group}, transition_seconds)

    def error(self, status: int, message: str) -> ArmError:
        return ArmError(status, {400: "InvalidFaults", 404: "NotFound"}.get(status, "InternalServerError"), message)

    @property
    def transition_seconds(self) -> float:
        return self.cloud.transition_seconds

    @transition_seconds.setter
    def transition_seconds(self, seconds: float) -> None:
        self.cloud.transition_seconds = seconds

    def reset(self) -> None:
        self.cloud.reset()
        super().reset()

    def account_config(self, name: str = "sandbox") -> AccountConfig:
        return AccountConfig(
            provider="azure",
            name=name,
            credentials={
                "tenant_id": SANDBOX_TENANT_ID,
                "client_id": SANDBOX_CLIENT_ID,
                "client_secret": SANDBOX_CLIENT_SECRET,
            },
            settings={"subscription_id": self.subscription_id, "resource_group": self.resource_group},
            endpoint_url=self.url,
        )
