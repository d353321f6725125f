"""Many video files on Ray: a worker per CPU slot or GPU share keeps its model, a manifest makes re-runs resume.

The same job as tools/video.py (realtime/video/job.py) runs on each file, so outputs keep timestamps, rotation,
audio and subtitles exactly as that tool does. A long file is cut at keyframes into parts that several
workers make at once and that are joined without re-encoding (realtime/video/segments.py). Ray runs the same
code on a laptop (a local instance, the default) and on a cluster (`--address`; the output folder must then be
one that every node sees). The driver hands parts to idle workers, retries a failed one a bounded number of
times, records each finished part and file in a manifest written atomically, and shows one progress bar for
the whole batch. A re-run skips what the manifest says is done for the same inputs and options.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from engines.io.atomic_write import write_atomically
from realtime.stop_signals import StopSignals
from realtime.video.reader import VideoError, partial_path, probe
from realtime.video.job import Segment
from realtime.video.segments import join, plan_segments

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".gif", ".h264", ".flv",
                  ".wmv", ".3gp"}
LIST_SUFFIXES = {".txt", ".list"}
MANIFEST = ".batch-manifest.json"
FAIL_ONCE_ENV = "REALTIME_BATCH_FAIL_ONCE"  # tests: the named input's first attempt fails (a flaky worker)
# what each file is made with: changing any of these makes a done file due again
JOB_OPTIONS = ("style", "weights", "alpha", "preserve_color", "mask_video", "mask_mode", "size", "scale", "backend",
               "precision", "device", "model", "model_weights", "vgg", "decoder", "crf", "codec", "batch",
               "stabilize", "style_size", "fp16")


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


def options_key(a: argparse.Namespace) -> str:
    """A digest of the options each file is made with, style files' contents included."""
    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k in JOB_OPTIONS}
    h = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode())
    for s in a.style:
        h.update(Path(s).read_bytes())
    return h.hexdigest()[:20]


def input_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


class Manifest:
    """out_dir/.batch-manifest.json: the files and the parts of files done, with what they were made with;
    replaced whole (write_atomically) after each, so an interruption at any moment leaves a consistent one."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST
        self.done: dict[str, dict] = {}
        self.parts: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                self.done, self.parts = data.get("done", {}), data.get("parts", {})
            except (OSError, ValueError):
                pass  # unreadable (never half-written): everything is due again

    def is_done(self, key: str, options: str, output: Path) -> bool:
        entry = self.done.get(key)
        return bool(entry) and entry.get("options") == options and output.is_file()

    def part_done(self, part_key: str, options: str, output: Path) -> bool:
        entry = self.parts.get(part_key)
        return bool(entry) and entry.get("options") == options and output.is_file()

    def mark_done(self, key: str, entry: dict) -> None:
        self.done[key] = entry
        self.parts = {k: v for k, v in self.parts.items() if not k.startswith(key + "#")}
        self._save()

    def mark_part(self, part_key: str, entry: dict) -> None:
        self.parts[part_key] = entry
        self._save()

    def _save(self) -> None:
        data = json.dumps({"version": 1, "done": self.done, "parts": self.parts}, indent=1).encode()
        write_atomically(self.path, lambda tmp: tmp.write_bytes(data))


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


def job_namespace(options: dict, task: Task) -> argparse.Namespace:
    return argparse.Namespace(**options, input=Path(task.input), output=Path(task.output), start=None, end=None,
                              overwrite=True, quiet=True)


def make_worker_class(ray):
    """The Ray actor: the model, styles and engines kept for its life; `progress` answers while `run` works."""

    @ray.remote(max_concurrency=2)
    class Worker:
        def __init__(self, options: dict, threads: int) -> None:
            import torch

            from realtime.video.model_cache import ModelCache

            torch.set_num_threads(max(1, threads))
            self.options, self.cache, self.job = options, ModelCache(), None

        def _model(self):
            from engines.options import engine_options

            ns = argparse.Namespace(**self.options)
            return self.cache.model(ns, engine_options(ns)[2])[0]

        def encode_styles(self) -> list[tuple]:
            """The styles' statistics as arrays, for the driver to share with every worker."""
            import torch

            with torch.no_grad():
                model = self._model()
                stats = [self.cache.style(model, p, self.options["style_size"]) for p in self.options["style"]]
            return [(s.mean.cpu().numpy(), s.std.cpu().numpy()) for s in stats]

        def run(self, task: dict, styles: list[tuple]) -> dict:
            import torch

            from engines.model.network import StyleStats
            from realtime.video.job import VideoJob

            model = self._model()
            for path, (mean, std) in zip(self.options["style"], styles):
                self.cache.adopt_style(model, path, self.options["style_size"],
                                       StyleStats(torch.from_numpy(mean), torch.from_numpy(std)))
            encoded = self.cache.encoded
            t = Task(**task)
            self.job = None  # progress() says 0 until this file's job exists
            if os.environ.get(FAIL_ONCE_ENV) == Path(t.input).name and t.attempts == 1:
                raise RuntimeError(f"injected failure ({FAIL_ONCE_ENV})")
            t0 = time.perf_counter()
            self.job = VideoJob(job_namespace(self.options, t), self.cache,
                                Segment(*t.segment) if t.segment else None)
            with torch.no_grad():
                rc = self.job.run()
            if rc != 0:
                raise RuntimeError(f"the job ended with exit status {rc}")
            return {"frames": self.job.written, "seconds": time.perf_counter() - t0,
                    "encoded": self.cache.encoded - encoded}

        def progress(self) -> int:
            return self.job.written if self.job is not None else 0

        def reset_progress(self) -> None:
            self.job = None

    return Worker


