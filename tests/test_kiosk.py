"""Unattended kiosks: looping sources, style cycles with cross-fades, new style files picked up."""
import shutil
import subprocess
import sys
import time

import numpy as np

from conftest import ROOT, webcam
from live import STYLE_A, STYLE_B, read_stats
from media import decode_frames, make_video


def test_a_kiosk_loops_a_video_file_without_being_asked(tmp_path):
    """An unattended kiosk fed a file used to stop at its end (only --loop restarted it)."""
    short = make_video(tmp_path / "short.mp4", frames=8)
    r = webcam("--style", STYLE_A, "--source", str(short), "--kiosk", "--no-display", "--size", "48",
               "--backend", "onnx", "--max-frames", "20", "--log-file", str(tmp_path / "k.log"))
    assert r.returncode == 0, r.stderr
    assert "done: 20 frames" in r.stderr


def test_kiosk_cycles_styles_logs_and_picks_up_new_style_files(clip, tmp_path):
    styles = tmp_path / "styles"
    styles.mkdir()
    shutil.copy(STYLE_A, styles / "a.jpg")
    shutil.copy(STYLE_B, styles / "b.jpg")
    (styles / "broken.jpg").write_text("not an image")  # skipped, not fatal
    stats, log = tmp_path / "s.jsonl", tmp_path / "kiosk.log"
    proc = subprocess.Popen([sys.executable, "-m", "realtime.webcam", "--style-dir", str(styles), "--source", str(clip),
                             "--kiosk", "--no-display", "--cycle", "0.3", "--size", "48", "--max-frames", "80",
                             "--keys", "60:d,61:3", "--log-file", str(log), "--stats", str(stats)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (not stats.exists() or sum(1 for _ in open(stats)) < 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.copy(STYLE_A, styles / "c.png")  # dropped in while running
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    s = read_stats(stats)
    assert len(s) == 80
    assert {x["style"] for x in s[:60]} >= {0, 1}  # cycled on its own
    assert s[61]["style"] == 2  # the new file became style 3 after the rescan key
    text = log.read_text()
    assert "rescan: 1 new style(s)" in text and "done: 80 frames" in text


def test_the_style_cycle_cross_fades_and_keys_switch_at_once(tmp_path):
    """A kiosk's style changes used to cut from one painting to the next within a frame."""
    def run(fade, *extra):  # a photo as the source: every change between frames is the style's
        stats, rec = tmp_path / f"s{fade}.jsonl", tmp_path / f"r{fade}.mp4"
        r = webcam("--style", STYLE_A, "--style", STYLE_B, "--source", STYLE_B, "--no-display", "--size", "48",
                   "--backend", "onnx", "--cycle", "1", "--fade", fade, "--max-frames", "85", "--stats", str(stats),
                   "--record", str(rec), *extra)
        assert r.returncode == 0, r.stderr
        frames = decode_frames(rec)
        return read_stats(stats), max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, frames[1:]))

    cut_stats, cut = run("0")
    fade_stats, faded = run("2")
    assert len({x["style"] for x in cut_stats}) == 2 and all(x["fade"] is None for x in cut_stats)
    steps = [x["fade"] for x in fade_stats if x["fade"] is not None]
    assert len(steps) >= 10 and all(0 < t < 1 for t in steps)
    assert faded < 0.4 * cut, (faded, cut)  # measured here: the largest change between frames 55 -> 4 grey levels
    keyed, _ = run("5", "--keys", "50:n")  # a 5 s fade from about frame 30, interrupted by a key at frame 50
    assert keyed[49]["fade"] is not None and keyed[50]["fade"] is None
