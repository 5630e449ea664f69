"""Stage of the kept default run: the authors' released ABS models (clean scores; the cheap and the
adaptive attacks on the profile's 50 samples; then every attack, the costly paper attacks on the
profile's `costly_samples`, which re-runs Brendel–Bethge on those samples from the better start they
give). Run from a snapshot of one commit:

    git worktree add /work/stage <commit>
    PYTHONPATH=/work/stage:reference/default ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_released.py

Every result is stored as it finishes and keyed by what it depends on, so a rerun resumes.
"""
from stage import Stage

from absnb import evaluate, train
from absnb.attacks import plan, selection
from absnb.attacks.registry import ATTACKS

MODELS = ["abs_released", "binary_abs_released"]


def main() -> None:
    stage = Stage("stage_released")
    stage.step("train substitute", lambda: train.train("substitute", "default"))
    for m in MODELS:
        stage.step(f"clean {m}", lambda m=m: print(evaluate.score_model(m, "default"), flush=True))
    for norm in ("linf", "l2", "l0"):
        cheap = [s.name for s in ATTACKS[selection.Norm(norm)] if not s.costly]
        request = selection.parse_request("default", norm, MODELS, cheap)
        stage.step(f"attacks {norm} (cheap and adaptive, 50 samples)", lambda r=request: plan.run(r))
    for norm in ("linf", "l2", "l0"):
        request = selection.parse_request("default", norm, MODELS)
        stage.step(f"attacks {norm} (all, the costly ones on the first samples)", lambda r=request: plan.run(r))


if __name__ == "__main__":  # the Dask workers import this module: they must not run it
    main()
