"""Who may watch and press in the browser view: a secret, and checks of Host, Origin and fetch metadata.

The page shows a camera and its buttons press the app's keys, so neither may reach a stranger:
- a secret (random per start, or `--serve-token`) is asked of every request, as a `?token=` in the URL the
  app prints, an `Authorization: Bearer` header, or the HttpOnly, SameSite=Strict cookie the page sets from it;
- `Host` must name this machine (the address the request came in on, a localhost name, or the machine's own
  host name), so that a hostile name resolved to 127.0.0.1 (DNS rebinding) is turned away before the secret
  is even looked at;
- a request a browser marks as sent from another site (`Sec-Fetch-Site`) is refused, but for following a link
  to the page itself, and a `POST` must come from the page's own origin: cookies do not tell ports apart, so a
  page on another port of the same machine would otherwise press with the viewer's cookie.
`--serve-open` drops the secret (a kiosk's page for everyone on its network); the other checks stay.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger("realtime")
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{16,256}")  # safe in a URL as it is


@dataclass(frozen=True)
class Refusal:
    status: int  # 403, or 421 for a Host that is not this machine
    reason: str


def new_token() -> str:
    return secrets.token_urlsafe(24)


def check_token(text: str) -> str:
    """A `--serve-token` that fits in a URL unchanged and is not trivially guessed."""
    if not TOKEN_CHARS.fullmatch(text):
        raise ValueError("--serve-token wants 16 to 256 characters of letters, digits and - _ . ~")
    return text


def host_name(host_header: str) -> str:
    """'[::1]:8080' -> '::1', 'Example.local.:80' -> 'example.local'."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    if h.count(":") == 1:
        h = h.split(":")[0]
    return h.rstrip(".")


def same_address(a: str, b: str) -> bool:
    """IP literals compared as addresses (IPv4-mapped IPv6 like the IPv4 it maps)."""
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    return _unmapped(x) == _unmapped(y)


def _unmapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return (ip.ipv4_mapped or ip) if ip.version == 6 else ip


def machine_names() -> frozenset[str]:
    """This machine's own names, as a phone on the network might type them (kiosk.local)."""
    names = set()
    for n in (socket.gethostname(), socket.getfqdn()):
        n = n.lower().rstrip(".")
        if n:
            names |= {n, n.split(".")[0] + ".local"}
    return frozenset(names)


@dataclass(frozen=True)
class Access:
    """The rules for one server; `token` None means open (`--serve-open`)."""
    token: str | None
    port: int
    names: frozenset[str] = field(default_factory=machine_names)

    @property
    def cookie(self) -> str:
        return f"adain_view_{self.port}"  # browsers keep cookies per host, not per port: one name per app

    def matches(self, given: str | None) -> bool:
        """Constant time, so the time a wrong guess takes says nothing about how close it was."""
        if self.token is None or not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    def host_allowed(self, host_header: str | None, local_ip: str | None) -> bool:
        if not host_header:
            return False
        name = host_name(host_header)
        return (name in LOCAL_NAMES or name in self.names
                or (local_ip is not None and same_address(name, local_ip)))

    def refuse(self, method: str, path: str, headers: Mapping[str, str], query_token: str | None,
               cookie_token: str | None, local_ip: str | None) -> Refusal | None:
        """Why this request is turned away, or None to serve it. `headers` looks names up case-insensitively."""
        host = headers.get("Host")
        if not self.host_allowed(host, local_ip):
            return Refusal(421, f"Host {host!r} is not this machine")
        site = headers.get("Sec-Fetch-Site")
        following_a_link = method == "GET" and path == "/" and headers.get("Sec-Fetch-Mode") == "navigate"
        if site not in (None, "same-origin", "none") and not following_a_link:
            return Refusal(403, f"a {site} request")
        bearer = headers.get("Authorization", "")
        header_token = bearer[7:].strip() if bearer[:7].lower() == "bearer " else None
        explicit = self.matches(query_token) or self.matches(header_token)
        if self.token is not None and not (explicit or self.matches(cookie_token)):
            return Refusal(403, "no valid token")
        if method not in ("GET", "HEAD"):
            origin = headers.get("Origin")
            if origin is None:
                if self.token is not None and not explicit:  # a browser always sends Origin with a POST
                    return Refusal(403, "a POST without Origin needs the token in the URL or header")
            elif origin.lower() != f"http://{host}".lower():
                return Refusal(403, f"a POST from another origin ({origin})")
        return None


def parse_address(text: str) -> tuple[str, int]:
    """'8080' -> ('127.0.0.1', 8080); '0.0.0.0:8080', '[::1]:8080' as given. Port 0: any free port."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--serve wants [HOST:]PORT with a port from 0 to 65535, got {text!r}")
    if not host:
        raise ValueError(f"--serve wants [HOST:]PORT, got {text!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"--serve: {host!r} is not an IP address of this machine (e.g. 0.0.0.0 for every "
                             "network, 127.0.0.1 for this machine only)") from None
    return host, int(port)


class RefusalLog:
    """Refused requests counted, and said in one line at most every 10 s: a guessing client cannot fill a
    kiosk's log."""

    def __init__(self) -> None:
        self.count = 0
        self._logged = (0, -1e9)  # (count, time) at the last line

    def add(self, reason: str, remote: str | None) -> None:
        self.count += 1
        count, at = self._logged
        now = time.monotonic()
        if now - at >= 10:
            log.info("web view: refused %d request(s) since the last line; latest from %s: %s",
                     self.count - count, remote, reason)
            self._logged = (self.count, now)
