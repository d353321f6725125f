"""tools/bench.py's own measurements."""
import sys

import numpy as np
import pytest

from tools.bench import peak_rss_mb, reset_peak_rss


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM reset is Linux's")
def test_each_row_reports_its_own_peak_memory_not_the_sweeps():
    big = np.ones(400 * 2**20, np.uint8)  # 400 MB resident
    high = peak_rss_mb()
    del big
    reset_peak_rss()
    assert peak_rss_mb() < high - 300
