"""The browser view (--serve): a real headless Chromium on the page, hostile and crowded clients, bad addresses."""
import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from browser import CHROMIUM, Browser
from conftest import ROOT

from realtime.live.outputs.base import ViewState
from realtime.live.outputs.web_access import check_token, new_token, parse_address
from realtime.live.outputs.web_view import WebView

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
    """The live loop's part: a new frame for the view 30 times a second, each hand-over's time kept."""

    def __init__(self, view: WebView) -> None:
        super().__init__(daemon=True)
        self.view, self.times, self.halt = view, [], threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            frame = np.full((120, 160, 3), i % 256, np.uint8)
            self.view.publish(frame, ViewState("painting", 0, 2, 1.0, "whole", str(DATA / "painting.jpg")))
            self.times.append(time.monotonic())
            i += 1
            time.sleep(1 / 30)

    def rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.times) / (end - start)


def test_a_chosen_token_must_be_hard_to_guess_and_the_access_flags_need_serve():
    assert check_token("kiosk-lobby-2026.A~b") == "kiosk-lobby-2026.A~b"
    for bad in ("short", "x" * 15, "has space in it ok", "percent%20encoded!", "x" * 257):
        with pytest.raises(ValueError, match="--serve-token"):
            check_token(bad)
    assert len({new_token() for _ in range(20)}) == 20 and len(new_token()) >= 32
    for flags in (["--serve-token", "a" * 20], ["--serve-open"]):
        r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"),
                            "--no-display", *flags], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [f"error: {flags[0]} is for the browser view: add --serve [HOST:]PORT"]


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


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def http(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)  # and no half-close: a client that hangs up is gone, its request cancelled
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


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
        assert status(request(view, "GET", path, token="x" + view.token[1:])) == 403, path
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


def test_a_hundred_wrong_tokens_get_nothing_and_leave_the_loop_at_its_rate(publisher):
    view = publisher.view

    async def guess(i: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", view.port)
        writer.write(f"POST /press/next?token=guess{i:012d}abcdefgh HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        return status(data)

    async def guesses() -> list[int]:
        return await asyncio.gather(*(guess(i) for i in range(100)))

    time.sleep(1.0)
    t0 = time.monotonic()
    answers = asyncio.run(guesses())
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    t1 = time.monotonic()
    before, during = publisher.rate(t0 - 1.0, t0), publisher.rate(t0, t1)
    assert answers == [403] * 100
    assert view.pressed() == [] and view.refusals.count == 100
    assert during >= 0.8 * before, (before, during)


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


needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium-headless-shell (the README's "
                                                             "test command installs it)")


class LiveApp:
    """`python -m realtime.webcam --serve 127.0.0.1:0` on a looping still clip with two styles, as a user runs it."""

    def __init__(self, folder) -> None:
        from media import make_video

        photo = cv2.resize(cv2.imread(str(DATA / "astronaut.jpg")), (160, 120), interpolation=cv2.INTER_AREA)
        clip = make_video(folder / "still.mp4", frames=30, width=160, height=120, picture=photo)
        self.stats = folder / "stats.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"), "--style",
             str(DATA / "windmill.jpg"), "--source", str(clip), "--loop", "--no-display", "--model", "lite",
             "--serve", "127.0.0.1:0", "--stats", str(self.stats)], stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.log: list[str] = []
        self.url = None
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"browser view at (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        assert self.url, "the app never said where it serves:\n" + "".join(self.log)
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([\w.~-]+)", self.url)
        assert m, self.url
        self.port, self.token = int(m.group(1)), m.group(2)
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()  # keep it drained

    def state(self) -> dict:
        import json

        raw = f"GET /state.json?token={self.token} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n"
        return json.loads(http(self.port, raw.encode()).split(b"\r\n\r\n", 1)[1])

    def frame_times(self) -> list[float]:
        """When each output frame left the loop (--stats; the same monotonic clock as this process's)."""
        import json

        times = []
        for line in self.stats.read_text().splitlines():
            try:
                times.append(json.loads(line)["out_time"])
            except ValueError:
                pass  # the line being written
        return times

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    app = LiveApp(tmp_path_factory.mktemp("live"))
    yield app
    assert app.stop() == 0, "".join(app.log)


