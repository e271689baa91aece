"""AWS EC2 adapter (boto3 / botocore).

One EC2 client per region, retried by botocore's "standard" mode (capped, jittered exponential backoff on
throttling, 5xx and connection errors). Every instance carries the tag skyclust-vm-id=<VM uuid>; create
looks that tag up before it launches, so a repeated create adopts the first instance instead of making a
second one, and sends the uuid as ClientToken for EC2's own idempotency.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from vms import catalog
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

logger = logging.getLogger(__name__)

STATUS_BY_EC2_STATE = {
    "pending": VMStatus.PENDING,
    "running": VMStatus.RUNNING,
    "stopping": VMStatus.STOPPING,
    "stopped": VMStatus.STOPPED,
    "shutting-down": VMStatus.TERMINATING,
    "terminated": VMStatus.TERMINATED,
}

THROTTLING_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"})
AUTH_CODES = frozenset({
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "RequestExpired",
    "OptInRequired",
})
CONFLICT_CODES = frozenset({"IncorrectInstanceState", "IncorrectState", "IdempotentParameterMismatch"})
NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound"})
INVALID_REQUEST_PREFIXES = (
    "InvalidAMIID",
    "InvalidParameter",
    "Unsupported",
    "InvalidInstanceType",
    "InvalidInstanceID.Malformed",
    "InvalidBlockDeviceMapping",
    "InvalidAvailabilityZone",
    "MissingParameter",
    "InvalidRequest",
)
NETWORK_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)

NAME_TAG_MAX_LENGTH = 255


class AWSProvider:
    name = "aws"
    lists_per_region = True
    page_size = 1000  # DescribeInstances MaxResults: EC2's maximum
    max_attempts = 4  # first try + 3 retries: at most 1 + 2 + 4 s of backoff

    def __init__(self, config: AccountConfig):
        self.config = config
        self._clients: dict[str, object] = {}
        self._clients_lock = threading.Lock()

    # lifecycle -------------------------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> CloudInstance:
        self._validate(spec)
        existing = self.find_by_vm_id(spec.vm_id, spec.region)
        if existing is not None:
            return existing
        root_device = self._root_device_name(spec.image_id, spec.region)
        with self._translated_errors(spec.region):
            response = self._client(spec.region).run_instances(**_launch_arguments(spec, root_device))
        return _cloud_instance(response["Instances"][0], spec.region)

    def get(self, ref: InstanceRef) -> CloudInstance:
        with self._translated_errors(ref.region):
            response = self._client(ref.region).describe_instances(InstanceIds=[ref.instance_id])
        for item in _instances_in(response):
            return _cloud_instance(item, ref.region)
        raise NotFound(f"Instance {ref.instance_id} does not exist in {ref.region}.", **self._origin())

    def find_by_vm_id(self, vm_id: str, region: str) -> CloudInstance | None:
        with self._translated_errors(region):
            response = self._client(region).describe_instances(
                Filters=[{"Name": f"tag:{VM_ID_TAG}", "Values": [vm_id]}]
            )
        found = [_cloud_instance(item, region) for item in _instances_in(response)]
        if not found:
            return None
        # A terminated instance stays listed for about an hour; prefer one that is still alive.
        return next((instance for instance in found if instance.status != VMStatus.TERMINATED), found[0])

    def list_managed(self, region: str = "") -> Iterator[CloudInstance]:
        for each_region in [region] if region else self._regions():
            yield from self._list_region(each_region)

    def start(self, ref: InstanceRef) -> None:
        with self._translated_errors(ref.region):
            self._client(ref.region).start_instances(InstanceIds=[ref.instance_id])

    def stop(self, ref: InstanceRef) -> None:
        with self._translated_errors(ref.region):
            self._client(ref.region).stop_instances(InstanceIds=[ref.instance_id])

    def reboot(self, ref: InstanceRef) -> None:
        # EC2 reboots only running instances; restarting a stopped VM means starting it.
        if self.get(ref).status == VMStatus.STOPPED:
            self.start(ref)
            return
        with self._translated_errors(ref.region):
            self._client(ref.region).reboot_instances(InstanceIds=[ref.instance_id])

    def terminate(self, ref: InstanceRef) -> None:
        with self._translated_errors(ref.region):
            self._client(ref.region).terminate_instances(InstanceIds=[ref.instance_id])

    def verify(self) -> None:
        region = self._regions()[0]
        with self._translated_errors(region):
            self._client(region).describe_instances(MaxResults=5, Filters=[_MANAGED_FILTER])

    # internals -------------------------------------------------------------------------------------

    def _list_region(self, region: str) -> Iterator[CloudInstance]:
        arguments = {"Filters": [_MANAGED_FILTER], "MaxResults": self.page_size}
        while True:
            with self._translated_errors(region):
                page = self._client(region).describe_instances(**arguments)
            for item in _instances_in(page):
                yield _cloud_instance(item, region)
            if not page.get("NextToken"):
                return
            arguments["NextToken"] = page["NextToken"]

    def _validate(self, spec: InstanceSpec) -> None:
        errors = catalog.validate(
            provider="aws", region=spec.region, zone=spec.zone, instance_type=spec.instance_type, image_id=spec.image_id
        )
        image = catalog.CATALOG["aws"].images.get(spec.image_id)
        if image and spec.storage_gb < image.storage_gb:
            errors["storage_gb"] = f"{image.name} needs at least {image.storage_gb} GB of storage."
        if errors:
            raise InvalidRequest(" ".join(f"{field}: {message}" for field, message in errors.items()), **self._origin())

    def _root_device_name(self, image_id: str, region: str) -> str:
        """The image's root device, so the size in BlockDeviceMappings resizes it rather than adding a disk."""
        with self._translated_errors(region):
            images = self._client(region).describe_images(ImageIds=[image_id])["Images"]
        if not images:
            raise InvalidRequest(f"The image id '{image_id}' is not available in {region}.", **self._origin())
        return images[0].get("RootDeviceName") or "/dev/sda1"

    def _regions(self) -> list[str]:
        return list(self.config.settings.get("regions") or catalog.CATALOG["aws"].regions)

    def _client(self, region: str):
        with self._clients_lock:
            if region not in self._clients:
                self._clients[region] = _new_client(self.config, region, self.max_attempts)
            return self._clients[region]

    def _origin(self) -> dict[str, str]:
        return {"provider": self.name, "account": self.config.name}

    @contextlib.contextmanager
    def _translated_errors(self, region: str):
        try:
            yield
        except ClientError as exc:
            raise self._from_client_error(exc) from exc
        except NETWORK_ERRORS as exc:
            raise Unavailable(f"Cannot reach AWS EC2 in {region}: {exc}", **self._origin()) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise AuthenticationFailed(f"AWS account '{self.config.name}': {exc}", **self._origin()) from exc
        except ParamValidationError as exc:
            raise InvalidRequest(self._scrubbed(str(exc)), **self._origin()) from exc
        except BotoCoreError as exc:
            message = f"AWS EC2 call failed in {region}: {self._scrubbed(str(exc))}"
            raise ProviderError(message, **self._origin()) from exc

    def _from_client_error(self, exc: ClientError) -> ProviderError:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        message = self._scrubbed(error.get("Message") or code or "unknown error")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        origin = self._origin()
        logger.info("AWS account %r: %s %s (HTTP %s)", self.config.name, code, message, status)
        if code in THROTTLING_CODES:
            return Throttled(f"AWS is throttling requests: {message}", retry_after=_retry_after(exc), **origin)
        if code in AUTH_CODES:
            return AuthenticationFailed(f"AWS account '{self.config.name}': {message}", **origin)
        if code in CONFLICT_CODES:
            return Conflict(message, **origin)
        if code in NOT_FOUND_CODES:
            return NotFound(message, **origin)
        if code.startswith(INVALID_REQUEST_PREFIXES):
            return InvalidRequest(message, **origin)
        if status >= 500:
            return Unavailable(f"AWS EC2 is unavailable: {message}", **origin)
        return ProviderError(f"AWS EC2 refused the request: {message} ({code})", **origin)

    def _scrubbed(self, text: str) -> str:
        secret = self.config.credentials.get("secret_access_key")
        return text.replace(secret, "***") if secret else text


