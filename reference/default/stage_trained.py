"""Stage of the kept default run: train the six models of the paper (ABS first, then the rest).
Run from a snapshot of one commit:

    git worktree add /work/stage <commit>
    PYTHONPATH=/work/stage:reference/default ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_trained.py

Training checkpoints every epoch and skips finished models, so a rerun resumes.
"""
from stage import Stage

from absnb import train

MODELS = ["abs", "binary_abs", "cnn", "binary_cnn", "nearest", "madry"]

if __name__ == "__main__":
    stage = Stage("stage_trained")
    for m in MODELS:
        stage.step(f"train {m}", lambda m=m: train.train(m, "default"))
