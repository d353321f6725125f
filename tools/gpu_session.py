"""One prepared command for each use of a lent GPU machine, so that its few minutes go to work.

The machine (the `device` tool: an H200 with CUDA PyTorch, OpenCV and ONNX Runtime) has no PyAV, none of the
weight wheels and no network, and a call carries at most 64 MiB. So the parts are prepared here, in `.gpu/`
(git-ignored), and each command there writes what must come back under $OUT:

    here:   python tools/gpu_session.py prepare train [--init DECODER]   # train-split images, VGG19, a start
    there:  python3 tools/gpu_session.py train --minutes 8                # run(carry=[".gpu"]): decoder back
    here:   python tools/gpu_session.py prepare check                     # the full model's encoder, the PyAV wheel
    there:  python3 tools/gpu_session.py check                            # CUDA tests and benchmark rows back

Without CUDA (this machine, CI) `train` and `check` run in miniature on the CPU and say what they skipped: the
commands are tested before a GPU is lent, and a lent one works from its first minute.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CARRY = ROOT / ".gpu"
BUDGET = 60 * 2**20  # what a call carries (64 MiB), less a margin
PYAV_WHEEL = "av==18.1.0"  # the CPU's own pin; its abi3 wheel runs on the machine's Python 3.12


def out_dir() -> Path:
    path = Path(os.environ.get("OUT") or ROOT / "out" / "gpu")
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_train(a: argparse.Namespace) -> None:
    from engines.training.gpu_carry import carry_cache, pack_images, tree_bytes

    shutil.rmtree(CARRY, ignore_errors=True)
    carry_cache(CARRY, ["vgg19"])
    if a.init:
        shutil.copy(a.init, CARRY / "init.safetensors")
    left = BUDGET - tree_bytes(ROOT) - sum(f.stat().st_size for f in CARRY.rglob("*") if f.is_file())
    quality, used = pack_images(CARRY / "data", {"content": a.content, "style": a.style}, left)
    print(f"prepared {CARRY}: images at JPEG quality {quality}, {used >> 20} MiB; carry [\".gpu\"] in the run")


def prepare_check(a: argparse.Namespace) -> None:
    from engines.training.gpu_carry import carry_cache
    from engines.zoo.registry import spec

    shutil.rmtree(CARRY, ignore_errors=True)
    carry_cache(CARRY, [spec("full").encoder])  # the check benchmarks the full model
    wheels = CARRY / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "-d", str(wheels), PYAV_WHEEL], check=True)
    print(f"prepared {CARRY}: {sum(f.stat().st_size for f in CARRY.rglob('*') if f.is_file()) >> 20} MiB; "
          "carry [\".gpu\"] in the run")


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def environment() -> dict[str, str]:
    env = dict(os.environ, REALTIME_ADAIN_CACHE=str(CARRY / "cache"), PYTHONUNBUFFERED="1")
    site = Path("/tmp/gpu-site")
    wheels = sorted((CARRY / "wheels").glob("*.whl"))
    if wheels:  # the machine reaches no package index: install what was carried
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                        str(site), *map(str, wheels)], check=True)
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def run_logged(cmd: list[str], env: dict[str, str], log: Path) -> int:
    print("$", " ".join(cmd), flush=True)
    with open(log, "w") as f:
        r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    print(log.read_text()[-3000:], flush=True)
    return r.returncode


def train(a: argparse.Namespace) -> int:
    out, gpu = out_dir(), cuda()
    data = CARRY / "data"
    if not data.is_dir():
        raise SystemExit("error: nothing prepared: run 'python tools/gpu_session.py prepare train' here first")
    run = Path("/tmp/gpu-train")  # checkpoints stay there: with Adam's moments they are too big to come back
    cmd = [sys.executable, "tools/train.py", "--encoder", "vgg19", "--content", str(data / "content"),
           "--style", str(data / "style"), "--out", str(run), "--export", str(out / "decoder_vgg19.safetensors"),
           "--identity-weight", str(a.identity_weight), "--style-weight", str(a.style_weight), "--warmup", "0"]
    if (CARRY / "init.safetensors").is_file():
        cmd += ["--init", str(CARRY / "init.safetensors")]
        from safetensors import safe_open

        from engines.zoo.files import holds_skips

        with safe_open(str(CARRY / "init.safetensors"), "pt") as f:
            if holds_skips(f.keys()):  # the shipped full decoder is a skip decoder
                cmd += ["--skips"]
    if gpu:
        cmd += ["--device", "cuda", "--precision", "bf16", "--batch", "8", "--crop", "256", "--save-every", "500",
                "--minutes", str(a.minutes)]
    else:
        print("no CUDA GPU here: a miniature run on the CPU (2 iterations, 64 px crops)")
        cmd += ["--device", "cpu", "--batch", "2", "--crop", "64", "--load-size", "64", "--iters", "2",
                "--save-every", "1"]
    code = run_logged(cmd, environment(), out / "train.log")
    if (run / "loss.csv").is_file():
        shutil.copy(run / "loss.csv", out / "loss.csv")
    return code


def check(a: argparse.Namespace) -> int:
    out, gpu = out_dir(), cuda()
    env = environment()
    code = run_logged([sys.executable, "-m", "pytest", "-q", "-rs", "tests/test_backends.py"], env,
                      out / "cuda_tests.log")
    if gpu:
        bench = ["--device", "cuda", "--model", "full", "--backends", "all", "--precisions", "fp32,fp16",
                 "--sizes", "256,512,720p,1080p", "--seconds", "2", "--rounds", "1", "--e2e-frames", "60"]
    else:
        print("no CUDA GPU here: the CUDA tests skip, and the benchmark runs in miniature on the CPU")
        bench = ["--device", "cpu", "--model", "lite", "--backends", "eager", "--precisions", "fp32",
                 "--sizes", "64", "--seconds", "0.5", "--min-runs", "2", "--e2e-frames", "4"]
    code |= run_logged([sys.executable, "tools/bench.py", *bench, "--append", str(out / "BENCHMARKS-rows.md"),
                        "--note", "tools/gpu_session.py check"], env, out / "bench.log")
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Prepare (here) and run (on a lent GPU) the GPU work in one command each.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    sub = p.add_subparsers(dest="command", required=True)
    pp = sub.add_parser("prepare", help="fill .gpu/ here for a 'train' or a 'check' run")
    pp.add_argument("what", choices=("train", "check"))
    pp.add_argument("--content", default=str(ROOT.parent / "shared/data/train/content"), help="training photos")
    pp.add_argument("--style", default=str(ROOT.parent / "shared/data/train/style"), help="training styles")
    pp.add_argument("--init", help="decoder to continue from (the shipped or best VGG19 decoder)")
    pt = sub.add_parser("train", help="there: train the VGG19 decoder, the decoder and its log into $OUT")
    pt.add_argument("--minutes", type=float, default=8.0, help="training time (default 8)")
    pt.add_argument("--style-weight", type=float, default=10.0)
    pt.add_argument("--identity-weight", type=float, default=100.0)
    sub.add_parser("check", help="there: the CUDA tests and the GPU benchmark rows into $OUT")
    a = p.parse_args(argv)
    if a.command == "prepare":
        from engines.io.images import ImageError
        from engines.zoo.files import WeightsError

        try:
            (prepare_train if a.what == "train" else prepare_check)(a)
        except (ImageError, WeightsError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    return train(a) if a.command == "train" else check(a)


if __name__ == "__main__":
    sys.exit(main())