_MANAGED_FILTER = {"Name": "tag-key", "Values": [VM_ID_TAG]}


_shared_session: botocore.session.Session | None = None
_shared_session_lock = threading.Lock()


def _new_client(config: AccountConfig, region: str, max_attempts: int):
    """An EC2 client from one process-wide botocore session: loading the EC2 model costs ~0.3 s per session.

    Explicit credentials go to the client; an ambient account uses the session's default chain.
    botocore sessions are not thread-safe, so clients are made under a lock (the clients themselves are).
    """
    global _shared_session
    credentials = {}
    if not config.ambient:
        credentials = {
            "aws_access_key_id": config.credentials.get("access_key_id"),
            "aws_secret_access_key": config.credentials.get("secret_access_key"),
            "aws_session_token": config.credentials.get("session_token") or None,
        }
    with _shared_session_lock:
        if _shared_session is None:
            _shared_session = botocore.session.get_session()
        return _shared_session.create_client(
            "ec2",
            region_name=region,
            endpoint_url=config.endpoint_url or None,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": max_attempts},
                connect_timeout=5,
                read_timeout=30,
                user_agent_extra="skyclust",
            ),
            **credentials,
        )


def _launch_arguments(spec: InstanceSpec, root_device: str) -> dict:
    tags = {**spec.tags, "Name": spec.name[:NAME_TAG_MAX_LENGTH], VM_ID_TAG: spec.vm_id}
    arguments = {
        "ImageId": spec.image_id,
        "InstanceType": spec.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": spec.vm_id,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}
        ],
        "BlockDeviceMappings": [
            {"DeviceName": root_device, "Ebs": {"VolumeSize": spec.storage_gb, "DeleteOnTermination": True}}
        ],
    }
    if spec.zone:
        arguments["Placement"] = {"AvailabilityZone": spec.zone}
    return arguments


def _instances_in(response: dict) -> Iterator[dict]:
    for reservation in response.get("Reservations", []):
        yield from reservation.get("Instances", [])


def _cloud_instance(item: dict, region: str) -> CloudInstance:
    state = item.get("State", {}).get("Name", "")
    tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
    return CloudInstance(
        instance_id=item["InstanceId"],
        status=STATUS_BY_EC2_STATE.get(state, VMStatus.ERROR),
        cloud_state=state,
        region=region,
        zone=item.get("Placement", {}).get("AvailabilityZone", ""),
        vm_id=tags.get(VM_ID_TAG, ""),
        name=tags.get("Name", ""),
    )


def _retry_after(exc: ClientError) -> float | None:
    value = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
