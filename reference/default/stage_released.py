"""Stage of the kept default run: the authors' released ABS models (clean scores; the cheap and the
adaptive attacks on the profile's 50 samples). Run from a snapshot of one commit:

    git worktree add /work/stage <commit>
    PYTHONPATH=/work/stage ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_released.py

Every result is stored as it finishes and keyed by what it depends on, so a rerun resumes.
"""
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

import absnb
from absnb import evaluate, runtime, train
from absnb.attacks import plan, selection
from absnb.attacks.registry import ATTACKS

ROOT = Path(absnb.__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "provenance" / "stage_released.json"
MODELS = ["abs_released", "binary_abs_released"]


def record(stages: dict) -> None:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"commit": commit, "code": str(ROOT), "python": sys.version.split()[0],
                               "torch": torch.__version__, "machine": platform.platform(),
                               "hardware": runtime.describe(), "stages": stages}, indent=1))


stages: dict = {}


def timed(name: str, work) -> None:
    start = time.time()
    print(f"== {name}", flush=True)
    work()
    stages[name] = {"seconds": round(time.time() - start, 1), "finished": time.strftime("%FT%TZ", time.gmtime())}
    print(f"== {name}: {stages[name]['seconds']} s", flush=True)
    record(stages)


def main() -> None:
    print("code:", ROOT, flush=True)
    timed("train substitute", lambda: train.train("substitute", "default"))
    for m in MODELS:
        timed(f"clean {m}", lambda m=m: print(evaluate.score_model(m, "default"), flush=True))
    for norm in ("linf", "l2", "l0"):
        cheap = [s.name for s in ATTACKS[selection.Norm(norm)] if not s.costly]
        request = selection.parse_request("default", norm, MODELS, cheap)
        timed(f"attacks {norm} (cheap and adaptive, 50 samples)", lambda r=request: plan.run(r))


if __name__ == "__main__":  # the Dask workers import this module: they must not run it
    main()
