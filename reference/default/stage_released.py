"""Stage of the kept default run: the authors' released ABS models (clean scores, then per norm every
attack, the costly paper attacks on the profile's `costly_samples`). Earlier invocations (`d1b6121`)
ran the cheap and adaptive attacks alone first, to have 50-sample results early; since Flip Search
joined, Brendel–Bethge's batch 0 on Binary ABS (released) starts from the costly attacks, so the
steps now run every attack of a norm in one plan (stored results are reused). Run from a snapshot of
one commit:

    git worktree add /work/stage <commit>
    PYTHONPATH=/work/stage:reference/default ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_released.py

Every result is stored as it finishes and keyed by what it depends on, so a rerun resumes.
"""
from stage import Stage

from absnb import evaluate, train
from absnb.attacks import plan, selection

MODELS = ["abs_released", "binary_abs_released"]


def main() -> None:
    stage = Stage("stage_released")
    stage.step("train substitute", lambda: train.train("substitute", "default"))
    for m in MODELS:
        stage.step(f"clean {m}", lambda m=m: print(evaluate.score_model(m, "default"), flush=True))
    for norm in ("linf", "l2", "l0"):
        request = selection.parse_request("default", norm, MODELS)
        name = f"attacks {norm} (all, the costly ones on the first samples)"
        stage.step(name, lambda r=request: plan.run(r))


if __name__ == "__main__":  # the Dask workers import this module: they must not run it
    main()
