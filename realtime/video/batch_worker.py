"""The Ray actor that makes a batch's files: it keeps its model, styles and engines for its life
(realtime/video/model_cache.py) and runs tools/video.py's job (realtime/video/job.py) on each task."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from realtime.video.batch_plan import Task

FAIL_ONCE_ENV = "REALTIME_BATCH_FAIL_ONCE"  # tests: the named input's first attempt fails (a flaky worker)


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
            from realtime.video.job import Segment, VideoJob

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