def one_line(e: BaseException) -> str:
    """The cause's own line of a Ray task error (Ray wraps it in a traceback)."""
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".strip()


def run_batch(a: argparse.Namespace, options: dict) -> int:
    """0 all done, 1 some failed, 130 interrupted (the manifest keeps every file finished)."""
    tasks, split, outcomes, manifest, key = plan(a)
    for job in [j for j in split.values() if len(j.frames) == len(j.parts)]:  # all parts done before: join now
        outcomes.append(finish_file(job, manifest, key, 0.0))
    failed = sum(o.result.startswith("FAILED") for o in outcomes)
    if not tasks:
        if not failed:
            print(f"nothing to do: all {len(outcomes)} output(s) in {a.out_dir} are done "
                  f"(per {manifest.path.name}; --overwrite does not redo them, delete the manifest to)")
        print_summary(outcomes)
        return 1 if failed else 0
    try:
        import ray
    except ImportError:
        raise BatchError("tools/batch.py needs Ray: pip install -r requirements-extra.txt") from None
    prepare_engines(a, options, tasks)
    env = {FAIL_ONCE_ENV: os.environ[FAIL_ONCE_ENV]} if FAIL_ONCE_ENV in os.environ else {}
    init = {"address": a.address} if a.address else {"num_cpus": a.cpus or os.cpu_count(), "include_dashboard": False}
    ray.init(**init, log_to_driver=False, runtime_env={"env_vars": env} if env else None,
             configure_logging=True, logging_level="ERROR")
    try:
        return Driver(ray, a, options, tasks, split, outcomes, manifest, key).run()
    finally:
        ray.shutdown()


