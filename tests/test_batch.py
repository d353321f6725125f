"""tools/batch.py: many files on a local Ray instance, a long one in parts, retries, resuming, bad input."""
import argparse
import json
import os
import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from realtime.video.batch_plan import BatchError, collect_inputs, plan
from realtime.video.manifest import options_key
from realtime.video.segments import keyframe_times, plan_segments

from conftest import ROOT
from media import decode_frames, make_video, stream_info

STYLE = str(ROOT / "tests" / "data" / "painting.jpg")


def batch(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "batch.py"), *args, "--model", "lite", "--quiet"],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    make_video(d / "short.mp4", frames=20, width=96, height=64)
    make_video(d / "talk.mp4", frames=30, width=96, height=64, audio=True, rotate=90)
    make_video(d / "long.mp4", frames=120, width=96, height=64, audio=True, gop=30, rate=Fraction(30000, 1001))
    return d


def test_a_batch_on_local_ray_keeps_what_video_py_keeps_retries_and_resumes(clips, tmp_path):
    pytest.importorskip("ray", reason="tools/batch.py needs Ray: pip install -r requirements-extra.txt")
    out = tmp_path / "out"
    args = [str(clips), "-o", str(out), "--style", STYLE, "--cpus", "2", "--workers", "2", "--segment-seconds", "1.5",
            "--stabilize"]
    r = batch(*args, env={"REALTIME_BATCH_FAIL_ONCE": "talk.mp4"})  # a worker fails once on this file
    assert r.returncode == 0, r.stderr
    assert "retrying talk.mp4" in r.stderr
    assert "encoded again by a worker: 0" in r.stderr  # the style statistics computed once, shared
    assert re.search(r"talk\.mp4 +30 .*done \(after 2 attempts\)", r.stdout)
    assert re.search(r"long\.mp4 +120 .*done \(\d parts joined\)", r.stdout)
    for name in ("short.mp4", "talk.mp4", "long.mp4"):
        src, res = stream_info(clips / name), stream_info(out / name)
        assert len(res.pts) == len(src.pts), name
        np.testing.assert_allclose(res.pts, src.pts, atol=1e-4)  # every frame at its time
        assert res.audio == src.audio, name  # byte for byte
        assert (res.rotation, res.size) == (src.rotation, src.size), name
    assert not list((out / ".parts").glob("*"))  # the parts are gone once joined
    # the seams: the long file in parts against tools/video.py in one go, both steadied
    whole = tmp_path / "whole.mp4"
    v = subprocess.run([sys.executable, str(ROOT / "tools" / "video.py"), str(clips / "long.mp4"), "-o", str(whole),
                        "--style", STYLE, "--model", "lite", "--stabilize", "--quiet"], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert v.returncode == 0, v.stderr
    cuts = [round(float(t) * 30000 / 1001) for t in keyframe_times(clips / "long.mp4")[1:]]
    a, b = decode_frames(whole), decode_frames(out / "long.mp4")
    seam = [k for c in cuts for k in (c - 1, c, c + 1) if k < len(a)]
    assert max(np.abs(a[k].astype(int) - b[k]).mean() for k in seam) < 4  # encoder noise, no jump at a seam
    # a second run does nothing, and says so
    again = batch(*args)
    assert again.returncode == 0, again.stderr
    assert "nothing to do: all 3 output(s)" in again.stdout


def test_finished_parts_are_not_made_again(clips, tmp_path):
    """An interrupted batch: the manifest lists part 1 of the long file as done and its file is there; the
    plan of the re-run leaves it out and makes the others."""
    out = tmp_path / "out"
    a = argparse.Namespace(inputs=[clips / "long.mp4"], out_dir=out, suffix=None, overwrite=False,
                           segment_seconds=1.5, stabilize=False, style=[STYLE], **{k: None for k in (
                               "weights", "alpha", "preserve_color", "mask_video", "mask_mode", "size", "scale",
                               "backend", "precision", "device", "model", "model_weights", "vgg", "decoder", "crf",
                               "codec", "batch", "style_size", "fp16")})
    tasks, split, done, manifest, key = plan(a)
    assert len(tasks) >= 2 and not done and len(split) == 1
    first = tasks[1]
    (out / ".parts" / os.path.basename(first.output)).write_bytes(b"made")
    manifest.mark_part(first.part_key, {"output": first.output, "frames": 30, "options": key})
    again, split, _, _, _ = plan(a)
    assert [t.part for t in again] == [t.part for t in tasks if t.part != first.part]
    assert next(iter(split.values())).frames == {first.part: 30}
    assert json.loads((out / ".batch-manifest.json").read_text())["parts"][first.part_key]["frames"] == 30
    a.alpha = 0.5  # other options: nothing done counts
    assert len(plan(a)[0]) == len(tasks)
    assert options_key(a) != key


def test_long_files_are_cut_at_keyframes_and_short_ones_not(clips):
    keys = keyframe_times(clips / "long.mp4")
    parts = plan_segments(clips / "long.mp4", 1.5, stabilize=True)
    assert len(parts) >= 2 and parts[0].start is None and parts[-1].end is None
    for before, after in zip(parts, parts[1:]):
        assert before.end == after.start and Fraction(after.start).limit_denominator(100000) in keys
        assert after.decode_from < after.start  # steadying starts a few frames early
    assert len(plan_segments(clips / "short.mp4", 1.5, stabilize=False)) == 1


def test_inputs_from_folders_and_lists_and_bad_ones(clips, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# clips\n{clips / 'short.mp4'}\n\n{clips / 'talk.mp4'}\n")
    assert [p.name for p in collect_inputs([listing])] == ["short.mp4", "talk.mp4"]
    assert [p.name for p in collect_inputs([clips])] == ["long.mp4", "short.mp4", "talk.mp4"]
    assert len(collect_inputs([clips, clips / "short.mp4"])) == 3  # once each
    with pytest.raises(BatchError, match="not found"):
        collect_inputs([tmp_path / "nothing.mp4"])
    (tmp_path / "other").mkdir()
    make_video(tmp_path / "other" / "short.mp4", frames=2)
    with pytest.raises(BatchError, match="share a name"):
        collect_inputs([clips / "short.mp4", tmp_path / "other" / "short.mp4"])
    r = batch(str(tmp_path / "nothing.mp4"), "-o", str(tmp_path / "o"), "--style", STYLE)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"error: input not found: {tmp_path / 'nothing.mp4'}"]


def test_without_ray_one_line_says_how_to_install_it(clips, tmp_path):
    fake = tmp_path / "no_ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    r = batch(str(clips / "short.mp4"), "-o", str(tmp_path / "o"), "--style", STYLE,
              env={"PYTHONPATH": str(tmp_path / "no_ray")})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == ("error: tools/batch.py needs Ray: pip install -r "
                                                 "requirements-extra.txt")


