"""Device and threads: CUDA when available, else the CPU with one thread per core."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

import torch


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def configure() -> torch.device:
    """Use every core on CPU (ABSNB_THREADS overrides) and return the device to run on."""
    threads = int(os.environ.get("ABSNB_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    return device()


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse instead of returning it to the OS at once; returns whether
    it could (glibc only). Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes
    every freed tensor go back to the kernel and every new one fault its pages in again: ABS queries
    ran 2.3x slower in a worker, half of it system time. Once per process: every attack task asks."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    trim_threshold, mmap_threshold = -1, -3  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD of <malloc.h>
    return bool(libc.mallopt(trim_threshold, 1 << 30) and libc.mallopt(mmap_threshold, 1 << 25))


def workers() -> int:
    """Dask worker processes of a local attack run: one per core on a CPU, each with one torch thread
    (ABSNB_WORKERS overrides), one on a GPU."""
    if device().type == "cuda":
        return 1
    return int(os.environ.get("ABSNB_WORKERS", os.cpu_count() or 1))


def describe() -> dict[str, str]:
    """Hardware and software of this run, for the book to state."""
    dev = device()
    name = torch.cuda.get_device_name() if dev.type == "cuda" else _cpu_name()
    return {"device": dev.type, "hardware": name, "cpu_cores": str(os.cpu_count()),
            "torch_threads": str(torch.get_num_threads()), "torch": str(torch.__version__),
            "python": platform.python_version()}


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
