"""The ABS training experiments of the kept default run (`absnb.experiments`), each in its own folder
reference/default+<variant>/. Run from a snapshot of one commit, naming the variants in order:

    git worktree add /work/exp <commit>
    PYTHONPATH=/work/exp:reference/default ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_experiments.py tanh anneal20 epochs60

(`kl1`, run the same way on 2026-12-06, is `default`'s recipe since; the recipe it replaced is the
variant `anneal20`, whose files moved from reference/default/ to reference/default+anneal20/.)

Training checkpoints every epoch and finished steps are reused, so a rerun resumes.
"""
import sys

from stage import Stage

from absnb import experiments

if __name__ == "__main__":
    stage = Stage("stage_experiments")
    for variant in sys.argv[1:]:
        stage.step(f"experiment {variant}", lambda v=variant: print(experiments.run("default", v), flush=True))
