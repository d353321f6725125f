"""The live app's keymap: one table, used for dispatch and for the help overlay."""
from __future__ import annotations

KEYMAP: dict[str, tuple[str, str]] = {
    # key: (action, help text)
    "1-9": ("select", "pick style 1-9"),
    "n": ("next", "next style"),
    "p": ("prev", "previous style"),
    "+": ("alpha_up", "more style (alpha +0.1)"),
    "-": ("alpha_down", "less style (alpha -0.1)"),
    "b": ("blend", "blend current and next style (again: change weights)"),
    "c": ("color", "colour preservation on/off"),
    "t": ("stabilize", "steady texture (less flicker) on/off"),
    "s": ("snapshot", "save a PNG snapshot"),
    "r": ("record", "start/stop recording"),
    "f": ("fullscreen", "fullscreen on/off"),
    "space": ("freeze", "freeze: original and stylized side by side"),
    "h": ("help", "show/hide this help"),
    "o": ("hud", "show/hide the HUD"),
    "d": ("rescan", "rescan the style folder for new files"),
    "q/Esc": ("quit", "quit"),
}

_CHARS = {"n": "next", "p": "prev", "+": "alpha_up", "=": "alpha_up", "-": "alpha_down", "_": "alpha_down",
          "b": "blend", "c": "color", "t": "stabilize", "s": "snapshot", "r": "record", "f": "fullscreen",
          " ": "freeze", "h": "help", "o": "hud", "d": "rescan", "q": "quit", "\x1b": "quit"}


def action_for(key: int | str) -> tuple[str, int] | None:
    """An OpenCV key code (or a character) -> (action, argument); None for keys without a meaning."""
    if isinstance(key, int):
        if key < 0:
            return None
        key = chr(key & 0xFF)
    if key.isdigit() and key != "0":
        return ("select", int(key) - 1)
    name = _CHARS.get(key)
    return (name, 0) if name else None


def help_lines() -> list[str]:
    return [f"{k:>6}  {text}" for k, (_, text) in KEYMAP.items()]


def parse_script(text: str) -> dict[int, list[str]]:
    """'10:n,20:+,30:q' -> {10: ['n'], 20: ['+'], 30: ['q']}: keys pressed at output frame numbers."""
    script: dict[int, list[str]] = {}
    for item in filter(None, text.split(",")):
        frame, _, key = item.partition(":")
        if not frame.strip().isdigit() or not key:
            raise ValueError(f"--keys wants FRAME:KEY items separated by commas, got {item!r}")
        key = {"space": " ", "esc": "\x1b"}.get(key, key)
        if action_for(key) is None:  # a typo would otherwise do nothing, silently
            raise ValueError(f"--keys: no key {item.partition(':')[2]!r} (keys: {', '.join(KEYMAP)})")
        script.setdefault(int(frame), []).append(key)
    return script
