"""Stage of the kept default run: our six models' clean scores, then per norm every attack of the
norm (the paper's, the costly ones on the profile's `costly_samples`, and the adaptive ones). Run from
a snapshot of one commit:

    git worktree add /work/stage <commit>
    PYTHONPATH=/work/stage:reference/default ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_ours.py [clean] [linf] [l2] [l0]

One plan per norm runs each batch's attacks in execution order, so an attack that starts from the best
so far sees every earlier one (nothing is rerun from a better start later). Every result is stored as
it finishes and keyed by what it depends on, so a rerun resumes.
"""
import sys

from stage import Stage

from absnb import evaluate
from absnb.attacks import plan, selection

MODELS = ["cnn", "binary_cnn", "nearest", "madry", "abs", "binary_abs"]
PARTS = ("clean", "linf", "l2", "l0")


def main(parts: list[str]) -> None:
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    stage = Stage("stage_ours")
    if "clean" in parts:
        for m in MODELS:
            stage.step(f"clean {m}", lambda m=m: print(evaluate.score_model(m, "default"), flush=True))
    for norm in (p for p in PARTS[1:] if p in parts):
        request = selection.parse_request("default", norm, MODELS)
        stage.step(f"attacks {norm}", lambda r=request: plan.run(r))


if __name__ == "__main__":  # the Dask workers import this module: they must not run it
    main(sys.argv[1:] or list(PARTS))
