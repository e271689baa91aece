"""GCP Compute Engine adapter: google-cloud-compute's InstancesClient over REST.

GCP addresses an instance by project, zone and *name*, so `InstanceRef.instance_id` is the instance name.
Create is idempotent twice over: the VM's UUID is the `requestId` (a repeat returns the same operation) and
the name carries a suffix of that UUID, so a retry after the request id has expired finds the instance by name.

Calls use the `*_unary()` methods: they return the Operation as the API sent it. `ExtendedOperation.result()`
would build its own operations client that ignores the endpoint override (see CLOUD_APIS.md). The adapter does
not wait for operations; a DONE operation that carries an error becomes a ProviderError, a pending one is left
to the poller (repeating a create with the same request id returns the operation's final outcome).
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import google.auth
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1
from google.oauth2 import service_account

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

PROVIDER = "gcp"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# GCP's TERMINATED means stopped (the disk and the instance remain); a deleted instance is a 404 instead.
STATUS_BY_GCP_STATE: dict[str, VMStatus] = {
    "PENDING": VMStatus.PENDING,
    "PROVISIONING": VMStatus.PENDING,
    "STAGING": VMStatus.STARTING,
    "RUNNING": VMStatus.RUNNING,
    "PENDING_STOP": VMStatus.STOPPING,
    "STOPPING": VMStatus.STOPPING,
    "SUSPENDING": VMStatus.STOPPING,
    "DEPROVISIONING": VMStatus.STOPPING,
    "STOPPED": VMStatus.STOPPED,
    "SUSPENDED": VMStatus.STOPPED,
    "TERMINATED": VMStatus.STOPPED,
    "REPAIRING": VMStatus.ERROR,
}

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
MAX_NAME_LENGTH = 63
NAME_SUFFIX_LENGTH = 8
LABEL_VALUE = re.compile(r"[a-z0-9_-]{1,63}")


def _is_retryable(error: Exception) -> bool:
    if isinstance(
        error,
        (
            api_exceptions.TooManyRequests,
            api_exceptions.InternalServerError,
            api_exceptions.BadGateway,
            api_exceptions.ServiceUnavailable,
        ),
    ):
        return True
    return isinstance(error, api_exceptions.Forbidden) and _reason(error) in RATE_LIMIT_REASONS


def instance_name(display_name: str, vm_id: str) -> str:
    """A GCP-legal name ([a-z]([-a-z0-9]{0,61}[a-z0-9])?) from the VM's name, plus a suffix of its UUID."""
    suffix = re.sub(r"[^a-z0-9]", "", vm_id.lower())[:NAME_SUFFIX_LENGTH] or "vm"
    base = re.sub(r"[^a-z0-9-]+", "-", display_name.lower())
    base = re.sub(r"-{2,}", "-", base).lstrip("-0123456789")
    base = base[: MAX_NAME_LENGTH - NAME_SUFFIX_LENGTH - 1].rstrip("-") or "vm"
    return f"{base}-{suffix}"


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def _last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _first_error(error: api_exceptions.GoogleAPICallError) -> dict:
    return error.errors[0] if error.errors and isinstance(error.errors[0], dict) else {}


def _reason(error: api_exceptions.GoogleAPICallError) -> str:
    return _first_error(error).get("reason") or error.reason or ""


def _cloud_message(error: api_exceptions.GoogleAPICallError) -> str:
    """The cloud's own message, without the "METHOD URL: " prefix the SDK adds."""
    return _first_error(error).get("message") or re.sub(r"^[A-Z]+ \S+: ", "", str(error.message))


def _retry_after(error: api_exceptions.GoogleAPICallError) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough that the caller's own backoff will do


