"""--pipe: the stylized frames as raw bgr24 video on standard output, as ffplay or ffmpeg read it."""
import re
import subprocess
import sys

import numpy as np

from conftest import ROOT
from live import STYLE_A, STYLE_B


def app(clip, *extra):
    return [sys.executable, "-m", "realtime.webcam", "--style", STYLE_A, "--style", STYLE_B, "--source", str(clip),
            "--loop", "--no-display", "--size", "48", "--model", "lite", "--backend", "onnx", "--pipe", *extra]


def test_every_frame_goes_out_whole_and_a_key_shows_in_the_stream(clip):
    r = subprocess.run(app(clip, "--max-frames", "6", "--keys", "3:n"), capture_output=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()
    size = re.search(rb"-video_size (\d+)x(\d+) -", r.stderr)
    assert size, r.stderr.decode()
    w, h = int(size.group(1)), int(size.group(2))
    assert len(r.stdout) == 6 * w * h * 3  # nothing else on standard output, no frame cut short
    frames = np.frombuffer(r.stdout, np.uint8).reshape(6, h, w, 3).astype(int)
    assert frames.std() > 5  # pictures, not blank buffers
    same_style = np.abs(frames[1] - frames[2]).mean()
    assert np.abs(frames[2] - frames[3]).mean() > 2 * same_style  # key n at frame 3: the other style from there


def test_a_reader_that_goes_away_ends_the_pipe_not_the_app(clip):
    p = subprocess.Popen(app(clip, "--max-frames", "40"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.read(100)  # a part of the first frame, then the reader leaves (a closed ffplay window)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0, err
    assert "the program reading standard output went away" in err and "done: 40 frames" in err
    assert "Traceback" not in err
