"""A local emulator of GCP Compute Engine's v1 REST API, for tests and `make run`.

It speaks enough of the real API for google-cloud-compute's `InstancesClient(transport="rest")`:
instances insert (with `requestId` idempotency), get, delete, start, stop, reset, `aggregatedList` (with
`maxResults` capped at 500, `pageToken` and a label `filter`) and zone operations get/wait. Every operation is
returned already DONE, so a client never has to reach Google's own operations endpoint.

Credentials work offline like a real service account. `account_config()` mints a service-account JSON
whose RSA key pair the emulator generated and whose `token_uri` is this emulator's `/token`; the emulator keeps
the public key. google-auth signs a JWT with the private key and the emulator verifies it, either
- as a self-signed JWT sent straight as the bearer token (what compute_v1 does: its transport switches
  service-account credentials to `always_use_jwt_access`), or
- through the OAuth JWT-bearer grant at `/token`, which answers with an access token.
An unknown issuer or a bad signature is a 401 on the API and 400 `invalid_grant` at `/token`. A token of an
account made for another project gets 403 on that project. Accounts survive `reset()`, so a running
dashboard keeps its credentials when someone resets the sandbox.

Instances move through PROVISIONING/STAGING -> RUNNING, STOPPING -> TERMINATED (GCP's word for stopped),
STAGING -> RUNNING on start, and STOPPING -> gone (404) on delete, each phase lasting `transition_seconds`
(computed from the clock at each request; no background thread). Machine types, images and zones are checked
against the `gcp` entry of `vms/catalog.py`.

Control over HTTP, for a person running `make run`:
    curl -X POST $URL/_sandbox/faults -d '{"throttle_next": 3, "retry_after": 2}'
    curl -X POST $URL/_sandbox/reset
    curl $URL/_sandbox/calls
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from vms.catalog import CATALOG
from vms.providers.base import AccountConfig
from vms.sandbox.http import EmulatorError, EmulatorHandler, ServedEmulator

API_PREFIX = "/compute/v1/projects/"
DEFAULT_PROJECT = "skyclust-sandbox"
MAX_PAGE_SIZE = 500
NAME_PATTERN = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
LABEL_PATTERN = re.compile(r"[a-z0-9_-]{0,63}")

_GCP = CATALOG["gcp"]
KNOWN_ZONES = frozenset(zone for zones in _GCP.regions.values() for zone in zones)


class ApiError(EmulatorError):
    """An answer in Google's JSON error format; `code` is the reason, e.g. "notFound"."""

    def body(self) -> dict:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.code}],
            }
        }


def _not_found(resource: str) -> ApiError:
    return ApiError(404, "notFound", f"The resource '{resource}' was not found")


def _not_ready(resource: str) -> ApiError:
    # The real API answers 400 (not 409) when an instance is in the wrong state for an action.
    return ApiError(400, "resourceNotReady", f"The resource '{resource}' is not ready")


def _invalid(field_name: str, value: str, why: str) -> ApiError:
    return ApiError(400, "invalid", f"Invalid value for field '{field_name}': '{value}'. {why}")


def _fingerprint(labels: dict[str, str]) -> str:
    return base64.b64encode(hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).digest()[:8]).decode()


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------------------------------------
# Instances and their lifecycle


