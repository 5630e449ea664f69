"""One-off measurement (not part of the book): DDN on an ABS model (our ABS unless another is named)
with the raw logits (per-pixel ELBOs, as the paper's attacks saw the model) against the stored DDN on
its softmax logits (α · logits, what the book's adaptive attacks use). Same 50 samples, same budget,
every adversarial verified; writes provenance/ddn_logits_<model>.json.

    ABSNB_ARTIFACTS=$PWD/reference .venv/bin/python reference/default/measure_ddn_logits.py [abs_released]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from absnb import artifacts, data, profiles, runtime
from absnb.attacks import foolbox_attacks as fa
from absnb.attacks.registry import select
from absnb.attacks.selection import select_samples
from absnb.attacks.verify import verify
from absnb.models import load
from absnb.results import EPS_RTOL, wilson_interval

runtime.configure()
prof = profiles.load("default")
name = sys.argv[1] if len(sys.argv) > 1 else "abs"
budget = prof.budget(name)
spec, = select("l2", ["DDN"])
model = load(name, prof)
x_all, y_all = data.load_split("test")
samples = select_samples(0, budget.samples)
start = time.time()
distances = []
for batch in samples.split(budget.batch_size):
    torch.manual_seed(0)
    x, y = x_all[batch], y_all[batch]
    adv, found = fa.adaptive(spec, fa.foolbox_model(model), x, y, budget, None)
    distances.append(verify(model, x, y, adv, found, spec.norm).distance)
raw = torch.cat(distances).double().numpy()
stored = pd.read_csv(artifacts.attack_path("default", "l2", name, "DDN", ".csv"))
assert stored["sample"].tolist() == samples.tolist()
soft = stored["distance"].to_numpy()


def summary(d: np.ndarray) -> dict:
    robust = int((d > 1.5 * (1 + EPS_RTOL)).sum())
    low, high = wilson_interval(robust, len(d))
    return {"n": len(d), "median": float(np.median(d)), "accuracy_at_1.5": robust / len(d),
            "accuracy_95": [low, high]}


out = {"raw_logits": summary(raw), "softmax_logits": summary(soft),
       "softmax_smaller_on": int((soft < raw).sum()), "raw_smaller_on": int((raw < soft).sum()),
       "seconds_raw": time.time() - start}
Path(__file__).with_name("provenance").mkdir(exist_ok=True)
Path(__file__).with_name("provenance").joinpath(f"ddn_logits_{name}.json").write_text(json.dumps(out, indent=1))
print(json.dumps(out, indent=1))
