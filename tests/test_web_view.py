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
from realtime.web_view import ViewState, WebView, parse_address

pytest.importorskip("aiohttp", reason="the browser view needs aiohttp: pip install -r requirements-extra.txt")
DATA = ROOT / "tests" / "data"


def test_addresses():
    assert parse_address("8080") == ("127.0.0.1", 8080)  # this machine only unless a host is given
    assert parse_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("", "http", "70000", "host:80", ":80", "1.2.3.4:"):
        with pytest.raises(ValueError, match="--serve"):
            parse_address(bad)


@pytest.fixture
def view():
    v = WebView("127.0.0.1", 0)
    stop = threading.Event()

    def loop():  # the live loop's part: a new frame 30 times a second
        i = 0
        while not stop.is_set():
            frame = np.full((120, 160, 3), i % 256, np.uint8)
            v.publish(frame, ViewState("painting", 0, 2, 1.0, "whole", str(DATA / "painting.jpg")))
            i += 1
            time.sleep(1 / 30)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield v
    stop.set()
    t.join()
    v.close()


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def http(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)  # and no half-close: a client that hangs up is gone, its request cancelled
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_malformed_requests_get_errors_and_the_server_goes_on(view, caplog):
    caplog.set_level("INFO")
    def ask(raw: bytes) -> bytes:
        return http(view.port, raw)

    assert status(ask(b"GARBAGE\r\n\r\n")) == 400
    bad_length = ask(b"GET /stream.mjpg HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert bad_length == b"" or status(bad_length) == 400  # aiohttp closes the connection on this one
    assert status(ask(b"GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) == 404
    # a visitor cannot quit the app, only press what the page offers
    assert status(ask(b"POST /press/quit HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) == 404
    body = b"x" * 100_000
    assert status(ask(b"POST /press/next HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)) == 413
    ok = ask(b"GET /state.json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status(ok) == 200 and b'"style": "painting"' in ok
    assert view.pressed() == []  # none of that pressed a key
    assert status(ask(b"POST /press/next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) == 200
    assert view.pressed() == ["n"]
    assert "Traceback" not in caplog.text and "malformed request refused" in caplog.text


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_fifty_viewers_connect_and_drop_at_once_and_leave_nothing_behind(view):
    async def viewer(frames: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", view.port)
        writer.write(b"GET /stream.mjpg HTTP/1.1\r\nHost: a\r\n\r\n")
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
    slow.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: a\r\n\r\n")
    time.sleep(0.3)
    with socket.create_connection(("127.0.0.1", view.port), timeout=5) as fast:
        fast.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: a\r\n\r\n")
        t0, buf = time.monotonic(), b""
        while buf.count(b"--frame\r\n") < 20:
            buf += fast.recv(65536)
        elapsed = time.monotonic() - t0
    assert elapsed < 3.0  # 20 frames at 30 a second: well under a second unless held up
    slow.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"),
                            "--no-display", "--serve", str(port)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: --serve: port {port} on 127.0.0.1 is in use (pick another port)"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium-headless-shell (the README's test command "
                                              "installs it)")
def test_the_page_in_a_real_browser_shows_the_stream_and_its_buttons_switch_the_style(tmp_path):
    from media import make_video

    photo = cv2.resize(cv2.imread(str(DATA / "astronaut.jpg")), (160, 120), interpolation=cv2.INTER_AREA)
    clip = make_video(tmp_path / "still.mp4", frames=30, width=160, height=120, picture=photo)
    app = subprocess.Popen([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"), "--style",
                            str(DATA / "windmill.jpg"), "--source", str(clip), "--loop", "--no-display", "--model",
                            "lite", "--serve", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = None
        for line in app.stderr:
            m = re.search(r"browser view at (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the app never said where it serves"
        threading.Thread(target=app.stderr.read, daemon=True).start()  # keep the pipe drained

        async def drive():
            async with Browser() as b:
                await b.goto(url)
                await b.wait_for("document.getElementById('live').naturalWidth > 0")  # a frame arrived
                await b.wait_for("document.getElementById('style').textContent.startsWith('painting (1/2)')")
                await b.wait_for("document.getElementById('thumb').naturalWidth > 0")
                await asyncio.sleep(0.5)
                before = await b.screenshot("#live")
                await b.click("#next")
                await b.wait_for("document.getElementById('style').textContent.startsWith('windmill (2/2)')")
                await asyncio.sleep(0.5)
                after = await b.screenshot("#live")
                await b.click("#mask")
                await b.wait_for("document.getElementById('mode').textContent === 'background only'")
                return before, after

        before, after = asyncio.run(drive())
        assert before.shape == after.shape and before.shape[0] >= 100
        assert before.std() > 10  # a picture, not an empty box
        assert np.abs(before.astype(int) - after).mean() > 8  # the other style, on the same still picture
    finally:
        app.terminate()
        app.wait(timeout=30)
    assert app.returncode == 0


def test_a_kiosk_combines_a_mask_and_a_page_for_the_local_network(tmp_path):
    """--kiosk with --mask-mode and --serve on a host: it starts, serves and paints, and stops cleanly."""
    from media import make_video

    clip = make_video(tmp_path / "clip.mp4", frames=20, width=160, height=120)
    r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"), "--source",
                        str(clip), "--kiosk", "--no-display", "--mask-mode", "background", "--serve", "0.0.0.0:0",
                        "--max-frames", "10", "--log-file", str(tmp_path / "kiosk.log"), "--model", "lite"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert re.search(r"browser view at http://0\.0\.0\.0:\d+/", r.stderr)
    assert "done: 10 frames" in (tmp_path / "kiosk.log").read_text()