@dataclass
class _Instance:
    id: int
    project: str
    zone: str
    name: str
    machine_type: str
    source_image: str
    disk_gb: int
    labels: dict[str, str]
    created: str
    phases: list[tuple[str, float]]  # (status, shown until this monotonic time), in order
    final_status: str | None  # the status after the phases; None = deleted

    @property
    def path(self) -> str:
        return f"projects/{self.project}/zones/{self.zone}/instances/{self.name}"

    def status(self, now: float) -> str | None:
        for status, until in self.phases:
            if now < until:
                return status
        return self.final_status

    def is_deleting(self) -> bool:
        return self.final_status is None

    def move(self, phases: list[str], final_status: str | None, seconds: float, now: float) -> None:
        """Go through `phases` (sharing `seconds` between them) and settle in `final_status`."""
        step = seconds / len(phases) if phases else 0.0
        self.phases = [(status, now + step * (i + 1)) for i, status in enumerate(phases)] if seconds else []
        self.final_status = final_status

    def as_json(self, base_url: str, now: float) -> dict:
        zone_url = f"{base_url}/projects/{self.project}/zones/{self.zone}"
        return {
            "kind": "compute#instance",
            "id": str(self.id),
            "creationTimestamp": self.created,
            "name": self.name,
            "zone": zone_url,
            "machineType": f"{zone_url}/machineTypes/{self.machine_type}",
            "status": self.status(now),
            "labels": dict(self.labels),
            "labelFingerprint": _fingerprint(self.labels),
            "disks": [
                {
                    "kind": "compute#attachedDisk",
                    "type": "PERSISTENT",
                    "mode": "READ_WRITE",
                    "boot": True,
                    "autoDelete": True,
                    "deviceName": self.name,
                    "diskSizeGb": str(self.disk_gb),
                    "source": f"{zone_url}/disks/{self.name}",
                }
            ],
            "networkInterfaces": [
                {
                    "kind": "compute#networkInterface",
                    "name": "nic0",
                    "network": f"{base_url}/projects/{self.project}/global/networks/default",
                    "networkIP": f"10.128.{(self.id >> 8) % 256}.{self.id % 256}",
                }
            ],
            "selfLink": f"{base_url}/{self.path}",
        }


