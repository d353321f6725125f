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
import os
import sys
from collections import deque
from dataclasses import asdict
from pathlib import Path

from realtime.stop_signals import StopSignals
from realtime.video.batch_plan import BatchError, FileJob, Outcome, Task, finish_file, plan
from realtime.video.batch_worker import FAIL_ONCE_ENV, make_worker_class
from realtime.video.manifest import Manifest
from realtime.video.reader import probe


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
    from engines.io.sizes import inner_size
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
        make_stylizer(model, backend, h, w, batch=ns.batch, device=device, precision=precision,
                      inner=inner_size(h, w, ns.model_scale))


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
