"""Azure adapter: the VMs of one resource group of one subscription, through azure-mgmt-compute.

- Create is idempotent through a deterministic VM name, `skyclust-<vm uuid>`: a repeated PUT with the same
  body changes nothing, so the reconciler can retry a create with the same key. The body must therefore be
  deterministic too (hence a fixed SSH key, see `_NO_LOGIN_SSH_KEY`).
- Create and the lifecycle calls return once Azure has *accepted* the operation (`polling=False`): Azure
  validates synchronously, and the long-running part (minutes for a create) is confirmed by the status
  poller, exactly as for EC2 and GCE. A web request never waits for a VM to boot.
- stop() *deallocates*: a VM that is only powered off still bills its compute.
- Throttling and 5xx are retried by azure-core's RetryPolicy (with jitter added, see `_BoundedRetryPolicy`).

Against the sandbox (a plain-http endpoint) a local credential and a bearer policy that allows http stand
in for Microsoft Entra ID; otherwise azure-identity authenticates (ClientSecretCredential, or the ambient
DefaultAzureCredential chain when the account stores no credentials).
"""
from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy
from azure.mgmt.compute import ComputeManagementClient

from vms.providers.base import (
    VM_ID_TAG,
    AccountConfig,
    AuthenticationFailed,
    CloudInstance,
    Conflict,
    InstanceRef,
    InstanceSpec,
    InvalidRequest,
    NotFound,
    ProviderError,
    Throttled,
    Unavailable,
)
from vms.state import VMStatus

PROVIDER = "azure"
ARM_SCOPE = "https://management.azure.com/.default"
NAME_PREFIX = "skyclust-"
ADMIN_USERNAME = "skyclust"
NETWORK_API_VERSION = "2020-11-01"

# Public half of a key pair whose private half was thrown away: Azure requires a login method on Linux
# VMs, and a key generated per process would change the PUT body and break idempotent retries.
# Set `ssh_public_key` in the account's settings to be able to log in.
_NO_LOGIN_SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC40iwRTmaPhgblniLROgpZ6+YoOnc7fyOI54aEFN3MjPUltyhij3qXsRoZwtgq1xjarox4vKfZ"
    "wcKxmACLeIlNVcHaeD+wrHuvehQmZJpFTauaCFqyGK7mkB7PO+eCwecxw1u/YrEqaAm924XPem6NKo2G4C/SsXMh01V+SBQYBMdePs8D7PHkHv1Z"
    "NezjJVEuoAhgM4W+LHV9C7oauL6a1CPyFVN33Jq9Vh6Pym73QkCXJXYJognxa875fL0WjnI4z5sXuESoqz335x5c5LV2m24bT2VC9qaXiI392B38"
    "sXwFPLVgh9tl/n9/R/NHofueSAvgUUs1qnAW+tXElSF9 skyclust-no-login"
)

# instanceView status code -> our status. ProvisioningState codes win over PowerState ones (a VM being
# deleted may still report PowerState/running).
AZURE_STATUS: dict[str, VMStatus] = {
    "ProvisioningState/creating": VMStatus.PENDING,
    "ProvisioningState/deleting": VMStatus.TERMINATING,
    "ProvisioningState/failed": VMStatus.ERROR,
    "PowerState/starting": VMStatus.STARTING,
    "PowerState/running": VMStatus.RUNNING,
    "PowerState/stopping": VMStatus.STOPPING,
    "PowerState/stopped": VMStatus.STOPPED,
    "PowerState/deallocating": VMStatus.STOPPING,
    "PowerState/deallocated": VMStatus.STOPPED,
}

# 404 codes that mean "your account settings point nowhere", not "this VM is gone".
_SCOPE_NOT_FOUND = {"resourcegroupnotfound", "subscriptionnotfound"}

RETRY_TOTAL = 3
RETRY_BACKOFF_FACTOR = 0.2
RETRY_BACKOFF_MAX = 2  # seconds; also the longest Retry-After we are willing to sleep on
SANDBOX_POLLING_INTERVAL = 0.05  # the sandbox sends no Retry-After on operations; real Azure does


def vm_resource_name(vm_id: str) -> str:
    """The deterministic Azure resource name for a SkyClust VM (45 chars; Azure allows 64)."""
    return f"{NAME_PREFIX}{str(vm_id).lower()}"