class _Compute:
    """The emulated project state: instances, operations and request ids, behind one lock."""

    def __init__(self, transition_seconds: float):
        self.transition_seconds = transition_seconds
        self.exhausted_zones: set[str] = set()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self._instances: dict[tuple[str, str, str], _Instance] = {}
        self._operations: dict[tuple[str, str, str], dict] = {}
        self._operations_by_request_id: dict[tuple[str, str], dict] = {}
        self._next_id = 1_000_000_000_000_000_000 + secrets.randbelow(10**15)

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _purge_deleted(self, now: float) -> None:
        gone = [key for key, instance in self._instances.items() if instance.status(now) is None]
        for key in gone:
            del self._instances[key]

    def _find(self, project: str, zone: str, name: str, now: float) -> _Instance:
        self._purge_deleted(now)
        instance = self._instances.get((project, zone, name))
        if instance is None:
            raise _not_found(f"projects/{project}/zones/{zone}/instances/{name}")
        return instance

    def _operation(self, base_url: str, project: str, zone: str, kind: str, target: str, target_id: int,
                   request_id: str = "", error: dict | None = None) -> dict:
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}"
        zone_url = f"{base_url}/projects/{project}/zones/{zone}"
        now = _timestamp()
        operation = {
            "kind": "compute#operation",
            "id": str(self._take_id()),
            "name": name,
            "zone": zone_url,
            "operationType": kind,
            "targetLink": f"{base_url}/{target}",
            "targetId": str(target_id),
            "status": "DONE",
            "progress": 100,
            "insertTime": now,
            "startTime": now,
            "endTime": now,
            "selfLink": f"{zone_url}/operations/{name}",
        }
        if request_id:
            operation["clientOperationId"] = request_id
        if error:
            operation["error"] = {"errors": [error]}
            operation["httpErrorStatusCode"] = error.pop("httpErrorStatusCode")
            operation["httpErrorMessage"] = error.pop("httpErrorMessage")
        self._operations[(project, zone, name)] = operation
        return operation

    # -- insert -------------------------------------------------------------------------------------------

    def insert(self, base_url: str, project: str, zone: str, body: dict, request_id: str) -> dict:
        with self._lock:
            if request_id and (project, request_id) in self._operations_by_request_id:
                return self._operations_by_request_id[(project, request_id)]
            now = time.monotonic()
            self._purge_deleted(now)
            name, machine_type, image, disk_gb, labels = _validated_insert(project, zone, body)
            path = f"projects/{project}/zones/{zone}/instances/{name}"
            if (project, zone, name) in self._instances:
                raise ApiError(409, "alreadyExists", f"The resource '{path}' already exists")
            if zone in self.exhausted_zones:
                operation = self._operation(base_url, project, zone, "insert", path, 0, request_id,
                                            error=_exhausted_error(zone))
            else:
                instance = _Instance(
                    id=self._take_id(), project=project, zone=zone, name=name, machine_type=machine_type,
                    source_image=image, disk_gb=disk_gb, labels=labels, created=_timestamp(),
                    phases=[], final_status="RUNNING",
                )
                instance.move(["PROVISIONING", "STAGING"], "RUNNING", self.transition_seconds, now)
                self._instances[(project, zone, name)] = instance
                operation = self._operation(base_url, project, zone, "insert", path, instance.id, request_id)
            if request_id:
                self._operations_by_request_id[(project, request_id)] = operation
            return operation

    # -- reads --------------------------------------------------------------------------------------------

    def get(self, base_url: str, project: str, zone: str, name: str) -> dict:
        with self._lock:
            now = time.monotonic()
            return self._find(project, zone, name, now).as_json(base_url, now)

    def aggregated_list(self, base_url: str, project: str, query: dict[str, str]) -> dict:
        page_size = _page_size(query.get("maxResults", ""))
        after_id = _page_token_to_id(query.get("pageToken", ""))
        matches = _compile_filter(query.get("filter", ""))
        with self._lock:
            now = time.monotonic()
            self._purge_deleted(now)
            candidates = sorted(
                (i for i in self._instances.values() if i.project == project and i.id > after_id),
                key=lambda instance: instance.id,
            )
            page: list[dict] = []
            last_id = after_id
            more = False
            for instance in candidates:
                document = instance.as_json(base_url, now)
                if not matches(document):
                    continue
                if len(page) == page_size:
                    more = True
                    break
                page.append(document)
                last_id = instance.id
        items: dict[str, dict] = {}
        for document in page:
            zone = document["zone"].rsplit("/", 1)[-1]
            items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(document)
        answer = {
            "kind": "compute#instanceAggregatedList",
            "id": f"projects/{project}/aggregated/instances",
            "items": items,
            "selfLink": f"{base_url}/projects/{project}/aggregated/instances",
        }
        if more:
            answer["nextPageToken"] = _id_to_page_token(last_id)
        return answer

    def get_operation(self, project: str, zone: str, name: str) -> dict:
        with self._lock:
            operation = self._operations.get((project, zone, name))
        if operation is None:
            raise _not_found(f"projects/{project}/zones/{zone}/operations/{name}")
        return operation

    # -- lifecycle actions --------------------------------------------------------------------------------

    def act(self, base_url: str, project: str, zone: str, name: str, action: str, request_id: str) -> dict:
        with self._lock:
            if request_id and (project, request_id) in self._operations_by_request_id:
                return self._operations_by_request_id[(project, request_id)]
            now = time.monotonic()
            instance = self._find(project, zone, name, now)
            getattr(self, f"_{action}")(instance, instance.status(now), now)
            operation = self._operation(base_url, project, zone, action, instance.path, instance.id, request_id)
            if request_id:
                self._operations_by_request_id[(project, request_id)] = operation
            return operation

    def _start(self, instance: _Instance, status: str, now: float) -> None:
        if instance.is_deleting() or status in {"STOPPING", "SUSPENDING"}:
            raise _not_ready(instance.path)
        if status in {"TERMINATED", "SUSPENDED"}:
            instance.move(["STAGING"], "RUNNING", self.transition_seconds, now)

    def _stop(self, instance: _Instance, status: str, now: float) -> None:
        if instance.is_deleting():
            raise _not_ready(instance.path)
        if status not in {"TERMINATED", "STOPPING"}:
            instance.move(["STOPPING"], "TERMINATED", self.transition_seconds, now)

    def _suspend(self, instance: _Instance, status: str, now: float) -> None:
        if instance.is_deleting() or status not in {"RUNNING", "SUSPENDING", "SUSPENDED"}:
            raise _not_ready(instance.path)
        if status == "RUNNING":
            instance.move(["SUSPENDING"], "SUSPENDED", self.transition_seconds, now)

    def _resume(self, instance: _Instance, status: str, now: float) -> None:
        if instance.is_deleting() or status not in {"SUSPENDED", "STAGING", "RUNNING"}:
            raise _not_ready(instance.path)
        if status == "SUSPENDED":
            instance.move(["STAGING"], "RUNNING", self.transition_seconds, now)

    def _reset(self, instance: _Instance, status: str, now: float) -> None:
        # A reset is a hard power cycle: the instance stays RUNNING. Only a running instance can be reset.
        if instance.is_deleting() or status != "RUNNING":
            raise _not_ready(instance.path)

    def _delete(self, instance: _Instance, status: str, now: float) -> None:
        if instance.is_deleting():
            return  # a second delete while the first is in progress changes nothing
        shown_while_deleting = status if status in {"TERMINATED", "SUSPENDED"} else "STOPPING"
        instance.move([shown_while_deleting], None, self.transition_seconds, now)


