"""The live app's keymap: one table, used for dispatch, the help overlay and the browser view's buttons.

Adding a key is a row here and a method of the same name as its action in realtime/live/controls.py (checked
when the controls are made); a row with a `button` label is also a button on the browser view's page.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    label: str   # as the help overlay and --help show it
    chars: str   # the characters that press it (OpenCV key codes are characters)
    action: str  # the Controls method it runs
    help: str
    button: str = ""  # its label on the browser view's page ("": not a button there)


KEYS = (
    Key("1-9", "123456789", "select", "pick style 1-9"),
    Key("p", "p", "prev", "previous style", button="\u25c0 style"),
    Key("n", "n", "next", "next style", button="style \u25b6"),
    Key("-", "-_", "alpha_down", "less style (alpha -0.1)", button="alpha \u2212"),
    Key("+", "+=", "alpha_up", "more style (alpha +0.1)", button="alpha +"),
    Key("b", "b", "blend", "blend current and next style (again: change weights)"),
    Key("c", "c", "color", "colour preservation on/off"),
    Key("t", "t", "stabilize", "steady texture (less flicker) on/off"),
    Key("m", "m", "mask", "paint the whole frame / the background only / the person only", button="paint"),
    Key("s", "s", "snapshot", "save a PNG snapshot"),
    Key("r", "r", "record", "start/stop recording"),
    Key("f", "f", "fullscreen", "fullscreen on/off"),
    Key("space", " ", "freeze", "freeze: original and stylized side by side"),
    Key("h", "h", "help", "show/hide this help"),
    Key("o", "o", "hud", "show/hide the HUD"),
    Key("d", "d", "rescan", "rescan the style folder for new files"),
    Key("q/Esc", "q\x1b", "quit", "quit"),
)
_BY_CHAR = {c: k for k in KEYS for c in k.chars}
BUTTONS = {k.action: k.chars[0] for k in KEYS if k.button}  # what a visitor of the page may press


def action_for(key: int | str) -> tuple[str, int] | None:
    """An OpenCV key code (or a character) -> (action, argument: the style's index for 1-9); None for keys
    without a meaning."""
    if isinstance(key, int):
        if key < 0:
            return None
        key = chr(key & 0xFF)
    k = _BY_CHAR.get(key)
    if k is None:
        return None
    return (k.action, int(key) - 1) if k.action == "select" else (k.action, 0)


def help_lines() -> list[str]:
    return [f"{k.label:>6}  {k.help}" for k in KEYS]


def parse_script(text: str) -> dict[int, list[str]]:
    """'10:n,20:+,30:q' -> {10: ['n'], 20: ['+'], 30: ['q']}: keys pressed at output frame numbers."""
    script: dict[int, list[str]] = {}
    for item in filter(None, text.split(",")):
        frame, _, key = item.partition(":")
        if not frame.strip().isdigit() or not key:
            raise ValueError(f"--keys wants FRAME:KEY items separated by commas, got {item!r}")
        key = {"space": " ", "esc": "\x1b"}.get(key, key)
        if action_for(key) is None:  # a typo would otherwise do nothing, silently
            raise ValueError(f"--keys: no key {item.partition(':')[2]!r} (keys: {', '.join(k.label for k in KEYS)})")
        script.setdefault(int(frame), []).append(key)
    return script
