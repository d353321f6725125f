import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT
from media import decode_frames, make_video, moving_frame
from engines.images import bgr_to_tensor, read_bgr, resize_short, tensor_to_bgr
from realtime.keys import action_for, parse_script

STYLE_A, STYLE_B = str(ROOT / "tests/data/painting.jpg"), str(ROOT / "tests/data/windmill.jpg")


def webcam(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "realtime.webcam", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=90)


def read_stats(path):
    return [json.loads(line) for line in open(path)]


def reference(model, frame_bgr, style_path):
    """The frame stylized offline by the eager model (style encoded as the style bank does)."""
    stats = model.encode_style(bgr_to_tensor(resize_short(read_bgr(style_path), 512)))
    return tensor_to_bgr(model.stylize(bgr_to_tensor(frame_bgr), [stats]))


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


def test_alpha_zero_returns_the_content_picture(clip, tmp_path, shipped_model):
    """At alpha 0 the app shows the decoder's reconstruction of the captured frame itself, no style.

    How close that is to the photo is the decoder's quality (README, model card), not the app's.
    The full model is asked for by name here (the CPU default is the lite model).
    """
    stats, rec = tmp_path / "s.jsonl", tmp_path / "r.mp4"
    r = webcam("--style", STYLE_A, "--source", str(clip), "--size", "120", "--no-display", "--max-frames", "4", "--loop",
               "--alpha", "0", "--record", str(rec), "--stats", str(stats), "--precision", "fp32", "--model", "full")
    assert r.returncode == 0, r.stderr
    out, seqs = decode_frames(rec), [x["seq"] for x in read_stats(stats)]
    source = decode_frames(clip)
    for o, q in zip(out, seqs):
        src = source[(q - 1) % len(source)]
        with torch.no_grad():
            recon = tensor_to_bgr(shipped_model.decoder(shipped_model.encoder(bgr_to_tensor(src))))
            styled = reference(shipped_model, src, STYLE_A)
        err_recon = np.abs(o.astype(int) - recon).mean()
        assert err_recon < 6, err_recon  # H.264 at crf 18 and capture/decoder differences only
        assert err_recon < np.abs(o.astype(int) - styled).mean() / 3  # and it is not the stylized frame


def test_source_failing_mid_stream_recovers(tmp_path):
    src = make_video(tmp_path / "live.mp4", frames=150, width=320, height=240, noise=40)  # too big to buffer
    good = src.read_bytes()
    stats = tmp_path / "s.jsonl"

    def lines():
        return sum(1 for _ in open(stats)) if stats.exists() else 0

    def sabotage():
        deadline = time.monotonic() + 120
        while lines() < 30 and time.monotonic() < deadline:  # streaming for real first
            time.sleep(0.05)
        with open(src, "r+b") as f:  # the stream dies mid-way ...
            f.truncate(2000)
        time.sleep(1.5)
        tmp = tmp_path / "restore.mp4"  # ... and comes back
        tmp.write_bytes(good)
        os.replace(tmp, src)

    t = threading.Thread(target=sabotage)
    t.start()
    r = webcam("--style", STYLE_A, "--source", str(src), "--size", "48", "--no-display", "--max-frames", "300",
               "--loop", "--stats", str(stats), "--backend", "onnx")
    t.join()
    assert r.returncode == 0, r.stderr
    s = read_stats(stats)
    flags = [x["reconnecting"] for x in s]
    assert any(flags), "the failure was never noticed"
    first_bad = flags.index(True)
    assert not all(flags[first_bad:]), "never recovered"
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("case,args,msg", [
    ("camera", ["--source", "7"], "cannot open camera 7"),
    ("stream", ["--source", "rtsp://127.0.0.1:9/none"], "cannot open video source"),  # FFmpeg's own line hushed
    ("style", ["--style", "/nope/starry.jpg"], "image not found"),
    ("notimage", ["--style", str(ROOT / "requirements.txt")], "not a readable image"),
    ("emptydir", ["--style-dir", "EMPTY"], "no images"),
    ("record", ["--record", "/nonexistent/dir/out.mp4"], "cannot write"),
    ("record_format", ["--record", "TMP/out.xyz"], "no video container"),
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


def test_a_second_recording_never_overwrites_the_first(clip, tmp_path):
    rec = tmp_path / "rec.mp4"
    r = webcam("--style", STYLE_A, "--source", str(clip), "--size", "48", "--no-display", "--max-frames", "10",
               "--backend", "onnx", "--record", str(rec), "--keys", "3:r,5:r,6:s", "--snapshot-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert len(decode_frames(rec)) == 3  # frames 0-2, then r stopped it
    assert len(decode_frames(tmp_path / "rec-2.mp4")) == 5  # frames 5-9: its own file
    assert len(list(tmp_path.glob("snapshot-*.png"))) == 1


def test_recording_failures_keep_the_live_loop_running(clip, tmp_path, caplog, monkeypatch):
    from engines.backends import make_stylizer
    from engines.model import AdaINModel
    from engines.vgg import LITE, Decoder, Encoder
    from realtime.app import AppConfig, LiveApp
    from realtime.capture import CaptureThread
    from realtime.display import Display
    from realtime.style_bank import StyleBank

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = AdaINModel(Encoder(LITE), Decoder(LITE)).eval()
    bank = StyleBank(model, [Path(STYLE_A)], style_size=64)

    def app(record):
        cfg = AppConfig(record=record, display=False, max_frames=4)
        return LiveApp(cfg, CaptureThread(str(clip)), make_stylizer(model, "eager", 48, 64), bank,
                       Display(enabled=False))

    with torch.no_grad():
        # a container FFmpeg does not know (the command line refuses it up front; the app may still be given one)
        bad = app(tmp_path / "rec.xyz")
        bad.toggle_recording()
        assert bad.recorder is None and "not recording" in caplog.text
        bad.close()
        # the folder disappears after recording started (an unplugged drive, say)
        gone = tmp_path / "gone"
        gone.mkdir()
        live = app(gone / "rec.mp4")
        live.toggle_recording()
        gone.rmdir()
        assert live.run() == 4 and live.recorder is None  # every frame still came out
        assert "gone/rec.mp4" in caplog.text and "failed" in caplog.text  # and the user was told
