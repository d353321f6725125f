"""The browser view in a real headless Chromium, against the app as users run it: the page, hostile pages, a
name rebound to this machine, guessed tokens, a kiosk on the network."""
import asyncio
import re
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from browser import CHROMIUM, Browser
from conftest import ROOT
from raw_http import http, status, wrong_tokens

pytest.importorskip("aiohttp", reason="the browser view needs aiohttp: pip install -r requirements-extra.txt")

DATA = ROOT / "tests" / "data"


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
        try:
            self.url, self.port, self.token = self._address()
        except BaseException:
            self.proc.kill()  # a failed start leaves no app running behind the tests
            raise
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()  # keep it drained

    def _address(self) -> tuple[str, int, str]:
        """The URL the app prints at start, and the port and token in it."""
        url = None
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"browser view at (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the app never said where it serves:\n" + "".join(self.log)
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([\w.~-]+)", url)
        assert m, url
        return url, int(m.group(1)), m.group(2)

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
    """The loop's rate while 100 wrong tokens arrive against its rate in the 2 s before. A window in which the
    loop itself was starved (another test worker compiling on both cores left it under 5 frames/s before any
    token was sent) says nothing about the tokens, so up to three windows are tried."""
    refused = live_app.state()["refused"]
    rates = []
    for attempt in range(1, 4):
        time.sleep(2.0)
        t0 = time.monotonic()
        answers = wrong_tokens(live_app.port, "GET", "/stream.mjpg")
        time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
        t1 = time.monotonic()
        time.sleep(0.5)
        times = live_app.frame_times()
        before = sum(t0 - 2.0 <= t < t0 for t in times) / 2.0
        during = sum(t0 <= t < t1 for t in times) / (t1 - t0)
        assert all(status(a) == 403 and b"--frame" not in a for a in answers)
        assert live_app.state()["refused"] == refused + 100 * attempt
        rates.append((before, during))
        if before > 5:
            break
    assert before > 5 and during >= 0.8 * before, rates


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
