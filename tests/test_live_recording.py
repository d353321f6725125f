"""Recording the live stream: stop signals, names never reused, failures that keep the loop."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT, webcam
from live import STYLE_A
from media import decode_frames


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stop_signal_closes_the_recording_playable(clip, tmp_path, sig):
    """systemd stopping a kiosk, `kill`, a closed terminal: Python's default for SIGTERM and SIGHUP was to die
    on the spot, leaving an MP4 with no index (unplayable after ten minutes of recording)."""
    import signal

    rec = tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "realtime.webcam", "--style", STYLE_A, "--source", str(clip),
                             "--loop", "--size", "48", "--no-display", "--backend", "onnx", "--record", str(rec)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not rec.exists() and time.monotonic() < deadline:  # opened once the engine is built
        time.sleep(0.1)
    time.sleep(2.0)  # frames go to the muxer's buffer, not yet to the file: only a proper close writes them
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"{sig}: stopping" in err and "Traceback" not in err
    saved = int(re.search(r"recording saved: (\d+) frames", err).group(1))
    assert saved > 10 and len(decode_frames(rec)) == saved


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
    from engines.model.network import AdaINModel
    from engines.model.vgg import LITE, Decoder, Encoder
    from realtime.live.app import AppConfig, LiveApp
    from realtime.live.capture import CaptureThread
    from realtime.live.display import Display
    from realtime.live.style_bank import StyleBank

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = AdaINModel(Encoder(LITE), Decoder(LITE)).eval()
    bank = StyleBank(model, [Path(STYLE_A)], style_size=64)

    def app(record):
        cfg = AppConfig(display=False, max_frames=4)
        return LiveApp(cfg, CaptureThread(str(clip)), make_stylizer(model, "eager", 48, 64), bank,
                       Display(enabled=False), record=record)

    with torch.no_grad():
        # a container FFmpeg does not know (the command line refuses it up front; the app may still be given one)
        bad = app(tmp_path / "rec.xyz")
        bad.toggle_recording()
        assert not bad.recording.active and "not recording" in caplog.text
        bad.close()
        # the folder disappears after recording started (an unplugged drive, say)
        gone = tmp_path / "gone"
        gone.mkdir()
        live = app(gone / "rec.mp4")
        live.toggle_recording()
        gone.rmdir()
        assert live.run() == 4 and not live.recording.active  # every frame still came out
        assert "gone/rec.mp4" in caplog.text and "failed" in caplog.text  # and the user was told
        # the stats file's disk fills up: a traceback ended the live view before
        stats = app(None)

        class FullDisk:
            def write(self, text):
                raise OSError(28, "No space left on device")

            def close(self):
                pass

        stats._stats = FullDisk()
        assert stats.run() == 4 and "stats file failed: No space left on device" in caplog.text
