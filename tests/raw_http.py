"""Raw HTTP requests as a client (or an attacker) sends them, for the browser view's tests."""
from __future__ import annotations

import asyncio
import socket


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def http(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)  # and no half-close: a client that hangs up is gone, its request cancelled
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def wrong(token: str) -> str:
    """The token with its first character changed: wrong by one character, whatever the token is."""
    return ("y" if token[0] == "x" else "x") + token[1:]


def wrong_tokens(port: int, method: str, path: str, n: int = 100) -> list[bytes]:
    """`n` requests at once, each with a different wrong token: the whole answers."""
    async def guess(i: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{method} {path}?token=guess{i:012d}abcdefgh HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        return data

    async def guesses() -> list[bytes]:
        return await asyncio.gather(*(guess(i) for i in range(n)))

    return asyncio.run(guesses())