def _validated_insert(project: str, zone: str, body: dict) -> tuple[str, str, str, int, dict[str, str]]:
    name = str(body.get("name", ""))
    if not NAME_PATTERN.fullmatch(name):
        raise _invalid("resource.name", name, f"Must be a match of regex '{NAME_PATTERN.pattern}'")
    machine_type_url = str(body.get("machineType", ""))
    machine_type = machine_type_url.rsplit("/", 1)[-1]
    named_zone = re.search(r"zones/([^/]+)/machineTypes/", machine_type_url)
    if machine_type not in _GCP.types or (named_zone and named_zone.group(1) != zone):
        raise _invalid(
            "resource.machineType", machine_type_url,
            f"Machine type with name '{machine_type}' does not exist in zone '{zone}'.",
        )
    boot_disks = [disk for disk in body.get("disks") or [] if disk.get("boot")]
    if not boot_disks:
        raise _invalid("resource.disks", "", "Boot disk must be specified.")
    params = boot_disks[0].get("initializeParams") or {}
    image_url = str(params.get("sourceImage", ""))
    image = image_url[image_url.find("projects/"):] if "projects/" in image_url else image_url
    if image not in _GCP.images:
        # The real API answers 404 for an image (or image family) that does not exist.
        raise _not_found(image or "sourceImage")
    disk_gb = int(params.get("diskSizeGb") or _GCP.images[image].storage_gb)
    if disk_gb < _GCP.images[image].storage_gb:
        raise _invalid(
            "resource.disks[0].initializeParams.diskSizeGb", str(disk_gb),
            f"Requested disk size cannot be smaller than the image size ({_GCP.images[image].storage_gb} GB).",
        )
    labels = {str(k): str(v) for k, v in (body.get("labels") or {}).items()}
    for key, value in labels.items():
        if not key or not LABEL_PATTERN.fullmatch(key) or not LABEL_PATTERN.fullmatch(value):
            raise _invalid("labels", f"{key}={value}", "Label keys and values must be lowercase, at most 63 chars.")
    return name, machine_type, image, disk_gb, labels


def _exhausted_error(zone: str) -> dict:
    return {
        "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
        "message": f"The zone '{zone}' does not have enough resources available to fulfill the request. "
        "Try a different zone, or try again later.",
        "httpErrorStatusCode": 503,
        "httpErrorMessage": "SERVICE UNAVAILABLE",
    }


# ---------------------------------------------------------------------------------------------------------
# aggregatedList paging and filters


