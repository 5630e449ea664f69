"""Device and threads: CUDA when available, else the CPU with one thread per core."""

from __future__ import annotations

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
