"""Video files written on their own thread through PyAV.

The queue is bounded and blocks: a recording must never drop frames, and a
slow disk must not grow memory without limit. `close()` flushes the encoder
and the container, so whatever was written so far is a playable file.
"""
from __future__ import annotations

import io
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import OutputContainer

from realtime.stage_times import ThreadCost
from realtime.video.palette import PaletteFrames

_STOP = object()


class RecorderError(RuntimeError):
    """The file cannot be written; the message is one line for the user."""


# what users pick from -> FFmpeg's encoder; "auto" takes the first the container holds
CODECS = {"h264": "libx264", "vp8": "libvpx", "mpeg4": "mpeg4", "gif": "gif"}


def output_format(path: Path) -> str:
    """FFmpeg's container for `path`'s extension (nothing is created), refusing picture formats."""
    try:
        with av.open(str(path), mode="w") as c:
            name = c.format.name
    except (av.FFmpegError, ValueError):
        raise RecorderError(f"cannot write {path}: no video container for the extension "
                            f"{path.suffix or '(none)'!r}; use .mp4, .mkv or .webm") from None
    if name.startswith("image2"):
        raise RecorderError(f"cannot write {path}: {path.suffix} is a picture format; use .mp4, .mkv or .webm")
    return name


def _holds(container_format: str, add: Callable[[OutputContainer], object]) -> bool:
    """Whether the container takes a stream, as FFmpeg says when one is added to an empty file in memory:
    no, yes, or unknown (MPEG-TS keeps no table; taken as yes, as FFmpeg itself does)."""
    try:
        with av.open(io.BytesIO(), mode="w", format=container_format) as c:
            add(c)
        return True
    except ValueError:
        return False


def choose_codec(path: Path, codec: str = "auto") -> str:
    """'auto' takes the first of H.264, VP8, MPEG-4, GIF that the container holds (WebM takes only VP8, .gif
    only GIF); an explicit codec the container cannot hold is refused up front rather than after the model has
    loaded."""
    fmt = output_format(path)
    # GIF frames go to .gif files only: other muxers say yes to a GIF stream and mean something else by it
    # (MP3 takes it as cover art, QuickTime as a rarely played track)
    held = [name for name, encoder in CODECS.items()
            if (name == "gif") == (fmt == "gif") and _holds(fmt, lambda c: c.add_stream(encoder))]
    if codec == "auto":
        if held:
            return held[0]
        raise RecorderError(f"cannot write {path}: {path.suffix} holds none of {', '.join(CODECS)}; use .mp4 or .mkv")
    if codec not in CODECS:
        raise RecorderError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    if codec not in held:
        raise RecorderError(f"cannot write {path}: {path.suffix} cannot hold {codec}"
                            + (f"; use --codec {held[0]}" if held else "") + " or a .mkv file")
    return codec


def copyable(path: Path, streams: Iterable) -> tuple[list, list]:
    """(streams the container for `path` can hold as they are, the rest): WebM takes no AAC, MP4 no SRT."""
    fmt = output_format(path)
    kept = [s for s in streams if _holds(fmt, lambda c: c.add_stream_from_template(s))]
    return kept, [s for s in streams if s not in kept]


def encoder_options(codec: str, crf: int, width: int, height: int, rate: Fraction | int) -> tuple[dict, int | None]:
    """(encoder options, bit rate) for about the quality of H.264 at `crf` whatever the codec. FFmpeg's own
    defaults for VP8 and MPEG-4 are low fixed bit rates (PSNR 7-8 dB below H.264 crf 18 on stylized 640x480
    frames); at crf 18 these settings measured from 0.4 dB below to 0.7 dB above it."""
    if codec == "h264":
        return {"crf": str(crf), "preset": "veryfast"}, None
    if codec == "vp8":  # constrained quality: crf within a generous ceiling
        ceiling = max(1_000_000, int(0.5 * width * height * float(rate)))
        return {"crf": str(min(63, max(4, crf - 8))), "deadline": "good", "cpu-used": "4"}, ceiling
    if codec == "gif":  # lossless LZW of 256-colour frames: nothing to set (see PaletteFrames)
        return {}, None
    # MPEG-4 part 2: fixed quantiser (qscale 3 at crf 18), in FFmpeg's lambda units
    return {"flags": "qscale", "global_quality": str(min(31, max(1, round(crf / 6))) * 118)}, None


def check_writable(path: Path, codec: str = "auto") -> None:
    """Fail before any work if `path` cannot become a video: no folder, no permission, an extension FFmpeg
    knows no container for, or a codec the container cannot hold. Creates nothing (PyAV opens the file only
    when the header is written)."""
    parent = path.resolve().parent
    if not parent.is_dir():
        raise RecorderError(f"cannot write {path}: folder {parent} does not exist")
    if path.is_dir():
        raise RecorderError(f"cannot write {path}: it is a folder")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise RecorderError(f"cannot write {path}: permission denied")
    choose_codec(path, codec)


def playable(path: Path) -> bool:
    """Whether a player can open `path` and show a frame of it."""
    try:
        with av.open(str(path)) as c:
            return next(c.decode(video=0), None) is not None
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return False


# MP4/MOV written as a series of self-contained fragments of about a second: a file cut short (a full disk, the
# power gone) plays up to its last whole fragment; a plain MP4 keeps its index for the end and plays not at all
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000"}