def computer_name(name: str) -> str:
    """A Linux host name Azure accepts: letters, digits and hyphens, at most 64, not only digits."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:64].strip("-")
    if not cleaned:
        return "skyclust-vm"
    return f"vm-{cleaned}"[:64] if cleaned.isdigit() else cleaned


def status_from_instance_view(codes: list[str], provisioning_state: str | None = None) -> tuple[VMStatus, str]:
    """(our status, the Azure state word) from instanceView status codes, or the provisioningState alone."""
    normalised = [_normalise_code(code) for code in codes]
    if provisioning_state:
        normalised.append(_normalise_code(f"ProvisioningState/{provisioning_state}"))
    for kind in ("ProvisioningState/", "PowerState/"):
        for code in normalised:
            if code.startswith(kind) and code in AZURE_STATUS:
                return AZURE_STATUS[code], code.split("/", 1)[1]
    # e.g. PowerState/unknown, or a settled VM seen without its instance view
    return VMStatus.ERROR, ", ".join(normalised) or "unknown"


def _normalise_code(code: str) -> str:
    kind, _, rest = code.partition("/")
    return f"{kind}/{rest.split('/')[0].lower()}"  # "ProvisioningState/failed/AllocationFailed" -> ".../failed"


class SandboxCredential:
    """A TokenCredential for the local sandbox: returns the token the emulator derives from the secret."""

    def __init__(self, tenant_id: str, client_id: str, client_secret: str):
        from vms.sandbox.azure import access_token_for  # stdlib only; keeps the sandbox out of real-cloud runs

        self._token = access_token_for(tenant_id, client_id, client_secret)

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def __repr__(self) -> str:
        return "SandboxCredential(...)"


class StaticBearerTokenPolicy(SansIOHTTPPolicy):
    """Sets `Authorization: Bearer <token>`; unlike the stock bearer policy it allows plain http (sandbox)."""

    def __init__(self, credential: SandboxCredential, *scopes: str):
        super().__init__()
        self._credential = credential
        self._scopes = scopes

    def on_request(self, request) -> None:
        token = self._credential.get_token(*self._scopes)
        request.http_request.headers["Authorization"] = f"Bearer {token.token}"


class _BoundedRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy with jittered backoff and a ceiling on Retry-After.

    The stock policy sleeps whatever Retry-After says (Azure sends up to minutes) and backs off without
    jitter. Here a Retry-After above `retry_backoff_max` is not slept on: the 429 surfaces at once as
    Throttled(retry_after) and the caller (the poller) backs off, instead of a web request hanging.
    """

    def is_retry(self, settings, response) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after and retry_after > self.backoff_max:
            return False
        return super().is_retry(settings, response)

    def get_backoff_time(self, settings) -> float:
        return super().get_backoff_time(settings) * random.uniform(0.5, 1.0)

    def sleep(self, settings, transport, response=None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after:
            transport.sleep(retry_after * random.uniform(1.0, 1.2))  # spread clients throttled together
            return
        super().sleep(settings, transport)


class AzureProvider:
    name = PROVIDER
    lists_per_region = False  # ListAll pages through the whole subscription

    def __init__(self, config: AccountConfig):
        self.config = config
        self.subscription_id = config.settings.get("subscription_id", "")
        self.resource_group = config.settings.get("resource_group", "")
        if not self.subscription_id or not self.resource_group:
            raise InvalidRequest(
                f"Azure account {config.name!r} needs the subscription_id and resource_group settings.",
                provider=PROVIDER, account=config.name,
            )
        self.credential = self._credential()
        self.client = self._build_client(self.credential)

    # --- Provider protocol --------------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> CloudInstance:
        name = vm_resource_name(spec.vm_id)
        body = self._vm_body(name, spec)
        with self._translated_errors():
            poller = self.client.virtual_machines.begin_create_or_update(self.resource_group, name, body, polling=False)
            answer = poller.result()  # without polling: the PUT's own answer, no further call
        if (answer.provisioning_state or "").lower() == "creating":
            return self._to_instance(answer)
        return self.get(InstanceRef(name, spec.region))  # it existed already (a retried create): ask its state

    def get(self, ref: InstanceRef) -> CloudInstance:
        with self._translated_errors():
            vm = self.client.virtual_machines.get(self.resource_group, ref.instance_id, expand="instanceView")
        return self._to_instance(vm)

    def find_by_vm_id(self, vm_id: str, region: str) -> CloudInstance | None:
        try:
            instance = self.get(InstanceRef(vm_resource_name(vm_id), region))
        except NotFound:
            return None
        return instance if instance.vm_id.lower() == str(vm_id).lower() else None

    def list_managed(self, region: str = "") -> Iterator[CloudInstance]:
        with self._translated_errors():
            for vm in self.client.virtual_machines.list_all(status_only="true"):
                if self._is_managed_here(vm, region):
                    yield self._to_instance(vm)

    def start(self, ref: InstanceRef) -> None:
        self._accepted(self.client.virtual_machines.begin_start, ref)

    def stop(self, ref: InstanceRef) -> None:
        self._accepted(self.client.virtual_machines.begin_deallocate, ref)

    def reboot(self, ref: InstanceRef) -> None:
        self._accepted(self.client.virtual_machines.begin_restart, ref)

    def terminate(self, ref: InstanceRef) -> None:
        self._accepted(self.client.virtual_machines.begin_delete, ref)

    def verify(self) -> None:
        """Reads the first page of the resource group's VMs: checks credentials, subscription and group."""
        with self._translated_errors():
            next(self.client.virtual_machines.list(self.resource_group).by_page(), None)

    # --- requests ------------------------------------------------------------------------------------

    def _accepted(self, begin_operation, ref: InstanceRef) -> None:
        """Starts a long-running operation and returns once Azure accepted it (the poller confirms it)."""
        with self._translated_errors():
            begin_operation(self.resource_group, ref.instance_id, polling=False)

    def _vm_body(self, name: str, spec: InstanceSpec) -> dict:
        return {
            "location": spec.region,
            "tags": {**spec.tags, VM_ID_TAG: str(spec.vm_id).lower(), "Name": spec.name},
            "properties": {
                "hardwareProfile": {"vmSize": spec.instance_type},
                "storageProfile": {
                    "imageReference": self._image_reference(spec.image_id),
                    "osDisk": {
                        "createOption": "FromImage",
                        "diskSizeGB": spec.storage_gb,
                        "deleteOption": "Delete",  # no orphaned disk after terminate
                        "managedDisk": {"storageAccountType": "StandardSSD_LRS"},
                    },
                },
                "osProfile": {
                    "computerName": computer_name(spec.name),
                    "adminUsername": ADMIN_USERNAME,
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {
                            "publicKeys": [
                                {
                                    "path": f"/home/{ADMIN_USERNAME}/.ssh/authorized_keys",
                                    "keyData": self.config.settings.get("ssh_public_key") or _NO_LOGIN_SSH_KEY,
                                }
                            ]
                        },
                    },
                },
                # Network interface configurations let Azure create (and delete) the NIC with the VM.
                "networkProfile": {
                    "networkApiVersion": NETWORK_API_VERSION,
                    "networkInterfaceConfigurations": [
                        {
                            "name": f"{name}-nic",
                            "properties": {
                                "primary": True,
                                "deleteOption": "Delete",
                                "ipConfigurations": [
                                    {"name": "ipconfig1", "properties": {"subnet": {"id": self._subnet_id()}}}
                                ],
                            },
                        }
                    ],
                },
            },
        }

    def _image_reference(self, image_id: str) -> dict:
        parts = image_id.split(":")
        if len(parts) != 4 or not all(parts):
            raise InvalidRequest(
                f"Azure image ids look like publisher:offer:sku:version, not {image_id!r}.",
                provider=PROVIDER, account=self.config.name,
            )
        return dict(zip(("publisher", "offer", "sku", "version"), parts))

    def _subnet_id(self) -> str:
        return self.config.settings.get("subnet_id") or (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            "/providers/Microsoft.Network/virtualNetworks/skyclust-vnet/subnets/default"
        )

    # --- answers -------------------------------------------------------------------------------------

    def _is_managed_here(self, vm, region: str) -> bool:
        if VM_ID_TAG not in (vm.tags or {}):
            return False
        if region and vm.location != region:
            return False
        return _resource_group_of(vm.id).lower() == self.resource_group.lower()

    def _to_instance(self, vm) -> CloudInstance:
        view = vm.instance_view
        codes = [status.code for status in (view.statuses if view and view.statuses else []) if status.code]
        status, cloud_state = status_from_instance_view(codes, None if codes else vm.provisioning_state)
        tags = vm.tags or {}
        return CloudInstance(
            instance_id=vm.name,
            status=status,
            cloud_state=cloud_state,
            region=vm.location,
            vm_id=tags.get(VM_ID_TAG, ""),
            name=tags.get("Name", vm.name),
        )

    # --- client and errors ---------------------------------------------------------------------------

    def _is_sandbox(self) -> bool:
        return self.config.endpoint_url.startswith("http://")

    def _credential(self):
        return self._sandbox_credential() if self._is_sandbox() else self._cloud_credential()

    def _build_client(self, credential) -> ComputeManagementClient:
        options: dict = {
            "retry_policy": _BoundedRetryPolicy(
                retry_total=RETRY_TOTAL, retry_backoff_factor=RETRY_BACKOFF_FACTOR, retry_backoff_max=RETRY_BACKOFF_MAX
            ),
            "connection_timeout": 10,
            "read_timeout": 60,
        }
        endpoint = self.config.endpoint_url.rstrip("/")
        if endpoint:
            options["base_url"] = endpoint
        if self._is_sandbox():
            options["authentication_policy"] = StaticBearerTokenPolicy(credential, ARM_SCOPE)
            options["polling_interval"] = SANDBOX_POLLING_INTERVAL
        return ComputeManagementClient(credential, self.subscription_id, **options)

    def _sandbox_credential(self) -> SandboxCredential:
        credentials = self.config.credentials
        return SandboxCredential(
            credentials.get("tenant_id", ""), credentials.get("client_id", ""), credentials.get("client_secret", "")
        )

    def _cloud_credential(self):
        from azure.identity import ClientSecretCredential, DefaultAzureCredential

        if self.config.ambient:
            return DefaultAzureCredential()
        credentials = self.config.credentials
        missing = [key for key in ("tenant_id", "client_id", "client_secret") if not credentials.get(key)]
        if missing:
            raise InvalidRequest(
                f"Azure account {self.config.name!r} is missing credential fields: {', '.join(missing)}.",
                provider=PROVIDER, account=self.config.name,
            )
        return ClientSecretCredential(credentials["tenant_id"], credentials["client_id"], credentials["client_secret"])

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except AzureError as err:
            raise self._translate(err) from err

    def _translate(self, err: AzureError) -> ProviderError:
        account, scope = self.config.name, {"provider": PROVIDER, "account": self.config.name}
        status = getattr(err, "status_code", None)
        code, message = _cloud_reason(err)
        message = self._scrub(message)
        if isinstance(err, ClientAuthenticationError) or status in (401, 403):
            return AuthenticationFailed(f"Azure rejected the credentials of account {account!r}: {message}", **scope)
        if isinstance(err, (ServiceRequestError, ServiceResponseError)):
            return Unavailable(f"Azure is unreachable for account {account!r}: {message}", **scope)
        if status == 429:
            return Throttled(
                f"Azure is throttling account {account!r}: {message}", retry_after=_retry_after(err), **scope
            )
        if status == 404:
            if code.lower() in _SCOPE_NOT_FOUND:
                return InvalidRequest(f"{message} Check the settings of account {account!r}.", **scope)
            return NotFound(message, **scope)
        if status == 409:
            return Conflict(message, **scope)
        if status and 400 <= status < 500:
            return InvalidRequest(message, **scope)
        if status and status >= 500:
            return Unavailable(f"Azure failed for account {account!r}: {message}", **scope)
        return ProviderError(f"Azure call failed for account {account!r}: {message}", **scope)

    def _scrub(self, text: str) -> str:
        """Belt and braces: a credential value never reaches a message, whatever the SDK put in it."""
        for value in self.config.credentials.values():
            if isinstance(value, str) and len(value) >= 4:
                text = text.replace(value, "***")
        return text


def _cloud_reason(err: AzureError) -> tuple[str, str]:
    """(ARM error code, the cloud's message) of an SDK error, falling back to the exception text."""
    odata = getattr(err, "error", None)
    if odata is not None and getattr(odata, "message", None):
        return odata.code or "", odata.message
    response = getattr(err, "response", None)
    if response is not None:
        try:
            error = response.json().get("error") or {}
        except Exception:  # not JSON (a proxy's HTML page, an empty body): use the exception text
            error = {}
        if error.get("message"):
            return error.get("code") or "", error["message"]
    return "", str(getattr(err, "message", None) or err).splitlines()[0]


def _retry_after(err: AzureError) -> float | None:
    response = getattr(err, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: Azure sends seconds, so do not bother parsing it
        return None


def _resource_group_of(resource_id: str) -> str:
    match = re.search(r"/resourceGroups/([^/]+)", resource_id or "", re.IGNORECASE)
    return match.group(1) if match else ""
