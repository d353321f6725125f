"""The browser view (--serve): a real headless Chromium on the page, hostile and crowded clients, bad addresses."""
import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from realtime.live.outputs.base import ViewState
from realtime.live.outputs.web_access import parse_address
from realtime.live.outputs.web_view import WebView

from conftest import ROOT
from raw_http import http, status, wrong, wrong_tokens

pytest.importorskip("aiohttp", reason="the browser view needs aiohttp: pip install -r requirements-extra.txt")


DATA = ROOT / "tests" / "data"


def test_addresses():
    assert parse_address("8080") == ("127.0.0.1", 8080)  # this machine only unless a host is given
    assert parse_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("", "http", "70000", "host:80", ":80", "1.2.3.4:"):
        with pytest.raises(ValueError, match="--serve"):
            parse_address(bad)


class Publisher(threading.Thread):
    """The live loop's part: a new frame for the view 30 times a second."""

    def __init__(self, view: WebView) -> None:
        super().__init__(daemon=True)
        self.view, self.halt = view, threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            frame = np.full((120, 160, 3), i % 256, np.uint8)
            self.view.publish(frame, ViewState("painting", 0, 2, 1.0, "whole", str(DATA / "painting.jpg")))
            i += 1
            time.sleep(1 / 30)


@pytest.fixture
def publisher():
    p = Publisher(WebView("127.0.0.1", 0))
    p.start()
    yield p
    p.halt.set()
    p.join()
    p.view.close()


@pytest.fixture
def view(publisher):
    return publisher.view


def request(view: WebView, method: str, path: str, *headers: str, token: str | None = "", body: bytes = b"") -> bytes:
    """One request as a client sends it; the view's own token in the URL unless `token` says otherwise."""
    token = view.token if token == "" else token
    target = path + (("&" if "?" in path else "?") + f"token={token}" if token else "")
    head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{view.port}", "Connection: close", *headers]
    if body:
        head.append(f"Content-Length: {len(body)}")
    return http(view.port, ("\r\n".join(head) + "\r\n\r\n").encode() + body)


def stream_request(view: WebView) -> bytes:
    """A viewer of the stream that stays connected."""
    return f"GET /stream.mjpg?token={view.token} HTTP/1.1\r\nHost: 127.0.0.1:{view.port}\r\n\r\n".encode()


