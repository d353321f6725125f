"""The stylized frames as raw video on standard output: `--pipe`, for a program that reads it (ffplay, ffmpeg,
GStreamer, OBS's media source). Each frame is its bgr24 bytes at the processing size, nothing between them; the
start-up line says the ffplay command that shows it. A reader that goes away ends this output only."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import BinaryIO

import numpy as np

from realtime.live.outputs.base import Engine, OutFrame, Output, OutputKind

log = logging.getLogger("realtime")


class RawPipe(Output):
    def __init__(self, stream: BinaryIO, width: int, height: int) -> None:
        self.stream, self.width, self.height = stream, width, height
        self.sent = 0

    def send(self, frame: OutFrame) -> None:
        if self.stream is None:
            return
        try:  # the stylized picture is always the processing size, also while frozen or reconnecting
            self.stream.write(np.ascontiguousarray(frame.stylized).tobytes())
            self.stream.flush()
            self.sent += 1
        except (BrokenPipeError, ValueError, OSError):  # the reader closed its end
            log.warning("--pipe: the program reading standard output went away after %d frames; pipe stopped",
                        self.sent)
            self.stream = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pipe", action="store_true",
                   help="write each stylized frame as raw bgr24 video to standard output, for ffplay, ffmpeg or "
                        "GStreamer (the start-up line says the command)")


def open_pipe(a: argparse.Namespace, engine: Engine | None) -> RawPipe | None:
    if not a.pipe:
        return None
    log.info("--pipe: raw frames on standard output; watch with: ffplay -f rawvideo -pixel_format bgr24 "
             "-video_size %dx%d -", engine.width, engine.height)
    return RawPipe(sys.stdout.buffer, engine.width, engine.height)


KIND = OutputKind("raw pipe", add_arguments, open_pipe)
