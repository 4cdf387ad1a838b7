"""HTTP/1.1 spoken by hand, to see what a server does before a request body has been sent."""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the end of the request head to the complete answer
    body_bytes_sent: int  # how much of the body the client had sent by then


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def send_raw(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    chunks: int = 0,
    chunk: bytes = b"x" * 65536,
    timeout: float = 10.0,
) -> RawAnswer:
    """Send the head of a request, then up to `chunks` chunked body pieces (none when the head
    declares a Content-Length and `chunks` is 0), and read the answer as soon as it comes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    started = time.perf_counter()
    sent = 0

    async def send_body() -> None:
        nonlocal sent
        for _ in range(chunks):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sender = asyncio.create_task(send_body()) if chunks else None
    try:
        status, answer_headers, body = await asyncio.wait_for(_read_answer(reader), timeout)
        seconds = time.perf_counter() - started
    finally:
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return RawAnswer(status, answer_headers, body, seconds, sent)


class BodyCounter:
    """Wraps an ASGI app and counts the request body bytes it takes from the server: what a
    server-side guard read, whatever the client managed to push into the kernel's buffers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.body_bytes = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                self.body_bytes += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)
