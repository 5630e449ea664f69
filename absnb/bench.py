"""Benchmark of ABS inference: ms per image, batched over classes vs a plain loop over the decoders.

Run with `make bench`. It times `ABS.elbo` (ten decoders as one grouped pass) against
`ABS.elbo_loop` (the same search, one decoder at a time) at the paper's settings (8,000 bank
latents, 50 Adam steps) for batch sizes 1, 16 and 100. Speed does not depend on the weights, so
it uses randomly initialised VAEs; the two paths are also checked to agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch

from absnb import artifacts, runtime
from absnb.models.abs import ABS, InferenceConfig
from absnb.models.vae import VAE
from absnb.paths import ARTIFACTS_DIR


def random_abs(cfg: InferenceConfig, seed: int = 0) -> ABS:
    """ABS over ten randomly initialised VAEs (eval mode)."""
    torch.manual_seed(seed)
    return ABS([VAE().eval() for _ in range(10)], cfg)


def time_call(fn, x: torch.Tensor, repeats: int) -> float:
    """Median wall seconds of fn(x) over `repeats` calls, after one warm-up call."""
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(batch_sizes: tuple[int, ...] = (1, 16, 100), repeats: int = 3,
        cfg: InferenceConfig | None = None) -> pd.DataFrame:
    """ms per image of the batched and the looped inference, and their ratio, per batch size."""
    cfg = cfg or InferenceConfig()
    runtime.configure()
    model = random_abs(cfg)
    rows = []
    for batch in batch_sizes:
        x = torch.rand(batch, 1, 28, 28)
        gap = (model.elbo(x) - model.elbo_loop(x)).abs().max().item()
        batched = time_call(model.elbo, x, repeats) / batch * 1000
        looped = time_call(model.elbo_loop, x, repeats) / batch * 1000
        rows.append({"batch size": batch, "batched (ms/image)": round(batched, 1),
                     "loop over decoders (ms/image)": round(looped, 1),
                     "speed-up (loop / batched)": round(looped / batched, 2),
                     "max |batched - loop|": gap})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = InferenceConfig()
    table = run(repeats=args.repeats, cfg=cfg)
    hw = runtime.describe()
    print(f"ABS inference, {cfg.n_samples} bank latents, {cfg.steps} Adam steps, "
          f"{hw['hardware']} ({hw['torch_threads']} threads), median of {args.repeats} runs")
    print(table.to_string(index=False))
    artifacts.save_json({"settings": cfg.__dict__, "hardware": hw, "results": table.to_dict("records")},
                        ARTIFACTS_DIR / "bench" / "abs_inference.json")


if __name__ == "__main__":
    main()
