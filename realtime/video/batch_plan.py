"""What a batch has to do: the inputs found, the files already done, and long files cut into parts."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import av

from realtime.video.manifest import Manifest, input_key, options_key
from realtime.video.reader import VideoError, partial_path, probe
from realtime.video.segments import join, plan_segments

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".gif", ".h264", ".flv",
                  ".wmv", ".3gp"}
LIST_SUFFIXES = {".txt", ".list"}


class BatchError(RuntimeError):
    pass


def collect_inputs(items: list[Path]) -> list[Path]:
    """Files as given, folders' video files (sorted, not recursive), and list files' lines (# comments)."""
    found: list[Path] = []
    for item in items:
        if item.is_dir():
            found += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif item.suffix.lower() in LIST_SUFFIXES and item.is_file():
            for line in item.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    p = Path(line)
                    found.append(p if p.is_absolute() else item.parent / p)
        elif item.is_file():
            found.append(item)
        else:
            raise BatchError(f"input not found: {item}")
    seen, unique = set(), []
    for p in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    if not unique:
        raise BatchError("no video files in the inputs given")
    names = [p.name for p in unique]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BatchError(f"two inputs share a name and would share an output: {', '.join(twice)}")
    return unique


@dataclass
class Task:
    """One worker call: a whole file, or part `part` of `parts` of one (`segment`: decode_from, start, end)."""
    input: str
    output: str
    frames: int          # expected, for the progress bar
    key: str             # the input's key; a part's manifest key adds #part
    part: int = 0
    parts: int = 1
    segment: tuple | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def part_key(self) -> str:
        """The part's own key: its bounds too, so a re-run cut differently (--segment-seconds) redoes it."""
        return f"{self.key}#{self.part}@{self.segment}"


@dataclass
class FileJob:
    """A file cut into parts: joined into `output` when every part is done."""
    input: str
    output: str
    key: str
    parts: list[str]
    frames: dict[int, int] = field(default_factory=dict)
    failed: bool = False


@dataclass
class Outcome:
    input: str
    frames: int = 0
    seconds: float = 0.0
    result: str = ""


def plan(a: argparse.Namespace) -> tuple[list[Task], dict[str, FileJob], list[Outcome], Manifest, str]:
    """The tasks still due (with their expected frame counts), the files being made in parts, the files
    already done, the manifest and the options' key."""
    inputs = collect_inputs(a.inputs)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    manifest, options = Manifest(a.out_dir), options_key(a)
    due, split, skipped = [], {}, []
    for path in inputs:
        out = a.out_dir / (path.stem + (a.suffix or path.suffix))
        key = input_key(path)
        if manifest.is_done(key, options, out):
            skipped.append(Outcome(str(path), manifest.done[key].get("frames", 0), 0.0, "done before"))
            continue
        if out.exists() and not a.overwrite:
            raise BatchError(f"{out} exists and is not in the manifest of this batch (another run's, or yours?); "
                             "give --overwrite to replace it")
        partial_path(out).unlink(missing_ok=True)  # an interrupted run's partial file: this one starts afresh
        try:
            info = probe(path)  # an unreadable input is reported now; the others go on
        except VideoError as e:
            skipped.append(Outcome(str(path), 0, 0.0, f"FAILED: {e}"))
            continue
        length = info.frames / float(info.rate)
        segments = plan_segments(path, a.segment_seconds, a.stabilize) if length >= 2 * a.segment_seconds else []
        if len(segments) < 2:
            due.append(Task(str(path), str(out), info.frames, key))
            continue
        parts_dir = a.out_dir / ".parts"
        parts_dir.mkdir(exist_ok=True)
        job = FileJob(str(path), str(out), key, [str(parts_dir / f"{path.stem}.part{k}{out.suffix}")
                                                 for k in range(len(segments))])
        split[key] = job
        for k, seg in enumerate(segments):
            t = Task(str(path), job.parts[k], round(info.frames / len(segments)), key, k, len(segments),
                     (seg.decode_from, seg.start, seg.end))
            if manifest.part_done(t.part_key, options, Path(t.output)):
                job.frames[k] = manifest.parts[t.part_key]["frames"]
            else:
                partial_path(Path(t.output)).unlink(missing_ok=True)
                due.append(t)
    return due, split, skipped, manifest, options


def finish_file(job: FileJob, manifest: Manifest, key: str, seconds: float) -> Outcome:
    """A file's parts joined into its output (through NAME.partial.EXT, renamed when whole)."""
    out = Path(job.output)
    tmp = partial_path(out)
    try:
        frames = join(Path(job.input), [Path(p) for p in job.parts], tmp)
    except (VideoError, OSError, av.FFmpegError) as e:
        tmp.unlink(missing_ok=True)
        return Outcome(job.input, 0, seconds, f"FAILED joining its {len(job.parts)} parts: {e}")
    if frames != sum(job.frames.values()):
        tmp.unlink(missing_ok=True)
        return Outcome(job.input, 0, seconds, f"FAILED: the parts hold {sum(job.frames.values())} frames, "
                                              f"the join {frames}")
    tmp.replace(out)
    manifest.mark_done(job.key, {"output": job.output, "frames": frames, "options": key, "parts": len(job.parts),
                                 "seconds": round(seconds, 2)})
    for p in job.parts:
        Path(p).unlink(missing_ok=True)
    return Outcome(job.input, frames, seconds, f"done ({len(job.parts)} parts joined)")
