"""The ABS training experiments of the kept default run (`absnb.experiments`), each in its own folder
reference/default+<variant>/. Run from a snapshot of one commit, naming the variants in order:

    git worktree add /work/exp <commit>
    PYTHONPATH=/work/exp:reference/default ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/stage_experiments.py tanh anneal20 epochs40

Two of them were adopted by `default`, each moved into reference/default/ and the recipe it replaced
kept as a variant with its files: `kl1` (KL weight 1, 2026-12-06; the old recipe is `anneal20`), then
`epochs60` (60 epochs, the same day; the 40-epoch recipe is `epochs40`). No stored key holds the
profile's name, so the moved files are exactly what the variant names would compute.

Training checkpoints every epoch and finished steps are reused, so a rerun resumes.
"""
import sys

from stage import Stage

from absnb import experiments

if __name__ == "__main__":
    stage = Stage("stage_experiments")
    for variant in sys.argv[1:]:
        stage.step(f"experiment {variant}", lambda v=variant: print(experiments.run("default", v), flush=True))
