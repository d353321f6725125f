"""The live stylized picture in a browser: `--serve [HOST:]PORT`.

A page with the picture (MJPEG, which every browser shows in a plain <img>), the current style's name and
thumbnail, and buttons that act as the keys do. aiohttp serves it from its own thread and event loop, so the
live loop only hands over its newest frame (a reference, no copy, no encoding) and reads the buttons pressed.
Each frame is JPEG-encoded once, when a viewer first asks for it, and shared by all viewers; a viewer always
gets the newest frame when it is ready for one, so a slow viewer skips frames and never slows the loop or the
other viewers. A viewer that goes away has its handler cancelled at once. Who may watch and press:
realtime/live/outputs/web_access.py (a secret in the printed URL, then a cookie; Host, Origin and fetch metadata checked).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import threading
from collections import deque

import cv2
import numpy as np

from realtime.live.keys import BUTTONS
from realtime.live.outputs.base import Engine, OutFrame, Output, OutputKind, ViewState
from realtime.live.outputs.web_access import Access, RefusalLog, check_token, new_token, parse_address
from realtime.live.outputs.web_page import PAGE, thumbnail

log = logging.getLogger("realtime")

BOUNDARY = "frame"


class ServeError(RuntimeError):
    pass


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs a malformed request (a port scanner, a broken client) with a traceback: one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
            log.info("web view: malformed request refused (%s)", str(record.exc_info[1]).splitlines()[0])
            return False
        return True


class WebView(Output):
    """Serves from the moment it is made (a port in use fails here, before the model loads) until close().

    `token`: the secret asked of every request (None: a new random one); `open_access`: no secret at all."""

    def __init__(self, host: str, port: int, quality: int = 80, token: str | None = None,
                 open_access: bool = False) -> None:
        if importlib.util.find_spec("aiohttp") is None:
            raise ServeError("--serve needs aiohttp: pip install -r requirements-extra.txt")
        server_log = logging.getLogger("aiohttp.server")
        if not any(isinstance(f, _OneLineBadRequests) for f in server_log.filters):
            server_log.addFilter(_OneLineBadRequests())
        self.quality = quality
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._state = ViewState()
        self._pressed: deque[str] = deque(maxlen=64)
        self._jpeg: tuple[int, bytes] = (0, b"")
        self._thumbs: dict[str, bytes] = {}
        self.viewers = 0
        self.served_frames = 0
        self.token = None if open_access else (token or new_token())
        self.refusals = RefusalLog()
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, args=(host, port), name="web-view", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            self._thread.join()
            err = self._error
            if isinstance(err, OSError) and err.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise ServeError(f"--serve: port {port} on {host} is in use (pick another port)")
            if isinstance(err, OSError) and err.errno in (99, 49, 10049):  # EADDRNOTAVAIL
                raise ServeError(f"--serve: {host} is not an address of this machine")
            if isinstance(err, PermissionError) or (isinstance(err, OSError) and err.errno == 13):
                raise ServeError(f"--serve: no permission to listen on port {port} (ports below 1024 need root)")
            raise ServeError(f"--serve: cannot listen on {host}:{port}: {err}")
        self.everywhere = host in ("0.0.0.0", "::")
        local = ("[::1]" if host == "::" else "127.0.0.1") if self.everywhere else (f"[{host}]" if ":" in host else host)
        self.url = f"http://{local}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def describe(self) -> str:
        """The start-up line: where to open the page, and who else can."""
        notes = ["every network: from another machine use this machine's address in its place"] if self.everywhere else []
        notes.append("open to anyone who can reach it: --serve-open, no secret asked" if self.token is None
                     else "the token in it is the secret; keep it to who may watch and press")
        return f"browser view at {self.url} ({'; '.join(notes)})"

    # --- the live loop's side ------------------------------------------------------------------------------
    def send(self, frame: OutFrame) -> None:
        self.publish(frame.shown, frame.state)

    def publish(self, frame: np.ndarray, state: ViewState) -> None:
        """The newest output frame (kept by reference: the loop makes a new array each frame) and the state."""
        with self._lock:
            self._frame, self._state = frame, state
            self._seq += 1
        if self.viewers:
            self._loop.call_soon_threadsafe(self._wake)

    def pressed(self) -> list[str]:
        """Key characters the page's buttons pressed since the last call, oldest first."""
        keys = []
        while self._pressed:
            keys.append(self._pressed.popleft())
        return keys

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=5)

    # --- the server's thread -------------------------------------------------------------------------------
    def _serve(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(host, port))
        except BaseException as e:  # noqa: BLE001  (reported by __init__ when it happens at start)
            if not self._started.is_set():
                self._error = e
            else:
                log.error("web view stopped: %s", e)
        finally:
            self._started.set()
            self._loop.close()

    async def _main(self, host: str, port: int) -> None:
        from aiohttp import web

        self._stop = asyncio.Event()
        self._new_frame = asyncio.Event()
        self._encoding = asyncio.Lock()
        app = web.Application(client_max_size=1024, middlewares=[web.middleware(
            lambda request, handler: self._guard(request, handler))])
        app.add_routes([web.get("/", self._page), web.get("/stream.mjpg", self._stream),
                        web.get("/state.json", self._state_json), web.get("/thumb.jpg", self._thumb),
                        web.post("/press/{button}", self._press)])
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True,
                               access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, backlog=256)
            await site.start()
            self.port = runner.addresses[0][1]
            self.access = Access(self.token, self.port)
            self._started.set()
            await self._stop.wait()
        finally:
            self._wake()  # streams see _closing and end
            await runner.cleanup()

    async def _guard(self, request, handler):
        """Every route, an unknown one included, passes web_access's checks first."""
        from aiohttp import web

        sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
        refusal = self.access.refuse(request.method, request.path, request.headers, request.query.get("token"),
                                     request.cookies.get(self.access.cookie), sock[0] if sock else None)
        if refusal is None:
            return await handler(request)
        self.refusals.add(refusal.reason, request.remote)
        return web.Response(status=refusal.status, text=f"refused: {refusal.reason}\n",
                            headers={"Cache-Control": "no-store"})

    def _wake(self) -> None:
        """Runs on the server's loop: every waiting stream looks for the newest frame."""
        self._new_frame.set()
        self._new_frame = asyncio.Event()

    async def _newest_jpeg(self, after: int) -> tuple[int, bytes] | None:
        """The newest frame newer than `after`, JPEG-encoded once for all viewers; None when closing."""
        while not self._closing:
            wake = self._new_frame
            with self._lock:
                seq, frame = self._seq, self._frame
            if frame is not None and seq > after:
                async with self._encoding:
                    if self._jpeg[0] != seq:
                        data = await asyncio.get_running_loop().run_in_executor(None, self._encode, frame)
                        self._jpeg = (seq, data)
                    return self._jpeg
            await wake.wait()
        return None

    def _encode(self, frame: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return buf.tobytes() if ok else b""

    async def _stream(self, request):
        from aiohttp import web

        resp = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                           "Cache-Control": "no-store"})
        await resp.prepare(request)
        self.viewers += 1
        last = 0
        try:
            while True:
                got = await self._newest_jpeg(last)
                if got is None:
                    break
                last, data = got
                await resp.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                                 .encode() + data + b"\r\n")
                self.served_frames += 1
        except ConnectionError:
            pass  # the viewer left while a frame was on its way (a cancelled handler ends by CancelledError)
        finally:
            self.viewers -= 1
        return resp

    async def _state_json(self, request):
        from aiohttp import web

        with self._lock:
            s = self._state
        return web.json_response({"style": s.style, "style_index": s.style_index, "styles": s.styles,
                                  "alpha": s.alpha, "mask": s.mask, "viewers": self.viewers,
                                  "refused": self.refusals.count},
                                 headers={"Cache-Control": "no-store"})

    async def _thumb(self, request):
        from aiohttp import web

        with self._lock:
            path = self._state.style_path
        data = self._thumbs.get(path)
        if data is None:
            data = await asyncio.get_running_loop().run_in_executor(None, thumbnail, path)
            if len(self._thumbs) > 256:
                self._thumbs.clear()
            self._thumbs[path] = data
        if not data:
            raise web.HTTPNotFound(text="no thumbnail for this style")
        return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _press(self, request):
        from aiohttp import web

        await request.read()  # a body is not expected; one over client_max_size is refused (413)
        key = BUTTONS.get(request.match_info["button"])
        if key is None:
            raise web.HTTPNotFound(text=f"no button {request.match_info['button']!r}; buttons: {', '.join(BUTTONS)}")
        self._pressed.append(key)
        return web.json_response({"pressed": request.match_info["button"]})

    async def _page(self, request):
        from aiohttp import web

        if self.token is not None and self.access.matches(request.query.get("token")):
            # the printed URL: the secret moves into a cookie the page's own requests carry, out of the address bar
            resp = web.HTTPSeeOther("/", headers={"Cache-Control": "no-store"})
            resp.set_cookie(self.access.cookie, self.token, httponly=True, samesite="Strict", path="/")
            raise resp
        return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})


