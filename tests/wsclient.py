"""A small asyncio WebSocket client (RFC 6455) for tests and benchmarks that talk to a real daphne process.

Enough for pages that only listen: the handshake with a session cookie and an Origin, text messages
(fragmented or not), answering pings, and close codes. Hundreds of them fit in one event loop.
"""
from __future__ import annotations

import asyncio
import base64
import os
import struct
from urllib.parse import urlsplit

TEXT, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x0, 0x8, 0x9, 0xA


class Closed(Exception):
    def __init__(self, code: int | None):
        self.code = code
        super().__init__(f"WebSocket closed with code {code}")


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, *, cookie: str = "", origin: str = "", timeout: float = 10) -> WebSocket:
        parts = urlsplit(url)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = [
            f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
        ]
        headers += [f"Origin: {origin}"] if origin else []
        headers += [f"Cookie: {cookie}"] if cookie else []
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line = response.split(b"\r\n", 1)[0].decode()
        if " 101 " not in f"{status_line} ":
            writer.close()
            raise Closed(int(status_line.split()[1]) if len(status_line.split()) > 1 else None)
        return cls(reader, writer)

    async def receive(self, timeout: float | None = None) -> str:
        """The next text message; raises Closed when the server closes, TimeoutError after `timeout`."""
        return await asyncio.wait_for(self._receive(), timeout)

    async def _receive(self) -> str:
        parts: list[bytes] = []
        while True:
            fin, opcode, payload = await self._frame()
            if opcode == CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.writer.close()
                raise Closed(self.close_code)
            if opcode == PING:
                self._send(PONG, payload)
                continue
            if opcode in (TEXT, CONTINUATION):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode()

    async def _frame(self) -> tuple[bool, int, bytes]:
        try:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return bool(first & 0x80), first & 0x0F, await self.reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise Closed(self.close_code) from None

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)  # clients must mask every frame
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def close(self) -> None:
        if not self.writer.is_closing():
            self._send(CLOSE, struct.pack("!H", 1000))
            self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
