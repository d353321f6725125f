"""Long files in parts: cut at keyframes, each part stylized on its own (tools/batch.py), joined without
re-encoding.

A part starts at a keyframe of the source, so a worker seeks straight to it. The parts keep the source's
timestamps (realtime/video_job.Segment), so the join only copies their packets one after the other, with the
source's audio and subtitle packets interleaved as they are: what tools/video.py would have written, but made
by several workers at once.
"""
from __future__ import annotations

import heapq
from fractions import Fraction
from pathlib import Path

import av

from realtime.video.job import Segment
from realtime.video.reader import VideoError, probe
from realtime.video.writer import copyable

STEADY_OVERLAP = 8  # frames decoded before a part with --stabilize: the steadied texture carries over the seam


def keyframe_times(path: Path) -> list[Fraction]:
    """The video keyframes' times (seconds, exact), read from the packets without decoding a frame."""
    times = []
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        for packet in c.demux(v):
            if packet.is_keyframe and packet.pts is not None:
                times.append(packet.pts * v.time_base)
    return sorted(times)


def plan_segments(path: Path, seconds: float, stabilize: bool) -> list[Segment]:
    """Parts of at least `seconds` each, cut at keyframes; one part (the whole file) when it is shorter or has
    no keyframe to cut at."""
    info = probe(path)
    keys = keyframe_times(path)
    if len(keys) < 2:
        return [Segment(None, None, None)]
    cuts, last = [], keys[0]
    for k in keys[1:]:
        if k - last >= Fraction(seconds).limit_denominator(1000):
            cuts.append(k)
            last = k
    if cuts and float(info.frames / info.rate) - float(cuts[-1]) < seconds / 2:
        cuts.pop()  # no short last part: it joins the one before
    bounds = [None, *cuts, None]
    frame = 1 / Fraction(info.rate)
    parts = []
    for start, end in zip(bounds, bounds[1:]):
        s = float(start) if start is not None else None
        lead = start - STEADY_OVERLAP * frame if (stabilize and start is not None) else start
        parts.append(Segment(float(max(lead, Fraction(0))) if lead is not None else None, s,
                             float(end) if end is not None else None))
    return parts


def join(source: Path, parts: list[Path], output: Path) -> int:
    """The parts' video packets in order, with the source's audio and subtitles, into `output`; its frame count."""
    info = probe(source)
    frames = 0
    with av.open(str(source)) as src, av.open(str(parts[0])) as first:
        copies, _ = copyable(output, [s for s in src.streams if s.index in info.copy_indexes])
        try:
            out = av.open(str(output), "w")
        except (av.FFmpegError, ValueError) as e:
            raise VideoError(f"cannot write {output}: {e}") from None
        try:
            vt = first.streams.video[0]
            vs = out.add_stream_from_template(vt)
            if info.rotation:
                vs.set_display_rotation(info.rotation)
            targets = {s.index: out.add_stream_from_template(s) for s in copies}
            video = _video_packets(parts, vt.codec_context.extradata)
            others = (p for p in src.demux(copies) if p.dts is not None) if copies else iter(())
            for packet in heapq.merge(video, others, key=lambda p: float(p.dts * p.time_base)):
                if packet.stream.type == "video":
                    packet.stream = vs
                    frames += 1
                else:
                    packet.stream = targets[packet.stream.index]
                out.mux(packet)
        finally:
            out.close()
    return frames


def _video_packets(parts: list[Path], extradata: bytes | None):
    for part in parts:
        with av.open(str(part)) as c:
            v = c.streams.video[0]
            if v.codec_context.extradata != extradata:  # another encoder setup: its packets would not decode
                raise VideoError(f"{part} was encoded with other codec parameters than the first part")
            for packet in c.demux(v):
                if packet.dts is not None:
                    yield packet
