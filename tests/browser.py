"""A real headless Chromium driven over the DevTools protocol, for the browser view's tests.

Debian's `chromium-headless-shell` (or `chromium`); the protocol spoken with aiohttp's websocket client (the
browser view's own dependency), so the tests need no WebDriver.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")


class Browser:
    """`async with Browser() as b:` a page to navigate, evaluate JavaScript in, click and screenshot; `args`: more
    Chromium switches (e.g. --host-resolver-rules to point a made-up name at this machine)."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)

    async def __aenter__(self) -> "Browser":
        import aiohttp

        self.profile = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile.name}", "--window-size=900,700", *self.args, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # its own group: all
        # of its processes (renderer, GPU, network) end with it
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
            pages = [t for t in await r.json() if t["type"] == "page"]
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        self._ids = itertools.count(1)
        await self.call("Page.enable")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await self.session.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
                if sig == signal.SIGTERM:
                    time.sleep(0.5)  # the children get the same signal; then whatever is left is killed
            except subprocess.TimeoutExpired:
                pass
        self.profile.cleanup()

    async def call(self, method: str, **params) -> dict:
        msg_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=30)).data)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def js(self, expression: str):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"still false after {timeout:g} s: {expression}")

    async def box(self, selector: str) -> dict:
        return await self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                             ".getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; })()")

    async def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the element."""
        b = await self.box(selector)
        x, y = b["x"] + b["w"] / 2, b["y"] + b["h"] / 2
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def screenshot(self, selector: str) -> np.ndarray:
        """The element as the page paints it, BGR."""
        b = await self.box(selector)
        r = await self.call("Page.captureScreenshot", format="png",
                            clip={"x": b["x"], "y": b["y"], "width": b["w"], "height": b["h"], "scale": 1})
        return cv2.imdecode(np.frombuffer(base64.b64decode(r["data"]), np.uint8), cv2.IMREAD_COLOR)
