"""tools/bench.py's own measurements."""
import sys

import numpy as np
import pytest

from engines.evaluation.benchmark import peak_rss_mb, reset_peak_rss


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


def table_rows(text, first_cell):
    """The rows (lists of cells) of the Markdown tables in `text` whose first cell is `first_cell`."""
    return [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines()
            if line.startswith(f"| {first_cell} |")]


def test_model_sweep_times_the_live_loop_both_ways_and_says_where_the_time_went(tmp_path):
    """A row: the engine alone, the live loop as a camera is used and while recording, and the stage table of
    both loops (a quarter of each frame went outside the model, and nothing said where)."""
    from tools.bench import main

    out = tmp_path / "BENCH.md"
    assert main(["--model", "lite", "--sizes", "64", "--backends", "eager", "--precisions", "fp32", "--seconds",
                 "0.2", "--min-runs", "3", "--e2e-frames", "6", "--append", str(out)]) == 0
    text = out.read_text()
    main_head, stage_head = table_rows(text, "model")
    rows = table_rows(text, "lite")
    cells = next(dict(zip(main_head, r)) for r in rows if len(r) == len(main_head))
    assert float(cells["model fps"]) > 0 and float(cells["end-to-end fps"]) > 0 and float(cells["recording fps"]) > 0
    loops = {r[3]: dict(zip(stage_head, r)) for r in rows if len(r) == len(stage_head)}
    assert set(loops) == {"camera-like", "recording"}
    for loop in loops.values():
        assert 0 < float(loop["model ms"]) <= float(loop["total ms"]) and float(loop["decode ms"]) > 0
    assert loops["camera-like"]["encode ms"] == "-" and float(loops["recording"]["encode ms"]) > 0
