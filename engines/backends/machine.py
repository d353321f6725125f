"""What this machine offers the backends: CPU instruction sets, a C++ compiler, free memory."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys


def _cpuinfo(field: str) -> str:
    """The first `field` line of /proc/cpuinfo ('' where there is none: not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(field)), "")
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """Native bf16 matrix instructions (AVX512-BF16 or AMX); without them bf16 is emulated and slower."""
    flags = _cpuinfo("flags").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    """Model and instruction sets: code compiled for one CPU (inductor's) may not run on another."""
    flags = _cpuinfo("flags")
    return f"{_cpuinfo('model name')} {hashlib.sha256(flags.encode()).hexdigest()[:8]}" if flags else "cpu"


def cpp_compiler() -> str | None:
    """Inductor turns the graph into C++ for the CPU: without a compiler it cannot build anything."""
    names = (os.environ.get("CXX"), "clang++" if sys.platform == "darwin" else "g++")  # inductor's own search
    return next((c for c in names if c and shutil.which(c)), None)


def available_memory() -> int | None:
    """Bytes the kernel says a new allocation can have (Linux MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
