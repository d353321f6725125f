"""tools/bench.py's own measurements."""
import sys

import numpy as np
import pytest

from engines.benchmark import peak_rss_mb, reset_peak_rss


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM reset is Linux's")
def test_each_row_reports_its_own_peak_memory_not_the_sweeps():
    big = np.ones(400 * 2**20, np.uint8)  # 400 MB resident
    high = peak_rss_mb()
    del big
    reset_peak_rss()
    assert peak_rss_mb() < high - 300


def test_writer_benchmark_times_each_codec_and_records_the_command(tmp_path):
    from tools.bench import main

    out = tmp_path / "BENCH.md"
    assert main(["--writers", "gif,h264", "--sizes", "48", "--e2e-frames", "4", "--append", str(out)]) == 0
    text = out.read_text()
    assert "- command: `python tools/bench.py --writers gif,h264 --sizes 48" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| gif") or line.startswith("| h264")]
    assert [r[0].strip() for r in rows] == ["gif", "h264"]
    assert all(float(r[2]) > 0 and float(r[4]) > 0 for r in rows)  # ms per frame, KiB per frame
