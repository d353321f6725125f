"""The live app end to end as users run it (python -m realtime.webcam): frames, keys, windows."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from engines.io.images import bgr_to_tensor, read_bgr, resize_short, tensor_to_bgr
from realtime.live.keys import action_for, parse_script
from realtime.video.flicker import frames as read_frames
from realtime.video.flicker import warping_error

from conftest import ROOT, webcam
from live import STYLE_A, STYLE_B, read_stats, reference
from media import decode_frames, make_video, moving_frame


def test_headless_loop_with_scripted_keys_records_the_right_frames(clip, tmp_path, shipped_lite):
    rec, stats = tmp_path / "rec.mp4", tmp_path / "stats.jsonl"
    r = webcam("--style", STYLE_A, "--style", STYLE_B, "--source", str(clip), "--size", "64", "--no-display",
               "--model", "lite",
               "--max-frames", "24", "--loop", "--keys", "8:n,16:-,16:-,16:-,16:-,16:-,16:-,16:-,16:-,16:-,16:-",
               "--record", str(rec), "--stats", str(stats))
    assert r.returncode == 0, r.stderr
    frames = decode_frames(rec)
    assert len(frames) == 24  # a playable file with every output frame
    s = read_stats(stats)
    assert [x["style"] for x in s] == [0] * 8 + [1] * 16
    assert [x["alpha"] for x in s][16:] == [0.0] * 8
    # the style switch shows up in the picture within one frame: each recorded frame matches an offline
    # rendering of its own source frame with the style in force, not with the other one
    source = decode_frames(clip)
    for k in (7, 8):
        src = cv2.resize(source[(s[k]["seq"] - 1) % len(source)], (88, 64), interpolation=cv2.INTER_AREA)
        a, b = (reference(shipped_lite, src, path) for path in (STYLE_A, STYLE_B))
        err_a, err_b = (np.abs(frames[k].astype(int) - x).mean() for x in (a, b))
        assert (err_a < err_b) if k == 7 else (err_b < err_a), (k, err_a, err_b)
    # freshness: each frame used was the newest captured when the step began
    for x in s:
        assert x["seq"] >= x["newest_at_start"]
    # where each frame's time went: every stage named, the model's share in it, and the parts within the whole
    for x in s:
        ms = x["ms"]
        assert set(ms) == {"wait", "resize", "mask", "model", "steady", "record", "send", "show", "other",
                           "total"}
        assert ms["model"] > 0 and ms["steady"] == 0
        assert ms["total"] >= ms["model"] + ms["resize"] + ms["record"] - 0.05  # each rounded to 0.01 ms
    assert any(x["decode_ms"] for x in s) and any(x["encode_ms"] for x in s)  # the threads beside the loop


def test_a_photo_as_source_stays_on_screen_and_takes_style_keys(tmp_path):
    """FFmpeg reads a photo as a one-frame video: the app used to show it once and quit."""
    rec, stats = tmp_path / "rec.mp4", tmp_path / "stats.jsonl"
    r = webcam("--style", STYLE_A, "--style", STYLE_B, "--source", STYLE_B, "--size", "48", "--no-display",
               "--backend", "onnx", "--max-frames", "8", "--keys", "4:n", "--record", str(rec), "--stats", str(stats))
    assert r.returncode == 0, r.stderr
    s = read_stats(stats)
    assert [x["style"] for x in s] == [0] * 4 + [1] * 4 and len({x["seq"] for x in s}) == 8
    frames = decode_frames(rec)
    assert len(frames) == 8
    assert np.abs(frames[3].astype(int) - frames[4]).mean() > 5  # the other style shows on the same photo


def test_alpha_zero_returns_the_content_picture(clip, tmp_path, shipped_model):
    """At alpha 0 the app shows the decoder's reconstruction of the captured frame itself, no style.

    How close that is to the photo is the decoder's quality (README, model card), not the app's.
    The full model is asked for by name here (the CPU default is the lite model), on eager: what alpha 0 does
    is the model's, and compiling the full VGG19 for inductor (tests/test_backends.py's) cost a minute here.
    """
    stats, rec = tmp_path / "s.jsonl", tmp_path / "r.mp4"
    r = webcam("--style", STYLE_A, "--source", str(clip), "--size", "120", "--no-display", "--max-frames", "4", "--loop",
               "--alpha", "0", "--record", str(rec), "--stats", str(stats), "--precision", "fp32", "--model", "full",
               "--backend", "eager")
    assert r.returncode == 0, r.stderr
    out, seqs = decode_frames(rec), [x["seq"] for x in read_stats(stats)]
    source = decode_frames(clip)
    for o, q in zip(out, seqs):
        src = source[(q - 1) % len(source)]
        with torch.no_grad():
            recon = tensor_to_bgr(shipped_model.decode(shipped_model.encode(bgr_to_tensor(src))))
            styled = reference(shipped_model, src, STYLE_A)
        err_recon = np.abs(o.astype(int) - recon).mean()
        assert err_recon < 6, err_recon  # H.264 at crf 18 and capture/decoder differences only
        assert err_recon < np.abs(o.astype(int) - styled).mean() / 3  # and it is not the stylized frame


@pytest.mark.parametrize("case,args,msg", [
    ("camera", ["--source", "7"], "cannot open camera 7"),
    ("stream", ["--source", "rtsp://127.0.0.1:9/none"], "cannot open video source"),  # FFmpeg's own line hushed
    ("style", ["--style", "/nope/starry.jpg"], "image not found"),
    ("notimage", ["--style", str(ROOT / "requirements.txt")], "not a readable image"),
    ("emptydir", ["--style-dir", "EMPTY"], "no images"),
    ("record", ["--record", "/nonexistent/dir/out.mp4"], "cannot write"),
    ("record_format", ["--record", "TMP/out.xyz"], "no video container"),
    ("record_audio", ["--record", "TMP/out.wav"], "holds none of h264, vp8, mpeg4, gif"),  # a container, no codec of ours
    ("stats", ["--stats", "/nonexistent/dir/s.jsonl"], "stats file"),
    ("log", ["--log-file", "/nonexistent/dir/k.log"], "log file"),
    ("snapshots", ["--snapshot-dir", "/nonexistent/dir"], "snapshot folder not found"),
    ("nodisplay", [], "no display"),
])
def test_bad_input_one_line_exit_2(clip, tmp_path, case, args, msg):
    args = [str(tmp_path) if a == "EMPTY" else a.replace("TMP", str(tmp_path)) for a in args]
    base = ["--source", str(clip)] if "--source" not in args else []
    style = ["--style", STYLE_A] if "--style" not in args and "--style-dir" not in args else []
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = webcam(*style, *base, *args, "--size", "48", "--max-frames", "2", env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], r.stderr
    assert not list(tmp_path.glob("out.*")), "a failed start leaves no empty file behind"


def test_key_parsing():
    assert action_for(ord("3")) == ("select", 2)
    assert action_for(27) == ("quit", 0)
    assert action_for(-1) is None and action_for(ord("z")) is None
    from realtime.live.controls import Controls
    from realtime.live.keys import BUTTONS, KEYS
    from realtime.live.outputs.web_page import page

    assert all(callable(getattr(Controls, k.action, None)) for k in KEYS)  # every key does something
    assert BUTTONS == {"prev": "p", "next": "n", "alpha_down": "-", "alpha_up": "+", "mask": "m"}  # what the page offers
    assert all(f'data-button="{action}"' in page() for action in BUTTONS)
    assert parse_script("3:n,3:+,9:space") == {3: ["n", "+"], 9: [" "]}
    assert parse_script("4:esc") == {4: ["\x1b"]}
    with pytest.raises(ValueError):
        parse_script("x:n")
    with pytest.raises(ValueError, match="no key 'zz'"):  # a typo must not be a silent no-op
        parse_script("3:zz")


def test_window_under_xvfb_shows_stylized_frames(clip, tmp_path, x_display):
    env = dict(os.environ, DISPLAY=x_display)
    r = webcam("--style", STYLE_A, "--source", str(clip), "--size", "64", "--max-frames", "10",
               "--keys", "3:h,5:s", "--snapshot-dir", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    shots = list(tmp_path.glob("snapshot-*.png"))
    assert len(shots) == 1


def test_stabilize_lowers_live_flicker_and_key_t_toggles_it(tmp_path):
    src = make_video(tmp_path / "pan.mp4", frames=40, width=192, height=144, noise=6)  # a grainy panning camera
    original = read_frames(src)
    errors = {}
    for name, extra in (("plain", []), ("steady", ["--stabilize"])):
        rec, stats = tmp_path / f"{name}.mp4", tmp_path / f"{name}.jsonl"
        r = webcam("--style", STYLE_A, "--source", str(src), "--no-display", "--backend", "onnx",
                   "--record", str(rec), "--stats", str(stats), *extra)
        assert r.returncode == 0, r.stderr
        used = read_stats(stats)
        assert all(x["steady"] == (name == "steady") for x in used)
        # each recorded frame against the source frame it was made from (a frame dropped under load is skipped)
        errors[name] = warping_error([original[x["seq"] - 1] for x in used], decode_frames(rec))
    assert errors["steady"] < 0.7 * errors["plain"], errors  # measured here: 10.7 -> 5.0 grey levels
    stats = tmp_path / "keys.jsonl"
    r = webcam("--style", STYLE_A, "--source", str(src), "--no-display", "--backend", "onnx", "--size", "48",
               "--max-frames", "6", "--keys", "3:t", "--stats", str(stats))
    assert r.returncode == 0, r.stderr
    assert [x["steady"] for x in read_stats(stats)] == [False] * 3 + [True] * 3


def test_runs_as_a_script_from_any_folder(clip, tmp_path):
    """`python path/to/realtime/webcam.py` from elsewhere used to stop at `import engines` with a traceback."""
    r = subprocess.run([sys.executable, str(ROOT / "realtime" / "webcam.py"), "--style", STYLE_A, "--source", str(clip),
                        "--size", "48", "--no-display", "--max-frames", "3", "--backend", "onnx"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "done: 3 frames" in r.stderr


def test_a_window_opens_at_the_size_asked_and_scales_smaller_frames_to_it(x_display):
    """--fps shrinks the frames, not the window (checked in a child process: Qt outlives its X server badly)."""
    code = ("import cv2, numpy as np\n"
            "from realtime.live.display import Display, WINDOW\n"
            "d = Display(True, False, (800, 600))\n"
            "for _ in range(3):\n"
            "    d.show(np.zeros((128, 168, 3), np.uint8)); d.poll_key()\n"
            "print(*cv2.getWindowImageRect(WINDOW)[2:])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, DISPLAY=x_display))
    assert r.returncode == 0, r.stderr
    w, h = map(int, r.stdout.split()[-2:])
    assert w >= 500 and h >= 380, (w, h)  # the window's size, not the frame's (Qt's smallest is 315x240)


def test_moving_frame_is_deterministic():
    assert np.array_equal(moving_frame(3, 20, 30), moving_frame(3, 20, 30))


def test_blend_and_colour_keys_change_the_output(clip, tmp_path):
    rec, stats = tmp_path / "rec.mp4", tmp_path / "stats.jsonl"
    r = webcam("--style", STYLE_A, "--style", STYLE_B, "--source", str(clip), "--size", "64", "--no-display",
               "--max-frames", "12", "--loop", "--keys", "4:b,6:b,8:c", "--record", str(rec), "--stats", str(stats),
               "--precision", "fp32", "--model", "lite")
    assert r.returncode == 0, r.stderr
    s = read_stats(stats)
    assert [x["blend"] for x in s] == [None] * 4 + [0.5] * 2 + [0.75] * 6
    assert [x["color"] for x in s] == [False] * 8 + [True] * 4
    frames, source = decode_frames(rec), decode_frames(clip)
    import torch

    from engines.model.network import StyleStats
    from engines.zoo.registry import resolve

    # frame 5: the 50/50 blend of the two styles' statistics, rendered offline with the shipped lite weights
    model = resolve("lite").eval()
    a, b = (model.encode_style(bgr_to_tensor(resize_short(read_bgr(p), 512))) for p in (STYLE_A, STYLE_B))
    mix = StyleStats(0.5 * a.mean + 0.5 * b.mean, 0.5 * a.std + 0.5 * b.std)
    src = cv2.resize(source[(s[5]["seq"] - 1) % len(source)], (88, 64), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        expect = tensor_to_bgr(model.stylize(bgr_to_tensor(src), [mix]))
        only_a = tensor_to_bgr(model.stylize(bgr_to_tensor(src), [a]))
    assert np.abs(frames[5].astype(int) - expect).mean() < np.abs(frames[5].astype(int) - only_a).mean()
    # colour preservation on: the output's chroma moves to the source frame's (the luminance stays the painting's,
    # so the chroma channels are compared: a darker output than the photo is no failure of this feature)
    k = 10
    src_k = cv2.resize(source[(s[k]["seq"] - 1) % len(source)], (88, 64), interpolation=cv2.INTER_AREA)
    before = cv2.resize(source[(s[7]["seq"] - 1) % len(source)], (88, 64), interpolation=cv2.INTER_AREA)
    chroma = lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb)[:, :, 1:].reshape(-1, 2).astype(float)  # noqa: E731
    d_on = np.abs(chroma(frames[k]) - chroma(src_k)).mean()
    d_off = np.abs(chroma(frames[7]) - chroma(before)).mean()
    assert d_on < 0.5 * d_off, (d_on, d_off)
