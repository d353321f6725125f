import time

import pytest

from realtime.stage_times import STAGES, StageTimes, ThreadCost


def test_stages_add_up_to_the_frame_and_average_over_frames():
    t = StageTimes()
    for _ in range(2):
        with t.stage("model"):
            time.sleep(0.02)
        with t.stage("resize"):
            time.sleep(0.005)
        time.sleep(0.01)  # outside every stage: "other"
        frame = t.end_frame()
        assert frame["model"] >= 20 and frame["resize"] >= 5 and frame["other"] >= 10
        assert set(frame) == {*STAGES, "other", "total"}
        assert abs(sum(v for k, v in frame.items() if k != "total") - frame["total"]) < 0.1
    mean = t.mean_ms()
    assert mean["model"] >= 20 and mean["total"] >= 35
    assert t.end_frame()["model"] == 0  # a frame starts with nothing carried over


def test_a_stage_entered_twice_in_one_frame_counts_both_times():
    t = StageTimes()
    for _ in range(2):  # the loop waits for a new camera frame in several short steps
        with t.stage("wait"):
            time.sleep(0.01)
    assert t.end_frame()["wait"] >= 20


def test_thread_cost_reports_the_mean_since_it_was_last_read():
    c = ThreadCost()
    assert c.since_last() is None and c.mean_ms() is None
    c.add(0.010)
    c.add(0.030)
    assert c.since_last() == pytest.approx(20.0)
    assert c.since_last() is None  # nothing new
    c.add(0.040)
    assert c.since_last() == pytest.approx(40.0) and c.mean_ms() == pytest.approx(80 / 3)