def _page_size(raw: str) -> int:
    if not raw:
        return MAX_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise _invalid("maxResults", raw, "Must be an integer.") from None
    if size < 0:
        raise _invalid("maxResults", raw, "Must be greater than or equal to 0.")
    return min(size, MAX_PAGE_SIZE) or MAX_PAGE_SIZE


def _id_to_page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode()


def _page_token_to_id(token: str) -> int:
    if not token:
        return 0
    try:
        prefix, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "after":
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _invalid("pageToken", token, "Invalid page token.")


_TERM = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(!=|=|:|\beq\b|\bne\b)\s*(.+?)\s*$")


def _compile_filter(text: str):
    """A predicate over instance JSON for the filter subset SkyClust and gcloud send.

    Accepts one term or several joined by AND or written as `(term) (term)`. A term is `field:*` (has the field),
    `field = value`, `field != value`, `field:value`, or the legacy regex form `field eq|ne regex`.
    """
    text = text.strip()
    if not text:
        return lambda document: True
    if "(" in text:
        terms = re.findall(r"\(([^()]*)\)", text)
        leftover = re.sub(r"\(([^()]*)\)", "", text).replace("AND", "").strip()
        if not terms or leftover:
            raise _invalid("filter", text, "Invalid list filter expression.")
    else:
        terms = re.split(r"\s+AND\s+", text)
    predicates = [_compile_term(term, text) for term in terms]
    return lambda document: all(predicate(document) for predicate in predicates)


def _compile_term(term: str, whole: str):
    match = _TERM.match(term)
    if not match:
        raise _invalid("filter", whole, "Invalid list filter expression.")
    field_path, operator, raw_value = match.groups()
    value = raw_value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]

    def lookup(document: dict):
        current = document
        for part in field_path.split("."):
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return current

    if operator == ":":
        if value == "*":
            return lambda document: lookup(document) is not None
        return lambda document: lookup(document) is not None and value in str(lookup(document))
    if operator == "=":
        return lambda document: lookup(document) is not None and str(lookup(document)) == value
    if operator == "!=":
        return lambda document: lookup(document) is None or str(lookup(document)) != value
    try:
        pattern = re.compile(value)
    except re.error:
        raise _invalid("filter", whole, "Invalid regular expression.") from None
    if operator == "eq":
        return lambda document: lookup(document) is not None and bool(pattern.fullmatch(str(lookup(document))))
    return lambda document: lookup(document) is None or not pattern.fullmatch(str(lookup(document)))


# ---------------------------------------------------------------------------------------------------------
# Service accounts and tokens


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class _ServiceAccount:
    email: str
    project: str
    key_id: str
    private_key_pem: str = field(repr=False)
    public_key: rsa.RSAPublicKey = field(repr=False)


