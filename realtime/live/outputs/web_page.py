"""The browser view's page: the live picture, the style's name and thumbnail, and a button for each key that
the keymap (realtime/live/keys.py) marks as one."""
from __future__ import annotations

import html
from pathlib import Path

import cv2

from realtime.live.keys import KEYS

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live style transfer</title>
<style>
 body { margin: 0; background: #111; color: #eee; font: 16px system-ui, sans-serif; text-align: center; }
 #live { width: 100%; height: 80vh; object-fit: contain; display: block; background: #000; }
 .bar { display: flex; gap: .6em; align-items: center; justify-content: center; flex-wrap: wrap; padding: .4em; }
 #thumb { height: 64px; border: 1px solid #555; }
 button { font-size: 1.1em; padding: .5em .9em; border-radius: .4em; border: 0; background: #333; color: #eee; }
 button:active { background: #555; }
</style></head>
<body>
<img id="live" src="/stream.mjpg" alt="the live stylized picture">
<div class="bar">
 <img id="thumb" alt="current style">
 <span id="style">…</span> <span>alpha <span id="alpha"></span></span> <span>painting: <span id="mode"></span></span>
</div>
<div class="bar">
"""

_TAIL = """</div>
<script>
let shown = null;
async function refresh() {
  try {
    const s = await (await fetch('/state.json', {cache: 'no-store'})).json();
    document.getElementById('style').textContent = s.style + ' (' + (s.style_index + 1) + '/' + s.styles + ')';
    document.getElementById('alpha').textContent = s.alpha.toFixed(1);
    document.getElementById('mode').textContent = s.mask === 'whole' ? 'whole frame' : s.mask + ' only';
    if (shown !== s.style_index + ':' + s.style) {
      shown = s.style_index + ':' + s.style;
      document.getElementById('thumb').src = '/thumb.jpg?s=' + encodeURIComponent(shown);
    }
  } catch (e) { /* the app is restarting: try again on the next tick */ }
}
for (const b of document.querySelectorAll('button[data-button]')) {
  b.addEventListener('click', async () => {
    await fetch('/press/' + b.dataset.button, {method: 'POST'});
    setTimeout(refresh, 150);
  });
}
refresh();
setInterval(refresh, 1000);
</script>
</body></html>
"""


def page() -> str:
    """The page's HTML; each button's id and data-button are its key's action."""
    buttons = "".join(f' <button id="{k.action}" data-button="{k.action}" title="{html.escape(k.help)}">'
                      f"{html.escape(k.button)}</button>\n" for k in KEYS if k.button)
    return _HEAD + buttons + _TAIL


PAGE = page()


def thumbnail(path: str, side: int = 160) -> bytes:
    """A style's picture, `side` px on its longer side, as JPEG; b'' when it cannot be read (a file gone)."""
    img = cv2.imread(path) if path and Path(path).is_file() else None
    if img is None:
        return b""
    s = side / max(img.shape[:2])
    small = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else b""