def test_malformed_requests_get_errors_and_the_server_goes_on(view, caplog):
    caplog.set_level("INFO")
    assert status(http(view.port, b"GARBAGE\r\n\r\n")) == 400
    bad_length = http(view.port, b"GET /stream.mjpg HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert bad_length == b"" or status(bad_length) == 400  # aiohttp closes the connection on this one
    assert status(request(view, "GET", "/nothing")) == 404
    # a visitor cannot quit the app, only press what the page offers
    assert status(request(view, "POST", "/press/quit")) == 404
    assert status(request(view, "POST", "/press/next", body=b"x" * 100_000)) == 413
    ok = request(view, "GET", "/state.json")
    assert status(ok) == 200 and b'"style": "painting"' in ok
    assert view.pressed() == []  # none of that pressed a key
    assert status(request(view, "POST", "/press/next")) == 200
    assert view.pressed() == ["n"]
    assert "Traceback" not in caplog.text and "malformed request refused" in caplog.text


def test_every_route_wants_the_secret_and_this_machine_as_its_host(view):
    for path in ("/", "/stream.mjpg", "/state.json", "/thumb.jpg", "/nothing"):
        assert status(request(view, "GET", path, token=None)) == 403, path
        assert status(request(view, "GET", path, token=wrong(view.token))) == 403, path
    # DNS rebinding: a stranger's name that resolves to this machine; the secret does not make it right
    for host in ("evil.example", "evil.example:%d" % view.port, "127.0.0.1.evil.example", "10.1.2.3"):
        raw = f"GET /state.json?token={view.token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        assert status(http(view.port, raw.encode())) == 421, host
    assert status(http(view.port, f"GET /state.json?token={view.token} HTTP/1.0\r\n\r\n".encode())) == 421  # no Host
    for host in ("localhost", f"localhost:{view.port}", "127.0.0.1", "[::1]:80"):
        raw = f"GET /state.json?token={view.token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        assert status(http(view.port, raw.encode())) == 200, host
    bearer = request(view, "GET", "/state.json", f"Authorization: Bearer {view.token}", token=None)
    assert status(bearer) == 200
    assert view.pressed() == []


def test_the_printed_url_sets_a_strict_cookie_that_is_good_for_the_page_but_not_for_posts_from_elsewhere(view):
    assert view.url == f"http://127.0.0.1:{view.port}/?token={view.token}"
    first = request(view, "GET", "/")
    assert status(first) == 303 and b"\r\nLocation: /\r\n" in first  # the token leaves the address bar
    cookie = re.search(rb"Set-Cookie: ([^;\r]+)([^\r]*)", first)
    assert cookie and b"HttpOnly" in cookie.group(2) and b"SameSite=Strict" in cookie.group(2)
    jar = "Cookie: " + cookie.group(1).decode()
    page = request(view, "GET", "/", jar, token=None)
    assert status(page) == 200 and b"<title>Live style transfer</title>" in page
    origin = f"Origin: http://127.0.0.1:{view.port}"
    assert status(request(view, "POST", "/press/next", jar, origin, token=None)) == 200  # the page's own button
    assert view.pressed() == ["n"]
    # cookies do not tell ports apart: another page on this machine sends the cookie with its own Origin
    assert status(request(view, "POST", "/press/next", jar, "Origin: http://127.0.0.1:9", token=None)) == 403
    assert status(request(view, "POST", "/press/next", jar, "Origin: null", token=None)) == 403
    assert status(request(view, "POST", "/press/next", jar, token=None)) == 403  # a browser always sends Origin
    assert status(request(view, "POST", "/press/next", jar, origin, "Sec-Fetch-Site: same-site", token=None)) == 403
    # a link to the page from another site opens it; nothing else is served to another site's requests
    assert status(request(view, "GET", "/", jar, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate",
                          token=None)) == 200
    assert status(request(view, "GET", "/stream.mjpg", jar, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors",
                          token=None)) == 403
    assert view.pressed() == []
    state = request(view, "GET", "/state.json")
    assert b'"refused": 5' in state  # each of them counted


def test_a_hundred_wrong_tokens_press_nothing(view):
    """Guessed tokens at once: each refused, none pressed a key, each counted (the real app's frame rate under the
    same guessing: test_web_browser.py, where the guesser is another process)."""
    answers = [status(a) for a in wrong_tokens(view.port, "POST", "/press/next")]
    assert answers == [403] * 100
    assert view.pressed() == [] and view.refusals.count == 100


def test_an_open_view_asks_no_secret_but_still_checks_host_and_origin():
    v = WebView("127.0.0.1", 0, open_access=True)
    try:
        assert v.token is None and v.url == f"http://127.0.0.1:{v.port}/" and "--serve-open" in v.describe()
        assert status(request(v, "GET", "/state.json")) == 200
        assert status(request(v, "POST", "/press/next")) == 200  # a script on this machine, say
        assert status(request(v, "POST", "/press/next", "Origin: http://evil.example")) == 403
        assert status(http(v.port, b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")) == 421
        assert v.pressed() == ["n"]
    finally:
        v.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_fifty_viewers_connect_and_drop_at_once_and_leave_nothing_behind(view):
    async def viewer(frames: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", view.port)
        writer.write(stream_request(view))
        await writer.drain()
        seen, buf = 0, b""
        while seen < frames:
            buf += await asyncio.wait_for(reader.read(65536), 10)
            seen = buf.count(b"--frame\r\n")
        writer.transport.abort()  # gone without a goodbye, as a closed tab or a dropped phone
        return seen

    async def crowd(n: int, frames: int) -> list[int]:
        return await asyncio.gather(*(viewer(frames) for _ in range(n)))

    asyncio.run(crowd(1, 2))  # the first viewer starts the encoder's worker threads, kept for the next ones
    deadline = time.monotonic() + 5
    while view.viewers and time.monotonic() < deadline:
        time.sleep(0.05)
    threads, fds = threading.active_count(), open_fds()
    served = view.served_frames
    seen = asyncio.run(crowd(50, 3))
    assert min(seen) >= 3
    deadline = time.monotonic() + 5
    while view.viewers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert view.viewers == 0
    assert view.served_frames - served >= 150
    assert threading.active_count() <= threads and open_fds() <= fds


def test_a_slow_viewer_gets_the_newest_frame_and_holds_up_no_one(view):
    """One viewer reads nothing for a while: its socket fills, the others go on at full rate."""
    slow = socket.create_connection(("127.0.0.1", view.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(stream_request(view))
    time.sleep(0.3)
    with socket.create_connection(("127.0.0.1", view.port), timeout=5) as fast:
        fast.sendall(stream_request(view))
        t0, buf = time.monotonic(), b""
        while buf.count(b"--frame\r\n") < 20:
            buf += fast.recv(65536)
        elapsed = time.monotonic() - t0
    assert elapsed < 3.0  # 20 frames at 30 a second: well under a second unless held up
    slow.close()


def test_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"),
                            "--no-display", "--serve", str(port)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: --serve: port {port} on 127.0.0.1 is in use (pick another port)"]