class _ServiceAccounts:
    """Known service accounts (email -> public key) and the access tokens issued to them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._accounts: dict[str, _ServiceAccount] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (email, expiry epoch seconds)

    def account(self, name: str, project: str) -> _ServiceAccount:
        slug = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:30] or "sandbox"
        email = f"{slug}@{project}.iam.gserviceaccount.com"
        with self._lock:
            if email not in self._accounts:
                self._accounts[email] = _new_account(email, project)
            return self._accounts[email]

    def verify_jwt(self, token: str) -> _ServiceAccount:
        """The account whose key signed this JWT; ApiError(401) when it is unknown, expired or forged."""
        try:
            header_part, payload_part, signature_part = token.split(".")
            header = json.loads(_b64url_decode(header_part))
            payload = json.loads(_b64url_decode(payload_part))
            signature = _b64url_decode(signature_part)
        except ValueError:
            raise _unauthenticated() from None
        with self._lock:
            account = self._accounts.get(str(payload.get("iss", "")))
        if account is None or header.get("alg") != "RS256":
            raise _unauthenticated()
        try:
            account.public_key.verify(
                signature, f"{header_part}.{payload_part}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise _unauthenticated() from None
        if float(payload.get("exp", 0)) < time.time():
            raise _unauthenticated()
        return account

    def issue_token(self, account: _ServiceAccount) -> str:
        token = f"ya29.sandbox-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = (account.email, time.time() + 3600)
        return token

    def authenticate(self, authorization: str) -> _ServiceAccount:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401, "required",
                "Request is missing required authentication credential. Expected OAuth 2 access token.",
            )
        with self._lock:
            issued = self._tokens.get(token)
            account = self._accounts.get(issued[0]) if issued and issued[1] > time.time() else None
        return account if account is not None else self.verify_jwt(token)


def _unauthenticated() -> ApiError:
    return ApiError(
        401, "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    )


def _new_account(email: str, project: str) -> _ServiceAccount:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return _ServiceAccount(email, project, secrets.token_hex(20), pem, private_key.public_key())


def service_account_info(account: _ServiceAccount, token_uri: str) -> dict:
    """The JSON key file Google would hand out for this account, pointing its token_uri at the emulator."""
    return {
        "type": "service_account",
        "project_id": account.project,
        "private_key_id": account.key_id,
        "private_key": account.private_key_pem,
        "client_email": account.email,
        "client_id": str(int(account.key_id[:12], 16)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }


# ---------------------------------------------------------------------------------------------------------
# HTTP


_ROUTES: list[tuple[str, re.Pattern, str]] = [
    ("POST", re.compile(r"^([^/]+)/zones/([^/]+)/instances$"), "insert"),
    ("GET", re.compile(r"^([^/]+)/zones/([^/]+)/instances/([^/]+)$"), "get"),
    ("DELETE", re.compile(r"^([^/]+)/zones/([^/]+)/instances/([^/]+)$"), "delete"),
    ("POST", re.compile(r"^([^/]+)/zones/([^/]+)/instances/([^/]+)/(start|stop|reset|suspend|resume)$"), "action"),
    ("GET", re.compile(r"^([^/]+)/aggregated/instances$"), "aggregatedList"),
    ("GET", re.compile(r"^([^/]+)/zones/([^/]+)/operations/([^/]+)$"), "operations.get"),
    ("POST", re.compile(r"^([^/]+)/zones/([^/]+)/operations/([^/]+)/wait$"), "operations.wait"),
]


class _Handler(EmulatorHandler):
    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        if path == "/token" and method == "POST":
            self.server.emulator.count_call("token")
            self._token(body)
        elif path.startswith(API_PREFIX):
            self._send(200, self._api(method, path.removeprefix(API_PREFIX), query, body))
        else:
            raise ApiError(404, "notFound", f"No such path: {path}")

    def _base_url(self) -> str:
        return f"http://{self.headers.get('Host') or self.server.emulator.url.removeprefix('http://')}/compute/v1"

    def _token(self, body: bytes) -> None:
        form = {key: values[-1] for key, values in parse_qs(body.decode()).items()}
        accounts = self.server.emulator.accounts
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._send(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
            return
        try:
            account = accounts.verify_jwt(form.get("assertion", ""))
        except ApiError:
            self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return
        token = accounts.issue_token(account)
        self._send(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _api(self, method: str, path: str, query: dict[str, str], body: bytes) -> dict:
        emulator = self.server.emulator
        for route_method, pattern, operation in _ROUTES:
            match = pattern.match(path) if route_method == method else None
            if match:
                break
        else:
            raise ApiError(404, "notFound", f"No such method: {method} {API_PREFIX}{path}")
        params = match.groups()
        operation = params[3] if operation == "action" else operation
        emulator.count_call(operation)
        account = emulator.accounts.authenticate(self.headers.get("Authorization", ""))
        project = params[0]
        if account.project != project:
            raise ApiError(
                403, "forbidden", f"Required 'compute.instances.{operation}' permission for 'projects/{project}'"
            )
        emulator.inject_fault()
        if len(params) > 1 and params[1] not in KNOWN_ZONES:
            raise _invalid("zone", params[1], "Unknown zone.")
        return self._serve(operation, params, query, body)

    def _serve(self, operation: str, params: tuple[str, ...], query: dict[str, str], body: bytes) -> dict:
        compute = self.server.emulator.compute
        base_url = self._base_url()
        request_id = query.get("requestId", "")
        if operation == "insert":
            try:
                document = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(400, "parseError", "Parse Error") from None
            return compute.insert(base_url, params[0], params[1], document, request_id)
        if operation == "get":
            return compute.get(base_url, *params)
        if operation == "aggregatedList":
            return compute.aggregated_list(base_url, params[0], query)
        if operation in {"operations.get", "operations.wait"}:
            return compute.get_operation(*params)
        return compute.act(base_url, params[0], params[1], params[2], operation, request_id)


class GCPEmulator(ServedEmulator):
    """GCP Compute Engine v1 over HTTP on a loopback port; see the module docstring."""

    name = "gcp"
    handler = _Handler
    named_control_answers = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, transition_seconds: float = 0.0):
        super().__init__(host, port)
        self.compute = _Compute(transition_seconds)
        self.accounts = _ServiceAccounts()
        # Real Compute Engine answers rate-quota overruns with 403 rateLimitExceeded; set 429 to test that path.
        self.throttle_status = 403

    def error(self, status: int, message: str) -> ApiError:
        return ApiError(status, {400: "invalid", 404: "notFound"}.get(status, "backendError"), message)

    @property
    def transition_seconds(self) -> float:
        return self.compute.transition_seconds

    @transition_seconds.setter
    def transition_seconds(self, seconds: float) -> None:
        self.compute.transition_seconds = seconds

    @property
    def exhausted_zones(self) -> set[str]:
        """Zones where insert fails in its operation with ZONE_RESOURCE_POOL_EXHAUSTED, as on a busy day."""
        return self.compute.exhausted_zones

    def reset(self) -> None:
        """Forget every instance and operation, zero the call counts and clear faults. Accounts stay valid."""
        self.compute.reset()
        self.compute.exhausted_zones.clear()
        super().reset()

    def seed_instances(
        self,
        count: int,
        *,
        project: str = DEFAULT_PROJECT,
        zones: tuple[str, ...] = ("us-central1-a",),
        managed: bool = True,
        name_prefix: str = "seeded",
    ) -> list[str]:
        """Create `count` running instances without HTTP (for paging tests and demos), spread over `zones`.

        Managed ones carry a fresh skyclust-vm-id label. Returns their names.
        """
        names = []
        for index in range(count):
            zone = zones[index % len(zones)]
            vm_id = str(uuid.uuid4())
            name = f"{name_prefix}-{index}-{vm_id[:8]}"
            body = {
                "name": name,
                "machineType": f"zones/{zone}/machineTypes/e2-micro",
                "labels": {"skyclust-vm-id": vm_id} if managed else {},
                "disks": [{"boot": True, "initializeParams": {"sourceImage": next(iter(_GCP.images))}}],
            }
            self.compute.insert(self.url + "/compute/v1", project, zone, body, request_id="")
            names.append(name)
        return names

    def account_config(self, name: str = "sandbox", project_id: str = DEFAULT_PROJECT) -> AccountConfig:
        """A config with a service-account key this emulator accepts, for project `project_id`."""
        account = self.accounts.account(name, project_id)
        info = service_account_info(account, token_uri=f"{self.url}/token")
        return AccountConfig(
            provider="gcp",
            name=name,
            credentials={"service_account_json": json.dumps(info)},
            settings={"project_id": project_id},
            endpoint_url=self.url,
        )

    def inject_fault(self) -> None:
        decision = self.faults.decide()
        if decision == "throttle":
            raise ApiError(
                self.throttle_status, "rateLimitExceeded",
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' "
                "of service 'compute.googleapis.com'.",
                headers={"Retry-After": f"{self.faults.retry_after:g}"},
            )
        if decision == "error":
            raise ApiError(503, "backendError", "The service is currently unavailable.")