def serve_address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def serve_token(text: str) -> str:
    try:
        return check_token(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--serve", type=serve_address, metavar="[HOST:]PORT",
                   help="show the live picture in a browser at http://HOST:PORT/ with buttons for style, alpha and "
                        "mask (this machine only unless a HOST such as 0.0.0.0 is given; open the URL the app "
                        "prints, which carries a secret token; needs requirements-extra.txt)")
    access = p.add_mutually_exclusive_group()
    access.add_argument("--serve-token", type=serve_token, metavar="TOKEN",
                        help="the browser view's secret instead of a new random one at each start (a kiosk's "
                             "printed link; 16 or more of A-Z a-z 0-9 - _ . ~)")
    access.add_argument("--serve-open", action="store_true",
                        help="serve the browser view without a secret: anyone who can reach the address may "
                             "watch and press its buttons (a kiosk's page for its visitors)")


def check(a: argparse.Namespace) -> None:
    if (a.serve_token or a.serve_open) and a.serve is None:
        raise ServeError(f"{'--serve-token' if a.serve_token else '--serve-open'} is for the browser view: add "
                         "--serve [HOST:]PORT")


def open_view(a: argparse.Namespace, engine: Engine | None) -> WebView | None:
    """Opened before the model loads: a port in use is said before any work."""
    if a.serve is None:
        return None
    view = WebView(*a.serve, token=a.serve_token, open_access=a.serve_open)
    log.info("%s", view.describe())
    return view


KIND = OutputKind("browser view", add_arguments, open_view, check, opens_early=True, errors=(ServeError,))
