"""A local AWS EC2: moto's server behind a thin WSGI layer that adds what moto leaves out.

moto answers the EC2 API itself. The layer in front of it
- checks SigV4 signatures, over the headers each request lists in SignedHeaders, against the emulator's one
  key pair (401 AuthFailure otherwise),
- counts calls by their `Action`, injects faults (503 RequestLimitExceeded, 500 InternalError),
- refuses start/stop/reboot from states where EC2 refuses them (moto happily starts a terminated instance),
- lets run/start/stop/terminate pass through pending/stopping/shutting-down for `transition_seconds`
  (moto settles at once), settling lazily on the next request, and
- puts the catalog's images into every region so DescribeImages finds them.

moto keeps its state in process-wide globals. Each emulator gets an account id of its own (sent to moto in
the `x-moto-account-id` header), so several emulators in one process do not see each other's instances,
and reset() forgets only its own account. Setting MOTO_ACCOUNT_ID in the environment would defeat that.
`POST /moto-api/reset` still passes through to moto and resets every account in the process.
"""
from __future__ import annotations

import collections
import hmac
import io
import json
import random
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.core.base_backend import backend_lock
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from vms import catalog
from vms.providers.base import AccountConfig
from vms.sandbox.faults import Faults
from vms.sandbox.http import faults_snapshot

SANDBOX_ACCESS_KEY_ID = "AKIASANDBOX000000000"
SANDBOX_SECRET_ACCESS_KEY = "sandbox-secret-key-0000000000000000000000"
AUTH_FAILURE_MESSAGE = "AWS was not able to validate the provided access credentials"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")
_SIGNATURE = re.compile(r"Signature=([0-9a-f]+)")
_INSTANCE_ID = re.compile(rb"<instanceId>(i-[0-9a-f]+)</instanceId>")

# action -> (state shown while the cloud works, state it settles in), as (name, EC2 state code)
_TRANSITIONS = {
    "RunInstances": (("pending", 0), ("running", 16)),
    "StartInstances": (("pending", 0), ("running", 16)),
    "StopInstances": (("stopping", 64), ("stopped", 80)),
    "TerminateInstances": (("shutting-down", 32), ("terminated", 48)),
}

# action -> (states EC2 refuses it from, the verb of its error message)
_REFUSED_FROM = {
    "StartInstances": ({"stopping", "shutting-down", "terminated"}, "started"),
    "StopInstances": ({"pending", "shutting-down", "terminated"}, "stopped"),
    "RebootInstances": ({"pending", "stopping", "stopped", "shutting-down", "terminated"}, "rebooted"),
}


class _SignedHeadersSigV4(SigV4Auth):
    """botocore's SigV4 over exactly the headers the request names in SignedHeaders.

    botocore's own signer leaves User-Agent, Expect and a few others out; clients such as Apache Libcloud sign them.
    """

    def headers_to_sign(self, request: AWSRequest):
        return request.headers  # built from the SignedHeaders list alone, see _signature_is_valid


class _Handler(MotoRequestHandler):
    disable_nagle_algorithm = True  # otherwise every response waits ~40 ms for a delayed ACK

    def log_request(self, code="-", size="-"):
        pass


class AWSEmulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, transition_seconds: float = 0.0):
        self.host = host
        self.port = port
        self.transition_seconds = transition_seconds
        self.faults = Faults()
        self.calls: collections.Counter = collections.Counter()
        self.account_id = str(random.randint(10**11, 10**12 - 1))
        self._keys = {SANDBOX_ACCESS_KEY_ID: SANDBOX_SECRET_ACCESS_KEY}
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._lock = threading.Lock()
        self._in_transition: dict[str, tuple[float, object, tuple[str, int]]] = {}
        self._regions_with_images: set[str] = set()
        self._server = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------------

    def start(self) -> AWSEmulator:
        if self._server is None:
            self._server = make_server(self.host, self.port, self._wsgi, threaded=True, request_handler=_Handler)
            self.port = self._server.server_port
            self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> AWSEmulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        with backend_lock:
            ec2_backends.pop(self.account_id, None)
        with self._lock:
            self._in_transition.clear()
            self._regions_with_images.clear()
            self.calls.clear()
        self.faults.reset()

    def account_config(self, name: str = "sandbox") -> AccountConfig:
        return AccountConfig(
            provider="aws",
            name=name,
            credentials={"access_key_id": SANDBOX_ACCESS_KEY_ID, "secret_access_key": SANDBOX_SECRET_ACCESS_KEY},
            endpoint_url=self.url,
        )

    def remove_image(self, image_id: str, region: str) -> None:
        """Make an image unknown in one region, as a region-specific AMI is elsewhere (for tests)."""
        self._backend(region).amis.pop(image_id, None)

    # request handling ------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self._moto(environ, start_response)
        body = _read_body(environ)
        params = _request_params(environ, body)
        if params.get("Action"):
            with self._lock:
                self.calls[params["Action"]] += 1
        credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        rejection = self._rejection(environ, body, credential)
        if rejection:
            return _ec2_error(start_response, *rejection)
        return self._forward(params, credential.group(3), environ, start_response)

    def _rejection(self, environ, body: bytes, credential) -> tuple | None:
        """(status, code, message, headers) of an answer given instead of moto's: bad signature or a fault."""
        if not self._signature_is_valid(environ, body, credential):
            return 401, "AuthFailure", AUTH_FAILURE_MESSAGE
        fault = self.faults.decide()
        if fault == "throttle":
            retry_after = [("Retry-After", f"{self.faults.retry_after:g}")]
            return 503, "RequestLimitExceeded", "Request limit exceeded.", retry_after
        if fault == "error":
            return 500, "InternalError", "An internal error has occurred"
        return None

    def _forward(self, params: dict[str, str], region: str, environ, start_response):
        action = params.get("Action", "")
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self.account_id
        try:
            backend = self._prepared_backend(region)
        except KeyError:
            return _ec2_error(start_response, 400, "InvalidRequest", f"Unknown region '{region}'.")
        refusal = _refused_instance(action, params, backend)
        if refusal:
            return _ec2_error(start_response, 400, "IncorrectInstanceState", refusal)
        if action in _TRANSITIONS and self.transition_seconds > 0:
            return self._forward_with_transition(action, params, backend, environ, start_response)
        return self._moto(environ, start_response)

    def _signature_is_valid(self, environ, body: bytes, credential) -> bool:
        if credential is None or credential.group(1) not in self._keys:
            return False
        access_key, _date, region, service = credential.groups()
        authorization = environ["HTTP_AUTHORIZATION"]
        signed = _SIGNED_HEADERS.search(authorization)
        signature = _SIGNATURE.search(authorization)
        if not signed or not signature:
            return False
        headers = {name: _header(environ, name) for name in signed.group(1).split(";")}
        if not headers.get("x-amz-date"):
            return False
        query = environ.get("QUERY_STRING", "")
        url = f"http://{headers.get('host') or environ.get('HTTP_HOST', '')}{environ.get('PATH_INFO', '/')}"
        request = AWSRequest(
            method=environ["REQUEST_METHOD"], url=f"{url}?{query}" if query else url, data=body, headers=headers
        )
        request.context["timestamp"] = headers["x-amz-date"]
        signer = _SignedHeadersSigV4(Credentials(access_key, self._keys[access_key]), service, region)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        return hmac.compare_digest(expected, signature.group(1))

    def _backend(self, region: str):
        return ec2_backends[self.account_id][region]

    def _prepared_backend(self, region: str):
        backend = self._backend(region)
        with self._lock:
            if region not in self._regions_with_images:
                _add_catalog_images(backend, region)
                self._regions_with_images.add(region)
            self._settle_finished_transitions()
        return backend

    def _settle_finished_transitions(self) -> None:
        now = time.monotonic()
        for instance_id, (ends_at, instance, (name, code)) in list(self._in_transition.items()):
            if ends_at <= now:
                instance._state.name, instance._state.code = name, code
                del self._in_transition[instance_id]

    def _forward_with_transition(self, action, params, backend, environ, start_response):
        before = {
            instance.id: instance._state.name
            for instance in _instances_by_id(backend, _instance_ids(params)).values()
        }
        response = Response.from_app(self._moto, environ, buffered=True)
        if response.status_code == 200:
            affected = [match.decode() for match in _INSTANCE_ID.findall(response.get_data())]
            self._begin_transitions(action, backend, affected, before)
        return response(environ, start_response)

    def _begin_transitions(self, action, backend, instance_ids, states_before) -> None:
        (shown_name, shown_code), settled = _TRANSITIONS[action]
        ends_at = time.monotonic() + self.transition_seconds
        with self._lock:
            for instance in _instances_by_id(backend, instance_ids).values():
                if states_before.get(instance.id) == settled[0]:
                    continue  # stopping a stopped instance changes nothing
                instance._state.name, instance._state.code = shown_name, shown_code
                self._in_transition[instance.id] = (ends_at, instance, settled)

    # /_sandbox/ control calls ----------------------------------------------------------------------

    def _control(self, environ, start_response):
        route = (environ["REQUEST_METHOD"], environ["PATH_INFO"].rstrip("/"))
        try:
            if route == ("POST", "/_sandbox/faults"):
                self.faults.configure(**json.loads(_read_body(environ) or b"{}"))
            elif route == ("POST", "/_sandbox/reset"):
                self.reset()
            elif route == ("GET", "/_sandbox/calls"):
                return _json(start_response, 200, dict(self.calls))
            elif route != ("GET", "/_sandbox/faults"):
                return _json(start_response, 404, {"error": f"no control call {route[0]} {route[1]}"})
        except (ValueError, TypeError) as exc:
            return _json(start_response, 400, {"error": str(exc)})
        return _json(start_response, 200, faults_snapshot(self.faults))