class VideoWriter:
    """`write(frame, pts)` with pts in `time_base` units; codec as `choose_codec` picks it (H.264 where it fits).

    What it leaves is playable or absent: after a write error (a full disk) a file that cannot be played is
    removed (`kept` says which), never left behind looking like a video.
    """

    def __init__(self, path: Path, width: int, height: int, time_base: Fraction = Fraction(1, 1000),
                 rate: Fraction | int = 30, codec: str = "auto", crf: int = 18, queue_size: int = 8,
                 rotation: int = 0, copy_streams: tuple = (), fragmented: bool = False) -> None:
        """copy_streams: input streams (audio, subtitles) whose packets `write_packet` remuxes unchanged.
        fragmented: MP4/MOV as fragments (FRAGMENTED), for recordings that may be cut off at any moment."""
        self.path = Path(path)
        codec = choose_codec(self.path, codec)
        options = FRAGMENTED if fragmented and output_format(self.path) in ("mp4", "mov") else {}
        self.container = None
        try:
            self.container = av.open(str(self.path), mode="w", options=options)
            self.stream = self.container.add_stream(CODECS[codec], rate=rate)
            self.copies = {s.index: self.container.add_stream_from_template(s) for s in copy_streams}
        except (av.FFmpegError, ValueError) as e:
            if self.container is not None:
                self.container.close()
            raise RecorderError(f"cannot write {self.path}: {e}") from None
        # GIF has no display rotation to keep: its frames are turned instead, as a player would show them
        self.turns = (rotation // 90) % 4 if codec == "gif" else 0
        if rotation and not self.turns:
            self.stream.set_display_rotation(rotation)
        if self.turns % 2:
            width, height = height, width
        self.stream.width, self.stream.height = width, height
        # 4:2:0 needs even sides; odd sizes keep full chroma instead of being cropped or scaled
        even = width % 2 == 0 and height % 2 == 0
        self.stream.pix_fmt = ("pal8" if codec == "gif"  # 256 colours a frame, a palette each (PaletteFrames)
                               else "yuv420p" if even or codec != "h264" else "yuv444p")  # VP8, MPEG-4 take odd sides
        self.palette = PaletteFrames(width, height, time_base) if codec == "gif" else None
        self.stream.time_base = time_base
        # the encoder must count in the same units, or close timestamps collapse onto one tick of 1/rate
        self.stream.codec_context.time_base = time_base
        self.stream.options, bit_rate = encoder_options(codec, crf, width, height, rate)
        if bit_rate:
            self.stream.bit_rate = bit_rate
        self.time_base = time_base
        self.frames = 0
        self.error: Exception | None = None
        self.kept = True
        self.payload = 0  # bytes of packets handed to the muxer: the file can be no shorter
        self._last_pts: int | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.encode_cost = ThreadCost()  # time per frame converted, encoded and muxed, on the writer's thread
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()

    def write(self, frame: np.ndarray, pts: int) -> None:
        """Blocks while the queue is full. Non-increasing pts are nudged forward (encoders require order)."""
        if self.error is not None:
            raise RecorderError(f"writing {self.path} failed: {self.error}")
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        self._queue.put(("frame", frame, pts))

    def write_packet(self, packet: av.Packet, stream_index: int) -> None:
        """Remux a packet of input stream `stream_index` (one of `copy_streams`) as it is; same thread as frames.

        The index is taken when the packet is demuxed: the input container may be closed by now.
        """
        if self.error is not None:
            raise RecorderError(f"writing {self.path} failed: {self.error}")
        self._queue.put(("packet", packet, stream_index))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if self.error is not None:
                continue  # drain so producers never block forever
            kind, payload, arg = item
            if kind == "packet":  # remuxed as it is
                try:
                    payload.stream = self.copies[arg]
                    self._mux(payload)
                except Exception as e:
                    self.error = e
                continue
            frame, pts = payload, arg
            try:
                t0 = time.perf_counter()
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(frame, self.turns)), format="bgr24")
                vf.pts, vf.time_base = pts, self.time_base
                self._encode(self.palette.convert(vf) if self.palette else [vf])
                self.frames += 1
                self.encode_cost.add(time.perf_counter() - t0)
            except Exception as e:  # disk full, encoder failure: reported by write()/close()
                self.error = e

    def _encode(self, frames: Iterable[av.VideoFrame | None]) -> None:
        """Encode and mux; a None flushes the encoder."""
        for vf in frames:
            for packet in self.stream.encode(vf):
                self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        self.payload += packet.size
        self.container.mux(packet)

    def close(self) -> None:
        """Flush and close; safe to call twice. After a write error the file stays only if it plays."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if self.container is None:
            return
        try:
            if self.error is None:
                if self.palette:
                    self._encode(self.palette.flush())
                self._encode([None])
        except Exception as e:  # the last packets or the index did not fit on the disk
            self.error = e
        finally:
            try:
                self.container.close()
            except Exception as e:
                self.error = self.error or e
            self.container = None
        if self.error is None and (self.path.stat().st_size if self.path.exists() else 0) < self.payload:
            # FFmpeg drops a write error in its last flush on close (seen with a full disk): the size tells
            self.error = OSError("the file is shorter than what was written to it (disk full?)")
        if self.error is not None and not playable(self.path):
            self.path.unlink(missing_ok=True)
            self.kept = False