@needs_browser
def test_the_page_opened_from_the_printed_url_shows_the_stream_and_its_buttons_switch_the_style(live_app):
    async def drive():
        async with Browser() as b:
            await b.goto(live_app.url)
            await b.wait_for("document.getElementById('live').naturalWidth > 0")  # a frame arrived
            await b.wait_for("document.getElementById('style').textContent.startsWith('painting (1/2)')")
            await b.wait_for("document.getElementById('thumb').naturalWidth > 0")
            where, cookies = await b.js("location.href"), await b.js("document.cookie")
            await asyncio.sleep(0.5)
            before = await b.screenshot("#live")
            await b.click("#next")
            await b.wait_for("document.getElementById('style').textContent.startsWith('windmill (2/2)')")
            await asyncio.sleep(0.5)
            after = await b.screenshot("#live")
            await b.click("#mask")
            await b.wait_for("document.getElementById('mode').textContent === 'background only'")
            await b.click("#prev")
            await b.wait_for("document.getElementById('style').textContent.startsWith('painting (1/2)')")
            return before, after, where, cookies

    before, after, where, cookies = asyncio.run(drive())
    assert where == f"http://127.0.0.1:{live_app.port}/"  # the token left the address bar ...
    assert cookies == ""  # ... for a cookie the page's scripts cannot read
    assert before.shape == after.shape and before.shape[0] >= 100
    assert before.std() > 10  # a picture, not an empty box
    assert np.abs(before.astype(int) - after).mean() > 8  # the other style, on the same still picture


HOSTILE = """<!doctype html><title>a page on the web</title><iframe name="sink"></iframe>
<form id="f" method="POST" action="http://127.0.0.1:{port}/press/next" target="sink"></form>
<script>
fetch("http://127.0.0.1:{port}/press/next", {{method: "POST", mode: "no-cors", credentials: "include"}})
  .catch(() => null).finally(() => {{ document.getElementById("f").submit(); document.title = "sent"; }});
</script>"""


@needs_browser
def test_a_page_from_another_origin_cannot_press_and_a_rebound_name_sees_nothing(live_app):
    """A browser that has the page's cookie visits a hostile page on another port of this machine (the same
    site: the cookie goes along), which posts a form and a fetch to the 'next' button; then a made-up name
    resolved to this machine (DNS rebinding) asks for the state with the token itself."""
    import http.server

    class Hostile(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = HOSTILE.format(port=live_app.port).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    hostile = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    before = live_app.state()

    async def drive():
        async with Browser("--host-resolver-rules=MAP rebound.example 127.0.0.1") as b:
            await b.goto(live_app.url)
            await b.wait_for("document.getElementById('live').naturalWidth > 0")
            await b.goto(f"http://127.0.0.1:{hostile.server_address[1]}/")
            await b.wait_for("document.title === 'sent'")
            deadline = time.monotonic() + 10
            while live_app.state()["refused"] < before["refused"] + 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # both posts arrived at the app and were turned away
            await asyncio.sleep(0.5)  # a key would be seen by the loop well within this
            await b.goto(f"http://rebound.example:{live_app.port}/state.json?token={live_app.token}")
            await b.wait_for("document.body && document.body.innerText.length > 0")
            return await b.js("document.body.innerText")

    try:
        rebound = asyncio.run(drive())
    finally:
        hostile.shutdown()
    after = live_app.state()
    assert after["refused"] >= before["refused"] + 2
    assert (after["style"], after["style_index"]) == (before["style"], before["style_index"])
    assert "is not this machine" in rebound and '"style"' not in rebound


def test_a_hundred_wrong_tokens_leave_the_real_loop_at_its_rate(live_app):
    async def guess(i: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", live_app.port)
        writer.write(f"GET /stream.mjpg?token=guess{i:012d}abcdefgh HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        return data

    async def guesses() -> list[bytes]:
        return await asyncio.gather(*(guess(i) for i in range(100)))

    refused = live_app.state()["refused"]
    time.sleep(2.0)
    t0 = time.monotonic()
    answers = asyncio.run(guesses())
    time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
    t1 = time.monotonic()
    time.sleep(0.5)
    times = live_app.frame_times()
    before = sum(t0 - 2.0 <= t < t0 for t in times) / 2.0
    during = sum(t0 <= t < t1 for t in times) / (t1 - t0)
    assert all(status(a) == 403 and b"--frame" not in a for a in answers)
    assert live_app.state()["refused"] == refused + 100
    assert before > 5 and during >= 0.8 * before, (before, during)


def test_a_kiosk_combines_a_mask_and_a_page_for_the_local_network(tmp_path):
    """--kiosk with --mask-mode and --serve on a host: it starts, serves and paints, and stops cleanly."""
    from media import make_video

    clip = make_video(tmp_path / "clip.mp4", frames=20, width=160, height=120)
    r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"), "--source",
                        str(clip), "--kiosk", "--no-display", "--mask-mode", "background", "--serve", "0.0.0.0:0",
                        "--serve-open", "--max-frames", "10", "--log-file", str(tmp_path / "kiosk.log"), "--model",
                        "lite"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    line = re.search(r"browser view at http://127\.0\.0\.1:\d+/ \(every network.*", r.stderr)
    assert line and "--serve-open, no secret asked" in line.group(0), r.stderr
    assert "done: 10 frames" in (tmp_path / "kiosk.log").read_text()