def prepare_engines(a: argparse.Namespace, options: dict, tasks: list[Task]) -> None:
    """Inductor engines compiled here, before any worker starts: inductor's compiler never finished inside a
    Ray worker on the CI machine (a fresh engine cache: 10 minutes, then the test's timeout), while a worker
    loads an engine compiled here from the disk cache in a fraction of a second. Workers on other machines
    (--address) have their own caches, so there `auto` runs eager instead of compiling."""
    from engines.backends import choose_backend, make_stylizer
    from engines.options import engine_options, load_model
    from realtime.video.reader import output_size

    ns = argparse.Namespace(**options)
    backend, precision, device = engine_options(ns)
    if ns.mask_video is not None or choose_backend(backend, device, precision)[0] != "inductor":
        return
    if a.address:
        if backend == "auto":
            options["backend"] = "eager"
            print("note: workers on a cluster run eager PyTorch (inductor does not compile inside a Ray worker)",
                  file=sys.stderr)
        return
    model = load_model(ns, device)[0]
    for w, h in sorted({output_size(probe(Path(t.input)), ns.size, ns.scale) for t in tasks}):
        make_stylizer(model, backend, h, w, batch=ns.batch, device=device, precision=precision)


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


class Driver:
    """Hands tasks to idle workers, settles each one that ends (done, retried or failed), shows progress."""

    def __init__(self, ray, a: argparse.Namespace, options: dict, tasks: list[Task], split: dict[str, FileJob],
                 outcomes: list[Outcome], manifest: Manifest, key: str) -> None:
        from tqdm import tqdm

        self.ray, self.a, self.split, self.outcomes, self.manifest, self.key = ray, a, split, outcomes, manifest, key
        worker_class = make_worker_class(ray)
        resources = {"num_cpus": a.cpus_per_worker, "num_gpus": a.gpus_per_worker}
        threads = max(1, int(a.cpus_per_worker))
        self.new_worker = lambda: worker_class.options(**resources).remote(options, threads)
        n = a.workers or max(1, int(ray.available_resources().get("CPU", 1) // a.cpus_per_worker))
        self.free = [self.new_worker() for _ in range(min(n, len(tasks)))]
        # the styles encoded once, by one worker, and handed to all through Ray's object store
        try:
            self.styles = ray.put(ray.get(self.free[0].encode_styles.remote()))
        except ray.exceptions.RayError as e:  # a style image that cannot be read, the model's weights missing
            raise BatchError(f"the styles could not be encoded: {one_line(e)}") from None
        self.encoded_again = 0
        self.pending, self.inflight = deque(tasks), {}
        self.done_frames, self.failed = 0, sum(o.result.startswith("FAILED") for o in outcomes)
        self.seconds: dict[str, float] = {}  # worker time per file, its parts added up
        self.asked: dict = {}    # worker -> its progress() call not answered yet
        self.running: dict = {}  # worker -> frames of its current task, as last answered
        self.bar = tqdm(total=sum(t.frames for t in tasks) or None, unit="frame", dynamic_ncols=True,
                        disable=a.quiet)
        print(f"{len({t.key for t in tasks})} file(s) to do ({len(tasks)} task(s): long files in parts) on "
              f"{len(self.free)} worker(s)" + (f"; {len(outcomes)} done before, skipped" if outcomes else ""),
              file=sys.stderr)

    def run(self) -> int:
        """0 all done, 1 some failed, 130 stopped by a signal (Ctrl-C, SIGTERM, SIGHUP): what was done is kept."""
        with StopSignals() as stop:
            while (self.pending or self.inflight) and stop.hit is None:
                self.dispatch()
                ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=0.5)
                for ref in ready:
                    self.settle(ref)
                self.show_progress()
        self.bar.close()
        print(f"styles: encoded once and shared; encoded again by a worker: {self.encoded_again}", file=sys.stderr)
        if stop.hit is not None:
            print(f"interrupted ({stop.hit}): {len(self.outcomes)} file(s) finished, and the parts done, are in "
                  "the manifest; the same command resumes", file=sys.stderr)
        print_summary(self.outcomes)
        return 130 if stop.hit is not None else 1 if self.failed else 0

    def dispatch(self) -> None:
        while self.pending and self.free:
            worker, task = self.free.pop(), self.pending.popleft()
            task.attempts += 1
            self.inflight[worker.run.remote(asdict(task), self.styles)] = (task, worker)

    def settle(self, ref) -> None:
        task, worker = self.inflight.pop(ref)
        errors = self.ray.exceptions
        try:
            result = self.ray.get(ref)
        except errors.RayActorError as e:  # the worker died (memory, a crash): a fresh one takes its place
            result, worker = None, self.new_worker()
            task.errors.append(one_line(e))
        except errors.RayError as e:
            result = None
            task.errors.append(one_line(e))
            worker.reset_progress.remote()
        self.free.append(worker)
        if result is not None:
            self.succeeded(task, result)
        elif task.attempts <= self.a.retries:
            what = f"part {task.part + 1}/{task.parts} of " if task.key in self.split else ""
            print(f"retrying {what}{Path(task.input).name} ({task.errors[-1]})", file=sys.stderr)
            self.pending.append(task)
        else:
            self.gave_up(task)

    def succeeded(self, task: Task, result: dict) -> None:
        self.done_frames += result["frames"]
        self.encoded_again += result["encoded"]
        self.seconds[task.key] = self.seconds.get(task.key, 0.0) + result["seconds"]
        job = self.split.get(task.key)
        if job is None:
            self.manifest.mark_done(task.key, {"output": task.output, "frames": result["frames"],
                                               "options": self.key, "seconds": round(result["seconds"], 2)})
            retried = f" (after {task.attempts} attempts)" if task.attempts > 1 else ""
            self.outcomes.append(Outcome(task.input, result["frames"], result["seconds"], "done" + retried))
            return
        self.manifest.mark_part(task.part_key, {"output": task.output, "frames": result["frames"],
                                                "options": self.key})
        job.frames[task.part] = result["frames"]
        if len(job.frames) == len(job.parts) and not job.failed:
            outcome = finish_file(job, self.manifest, self.key, self.seconds[task.key])
            self.failed += outcome.result.startswith("FAILED")
            self.outcomes.append(outcome)

    def gave_up(self, task: Task) -> None:
        job = self.split.get(task.key)
        Path(task.output).unlink(missing_ok=True)
        if job is not None and job.failed:
            return  # another part of the file failed first and said so
        self.failed += 1
        what = f"part {task.part + 1}/{task.parts} " if job else ""
        self.outcomes.append(Outcome(task.input, 0, 0.0, f"FAILED: {what}after {task.attempts} attempts: "
                                                         f"{task.errors[-1]}"))
        if job is not None:  # the other parts of that file are of no use now
            job.failed = True
            self.pending = deque(t for t in self.pending if t.key != task.key)

    def show_progress(self) -> None:
        """Frames done, the busy workers' current files included. A worker still starting (importing torch,
        compiling an engine) may not answer for a while: its last answer stands, nothing waits for it."""
        busy = {w for _, w in self.inflight.values()}
        for worker, ref in list(self.asked.items()):
            if worker not in busy:
                del self.asked[worker]
                self.running.pop(worker, None)
            elif self.ray.wait([ref], timeout=0)[0]:
                self.running[worker] = self.ray.get(ref)
                del self.asked[worker]
        for worker in busy - set(self.asked):
            self.asked[worker] = worker.progress.remote()
        self.bar.n = self.done_frames + sum(self.running.get(w, 0) for w in busy)
        self.bar.refresh()


def print_summary(outcomes: list[Outcome]) -> None:
    width = max([len(Path(o.input).name) for o in outcomes] + [4])
    print(f"{'file':<{width}}  {'frames':>7}  {'seconds':>8}  result")
    for o in outcomes:
        print(f"{Path(o.input).name:<{width}}  {o.frames:>7}  {o.seconds:>8.1f}  {o.result}")
    total = sum(o.frames for o in outcomes)
    print(f"{'all':<{width}}  {total:>7}  {'':>8}  {sum(o.result.startswith('done') for o in outcomes)} done, "
          f"{sum(o.result.startswith('FAILED') for o in outcomes)} failed")
