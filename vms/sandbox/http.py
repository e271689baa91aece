"""Plumbing shared by the stdlib-HTTP emulators (GCP and Azure): server, request handler and lifecycle.

- `EmulatorServer`: a threading HTTP server that knows its emulator and hangs up kept-alive connections on stop.
- `EmulatorHandler`: HTTP/1.1 keep-alive, JSON answers, `/_sandbox/` control calls routed to the emulator and
  every other request to the cloud's `answer()`; an `EmulatorError` becomes the cloud's own error answer.
- `ServedEmulator`: start (port 0 = any free port) / stop / url / `with`, call counts, faults and reset, and the
  control calls `POST /_sandbox/faults` (Faults fields as JSON), `POST /_sandbox/reset` and `GET /_sandbox/calls`.
"""
from __future__ import annotations

import collections
import json
import logging
import socket
import sys
import threading
from dataclasses import fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

from vms.sandbox.faults import Faults

logger = logging.getLogger(__name__)


def faults_snapshot(faults: Faults) -> dict:
    """The public fault settings as a JSON-able dict."""
    return {f.name: getattr(faults, f.name) for f in fields(faults) if not f.name.startswith("_")}


class EmulatorError(Exception):
    """An error answer with an HTTP status; each cloud's subclass writes its own JSON `body()`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        raise NotImplementedError


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[EmulatorHandler], emulator: ServedEmulator):
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Hang up kept-alive client connections, so no handler thread outlives the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client dropped its keep-alive connection (or stop() cut it): nothing to report
        super().handle_error(request, client_address)


class EmulatorHandler(BaseHTTPRequestHandler):
    """Subclasses implement `answer()` for the cloud's own paths and may add `extra_headers()`."""

    protocol_version = "HTTP/1.1"  # keep-alive: the SDKs reuse their connections
    disable_nagle_algorithm = True  # otherwise every response waits ~40 ms for the client's delayed ACK
    timeout = 30
    content_type = "application/json; charset=UTF-8"
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep test output and `make run` quiet; the call counter tells what was served

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        raise NotImplementedError

    def extra_headers(self) -> dict[str, str]:
        return {}

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        body = self._read_body()
        emulator = self.server.emulator
        try:
            if url.path.startswith("/_sandbox/"):
                self._send(200, emulator.sandbox_control(method, url.path, body))
            else:
                self.answer(method, url.path, query, body)
        except EmulatorError as error:
            self._send(error.status, error.body(), error.headers)
        except Exception as error:  # a bug in the emulator: answer like the cloud's 500 rather than hang up
            logger.exception("The %s emulator failed on %s %s", emulator.name, method, url.path)
            self._send(500, emulator.error(500, f"Emulator error: {error!r}").body())

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: dict | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**self.extra_headers(), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class ServedEmulator:
    """An emulator served over HTTP on a loopback port by `handler`.

    Subclasses set `name` and `handler`, implement `error()` (the cloud's error for a bad control call or an
    emulator bug) and extend `reset()`. `named_control_answers` wraps the faults and calls answers of the
    control calls in {"faults": ...} / {"calls": ...}.
    """

    name = "sandbox"
    handler: type[EmulatorHandler] = EmulatorHandler
    named_control_answers = False

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.faults = Faults()
        self.calls: collections.Counter = collections.Counter()
        self._calls_lock = threading.Lock()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    def error(self, status: int, message: str) -> EmulatorError:
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"The {self.name} emulator is not started.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._server = EmulatorServer((self.host, self.port), self.handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-emulator-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def reset(self) -> None:
        """Zero the call counts and clear faults; subclasses forget their cloud's state first."""
        with self._calls_lock:
            self.calls.clear()
        self.faults.reset()

    def count_call(self, operation: str) -> None:
        with self._calls_lock:
            self.calls[operation] += 1

    def faults_snapshot(self) -> dict:
        return faults_snapshot(self.faults)

    def sandbox_control(self, method: str, path: str, body: bytes) -> dict:
        """The /_sandbox/ control calls: POST faults, POST reset, GET calls."""
        route = (method, path.rstrip("/"))
        if route == ("POST", "/_sandbox/faults"):
            try:
                self.faults.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as error:
                raise self.error(400, str(error)) from None
            return self._control_answer("faults", self.faults_snapshot())
        if route == ("POST", "/_sandbox/reset"):
            self.reset()
            return {"reset": True}
        if route == ("GET", "/_sandbox/calls"):
            with self._calls_lock:
                return self._control_answer("calls", dict(self.calls))
        raise self.error(404, f"No sandbox control {method} {path}.")

    def _control_answer(self, name: str, value: dict) -> dict:
        return {name: value} if self.named_control_answers else value