class GCPProvider:
    name = PROVIDER
    lists_per_region = False  # aggregatedList pages through every zone of the project at once

    PAGE_SIZE = 500  # aggregatedList's maximum
    CALL_TIMEOUT_SECONDS = 10.0  # per call, retries included
    RETRY = Retry(predicate=_is_retryable, initial=0.2, multiplier=2.0, maximum=2.0, timeout=6.0)

    def __init__(self, config: AccountConfig):
        self.config = config
        # Built on first use, so a broken key surfaces as a ProviderError from the call that needed it.
        self._client: compute_v1.InstancesClient | None = None
        self._project = ""

    # -- the protocol -----------------------------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> CloudInstance:
        zone = self._zone_for(spec)
        name = instance_name(spec.name, spec.vm_id)
        client, project = self._connected()
        request = compute_v1.InsertInstanceRequest(
            project=project,
            zone=zone,
            request_id=spec.vm_id,
            instance_resource=self._instance_resource(spec, name, zone),
        )
        try:
            with self._translated_errors(missing_means_invalid=True):
                operation = client.insert_unary(request=request, **self._call_options)
        except Conflict:
            return self._adopt_existing(name, zone, spec.vm_id)
        self._raise_for_failed(operation, missing_means_invalid=True)
        try:
            return self.get(InstanceRef(name, region_of(zone), zone))
        except NotFound:  # accepted but not visible yet: it is on its way
            return CloudInstance(name, VMStatus.PENDING, "PROVISIONING", region_of(zone), zone, spec.vm_id, name)

    def get(self, ref: InstanceRef) -> CloudInstance:
        zone = self._zone_of(ref)
        client, project = self._connected()
        with self._translated_errors():
            instance = client.get(
                request=compute_v1.GetInstanceRequest(project=project, zone=zone, instance=ref.instance_id),
                **self._call_options,
            )
        return self._to_cloud_instance(instance)

    def find_by_vm_id(self, vm_id: str, region: str = "") -> CloudInstance | None:
        if not LABEL_VALUE.fullmatch(vm_id):
            raise self._error(InvalidRequest, f"{vm_id!r} is not a valid GCP label value.")
        found = self._aggregated(f'labels.{VM_ID_TAG} = "{vm_id}"', region, self.PAGE_SIZE)
        return next(found, None)

    def list_managed(self, region: str = "") -> Iterator[CloudInstance]:
        return self._aggregated(f"labels.{VM_ID_TAG}:*", region, self.PAGE_SIZE)

    def start(self, ref: InstanceRef) -> None:
        self._act("start", ref)

    def stop(self, ref: InstanceRef) -> None:
        self._act("stop", ref)

    def reboot(self, ref: InstanceRef) -> None:
        """A reset (hard power cycle) of a running instance; a stopped one is started instead."""
        try:
            self._act("reset", ref)
        except Conflict:
            if self.get(ref).status != VMStatus.STOPPED:
                raise
            self._act("start", ref)

    def terminate(self, ref: InstanceRef) -> None:
        self._act("delete", ref)

    def verify(self) -> None:
        client, project = self._connected()
        request = compute_v1.AggregatedListInstancesRequest(
            project=project, filter=f"labels.{VM_ID_TAG}:*", max_results=1
        )
        with self._translated_errors():
            client.aggregated_list(request=request, **self._call_options)  # the pager fetches page one only

    # -- the client ---------------------------------------------------------------------------------------

    def _connected(self) -> tuple[compute_v1.InstancesClient, str]:
        """The client and the project id, resolved on first use."""
        if self._client is None:
            credentials, ambient_project = self._credentials()
            project = (
                self.config.settings.get("project_id") or self._key_info().get("project_id") or ambient_project
            )
            if not project:
                raise self._error(InvalidRequest, f"GCP account {self.config.name!r} has no project_id setting.")
            endpoint = self.config.endpoint_url.rstrip("/")
            options = ClientOptions(api_endpoint=endpoint) if endpoint else None
            self._client = compute_v1.InstancesClient(
                credentials=credentials, client_options=options, transport="rest"
            )
            self._project = project
        return self._client, self._project

    @property
    def _call_options(self) -> dict:
        return {"retry": self.RETRY, "timeout": self.CALL_TIMEOUT_SECONDS}

    def _key_info(self) -> dict:
        raw = self.config.credentials.get("service_account_json")
        if not raw:
            return {}
        try:
            info = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            info = None
        if not isinstance(info, dict):
            raise self._bad_key()
        return info

    def _credentials(self) -> tuple[object, str]:
        """(credentials, project id the environment names or "")."""
        if self.config.credentials:
            if "service_account_json" not in self.config.credentials:
                raise self._error(
                    AuthenticationFailed,
                    f"The credentials of GCP account {self.config.name!r} need a service_account_json key.",
                )
            try:
                return service_account.Credentials.from_service_account_info(self._key_info()), ""
            except (ValueError, KeyError):
                raise self._bad_key() from None
        if self.config.endpoint_url:
            # Ambient credentials belong to the real Google; an endpoint override gets none of them.
            return AnonymousCredentials(), ""
        try:
            credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        except auth_exceptions.DefaultCredentialsError:
            raise self._error(
                AuthenticationFailed,
                f"GCP account {self.config.name!r} uses ambient credentials, but none were found on this machine.",
            ) from None
        return credentials, project or ""

    def _bad_key(self) -> AuthenticationFailed:
        return self._error(
            AuthenticationFailed, f"The credentials of GCP account {self.config.name!r} are not a valid "
            "service-account key."
        )

    # -- helpers --------------------------------------------------------------------------------------------

    def _zone_for(self, spec: InstanceSpec) -> str:
        if not spec.zone:
            raise self._error(InvalidRequest, "GCP needs a zone to create an instance in.")
        if spec.region and region_of(spec.zone) != spec.region:
            raise self._error(InvalidRequest, f"Zone {spec.zone!r} is not in region {spec.region!r}.")
        return spec.zone

    def _zone_of(self, ref: InstanceRef) -> str:
        if not ref.zone:
            raise self._error(InvalidRequest, f"GCP needs the zone of instance {ref.instance_id!r}.")
        return ref.zone

    @staticmethod
    def _instance_resource(spec: InstanceSpec, name: str, zone: str) -> compute_v1.Instance:
        labels = {_label_key(key): _label_value(value) for key, value in spec.tags.items()}
        labels[VM_ID_TAG] = spec.vm_id
        boot_disk = compute_v1.AttachedDisk(
            boot=True,
            auto_delete=True,
            type_="PERSISTENT",
            initialize_params=compute_v1.AttachedDiskInitializeParams(
                source_image=spec.image_id, disk_size_gb=spec.storage_gb
            ),
        )
        return compute_v1.Instance(
            name=name,
            machine_type=f"zones/{zone}/machineTypes/{spec.instance_type}",
            labels=labels,
            disks=[boot_disk],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        )

    def _adopt_existing(self, name: str, zone: str, vm_id: str) -> CloudInstance:
        """The name is taken: ours when it carries our label (a repeat after the request id expired)."""
        existing = self.get(InstanceRef(name, region_of(zone), zone))
        if existing.vm_id != vm_id:
            raise self._error(Conflict, f"An instance named {name!r} already exists in {zone}.")
        return existing

    def _act(self, action: str, ref: InstanceRef) -> None:
        request_types = {
            "start": compute_v1.StartInstanceRequest,
            "stop": compute_v1.StopInstanceRequest,
            "reset": compute_v1.ResetInstanceRequest,
            "delete": compute_v1.DeleteInstanceRequest,
        }
        zone = self._zone_of(ref)
        client, project = self._connected()
        # One request id for all the SDK's retries of this call, so a retried POST is not applied twice.
        request = request_types[action](
            project=project, zone=zone, instance=ref.instance_id, request_id=str(uuid.uuid4())
        )
        with self._translated_errors():
            operation = getattr(client, f"{action}_unary")(request=request, **self._call_options)
        self._raise_for_failed(operation)

    def _aggregated(self, label_filter: str, region: str, page_size: int) -> Iterator[CloudInstance]:
        client, project = self._connected()
        request = compute_v1.AggregatedListInstancesRequest(
            project=project, filter=label_filter, max_results=page_size
        )
        with self._translated_errors():
            pager = client.aggregated_list(request=request, **self._call_options)
            for page in pager.pages:  # each further page is one more call, made as the caller iterates
                for scope, scoped_list in page.items.items():
                    zone = scope.removeprefix("zones/")
                    if region and region_of(zone) != region:
                        continue
                    for instance in scoped_list.instances:
                        yield self._to_cloud_instance(instance)

    def _to_cloud_instance(self, instance: compute_v1.Instance) -> CloudInstance:
        zone = _last_segment(instance.zone)
        return CloudInstance(
            instance_id=instance.name,
            status=STATUS_BY_GCP_STATE.get(instance.status, VMStatus.ERROR),
            cloud_state=instance.status,
            region=region_of(zone),
            zone=zone,
            vm_id=instance.labels.get(VM_ID_TAG, ""),
            name=instance.name,
        )

    # -- errors ---------------------------------------------------------------------------------------------

    def _error(self, kind: type[ProviderError], message: str, **extra) -> ProviderError:
        return kind(message, provider=PROVIDER, account=self.config.name, **extra)

    @contextmanager
    def _translated_errors(self, *, missing_means_invalid: bool = False):
        """SDK exceptions in, the project's ProviderErrors out. On insert a 404 names a missing image or network."""
        try:
            yield
        except ProviderError:
            raise
        except api_exceptions.RetryError as error:
            cause = error.cause if isinstance(error.cause, api_exceptions.GoogleAPICallError) else None
            if cause is None:
                raise self._error(Unavailable, "GCP did not answer in time.") from error
            raise self._from_api_error(cause, missing_means_invalid) from error
        except api_exceptions.GoogleAPICallError as error:
            raise self._from_api_error(error, missing_means_invalid) from error
        except auth_exceptions.RefreshError as error:
            raise self._error(
                AuthenticationFailed, f"GCP refused the credentials of account {self.config.name!r}."
            ) from error
        except (auth_exceptions.TransportError, requests.RequestException) as error:
            raise self._error(Unavailable, f"Could not reach GCP Compute Engine ({type(error).__name__}).") from error
        except auth_exceptions.GoogleAuthError as error:  # e.g. anonymous credentials answered with a 401
            raise self._error(
                AuthenticationFailed, f"GCP account {self.config.name!r} has no credentials GCP accepts."
            ) from error

    def _from_api_error(self, error: api_exceptions.GoogleAPICallError, missing_means_invalid: bool) -> ProviderError:
        status, reason, message = error.code or 0, _reason(error), _cloud_message(error)
        account = self.config.name
        if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
            return self._error(Throttled, f"GCP is throttling requests: {message}", retry_after=_retry_after(error))
        if status == 401:
            return self._error(AuthenticationFailed, f"GCP refused the credentials of account {account!r}: {message}")
        if status == 403 and reason == "quotaExceeded":
            return self._error(InvalidRequest, message)
        if status == 403:
            return self._error(AuthenticationFailed, f"GCP account {account!r} is not allowed to do this: {message}")
        if status == 404:
            return self._error(InvalidRequest if missing_means_invalid else NotFound, message)
        if status in (409, 412) or reason == "resourceNotReady":
            return self._error(Conflict, message)
        if status == 400:
            return self._error(InvalidRequest, message)
        if status >= 500:
            return self._error(Unavailable, f"GCP Compute Engine is unavailable: {message}")
        return self._error(ProviderError, f"GCP answered {status}: {message}")

    def _raise_for_failed(self, operation: compute_v1.Operation, *, missing_means_invalid: bool = False) -> None:
        """A DONE operation that carries errors failed after the API accepted it (quota, capacity, ...)."""
        if not operation.error.errors:
            return
        first = operation.error.errors[0]
        message = first.message or first.code
        status = operation.http_error_status_code
        if status == 429 or first.code in {"RATE_LIMIT_EXCEEDED"}:
            raise self._error(Throttled, f"GCP is throttling requests: {message}")
        if status >= 500 or first.code in {"ZONE_RESOURCE_POOL_EXHAUSTED", "RESOURCE_POOL_EXHAUSTED"}:
            raise self._error(Unavailable, f"GCP could not complete the operation: {message}")
        if status == 404:
            raise self._error(InvalidRequest if missing_means_invalid else NotFound, message)
        if status == 409:
            raise self._error(Conflict, message)
        raise self._error(InvalidRequest, message)


def _label_key(key: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]", "_", key.lower())[:63]
    return cleaned if cleaned[:1].isalpha() else f"k{cleaned}"[:63]


def _label_value(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "_", str(value).lower())[:63]