# helpers -------------------------------------------------------------------------------------------


def _read_body(environ) -> bytes:
    """Read the request body and put it back, so moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _request_params(environ, body: bytes) -> dict[str, str]:
    params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    return params


def _header(environ, name: str) -> str:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key, "")
    return environ.get(f"HTTP_{key}", "")


def _instance_ids(params: dict[str, str]) -> list[str]:
    return [value for key, value in params.items() if key.startswith("InstanceId.")]


def _instances_by_id(backend, instance_ids) -> dict:
    wanted = set(instance_ids)
    if not wanted:
        return {}
    return {instance.id: instance for instance in backend.all_instances() if instance.id in wanted}


def _refused_instance(action: str, params: dict[str, str], backend) -> str:
    """EC2's IncorrectInstanceState message when an instance cannot take the action, else ""."""
    if action not in _REFUSED_FROM:
        return ""
    refused_states, verb = _REFUSED_FROM[action]
    for instance in _instances_by_id(backend, _instance_ids(params)).values():
        if instance._state.name in refused_states:
            return f"The instance '{instance.id}' is not in a state from which it can be {verb}."
    return ""


def _add_catalog_images(backend, region: str) -> None:
    for image in catalog.CATALOG["aws"].images.values():
        if image.id not in backend.amis:
            backend.amis[image.id] = Ami(
                backend,
                ami_id=image.id,
                name=image.name,
                owner_alias="amazon",
                public=True,
                architecture="x86_64",
                virtualization_type="hvm",
                root_device_type="ebs",
                root_device_name="/dev/xvda" if image.name.startswith("Amazon Linux") else "/dev/sda1",
                region_name=f"{region}a",
            )


def _ec2_error(start_response, status: int, code: str, message: str, extra_headers=()):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return _respond(start_response, status, body, "text/xml;charset=UTF-8", extra_headers)


def _json(start_response, status: int, payload) -> list[bytes]:
    return _respond(start_response, status, json.dumps(payload).encode(), "application/json")


def _respond(start_response, status: int, body: bytes, content_type: str, extra_headers=()) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error",
              503: "Service Unavailable"}[status]
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra_headers]
    start_response(f"{status} {reason}", headers)
    return [body]