def test_ctrl_c_leaves_a_manifest_the_next_run_resumes_from(tmp_path):
    """Stopped once the first part is recorded: exit 130, the manifest whole, and the same command then makes
    only what is left."""
    pytest.importorskip("ray", reason="tools/batch.py needs Ray: pip install -r requirements-extra.txt")
    import signal
    import time

    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        make_video(src / f"c{i}.mp4", frames=180, width=320, height=240, gop=30)
    out = tmp_path / "out"
    args = [str(ROOT / "tools" / "batch.py"), str(src), "-o", str(out), "--style", STYLE, "--cpus", "2", "--workers",
            "2", "--segment-seconds", "1", "--model", "lite", "--quiet", "--backend", "eager"]
    p = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    manifest = out / ".batch-manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        if manifest.is_file() and json.loads(manifest.read_text())["parts"]:
            break
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert "interrupted (SIGINT)" in stderr and "Traceback" not in stderr
    recorded = json.loads(manifest.read_text())
    done_parts = len(recorded["parts"]) + 6 * len(recorded["done"])
    assert done_parts >= 1
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    todo = int(re.search(r"\((\d+) task\(s\)", r.stderr).group(1))
    assert todo == 12 - done_parts  # 2 files of 6 parts each, less what was recorded
    for i in range(2):
        assert len(decode_frames(out / f"c{i}.mp4")) == 180


def test_an_unreadable_file_is_reported_and_the_rest_is_made(tmp_path):
    pytest.importorskip("ray", reason="tools/batch.py needs Ray: pip install -r requirements-extra.txt")
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "good.mp4", frames=10, width=64, height=48)
    (src / "broken.mp4").write_bytes(os.urandom(5000))
    r = batch(str(src), "-o", str(tmp_path / "out"), "--style", STYLE, "--cpus", "2", "--backend", "eager")
    assert r.returncode == 1, r.stderr
    assert re.search(r"broken\.mp4 +0 .*FAILED: ", r.stdout) and re.search(r"good\.mp4 +10 .*done", r.stdout)
    assert len(decode_frames(tmp_path / "out" / "good.mp4")) == 10
    assert not (tmp_path / "out" / "broken.mp4").exists()
