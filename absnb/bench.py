"""Benchmark of ABS inference: ms per image of three implementations of the same search.

Run with `make bench` (after `make train-abs`). At the paper's settings (8,000 bank latents, 50 Adam
steps of 0.05) and on real test images with the trained ABS weights of a profile, it times
- the reference loop (`ABS.elbo_loop`: one decoder at a time),
- the batched path before issue 11 (`batched_before`: ten decoders as one grouped pass, the whole
  batch at once, the bank's squared norms recomputed on every call), and
- today's path (`ABS.elbo`: the same, with the bank's constant cost cached and the images searched in
  chunks that stay in the CPU cache),
at batch sizes 1, 16 and 100, and checks that all three give the same predictions and logits.
Beside them it prints the arithmetic floor: the inference's floating-point operations per image
(`search_flops`, counted from the architecture) at the rate this machine multiplies large matrices
(`matmul_gflops`), the speed no implementation of the same search can beat by much.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import pandas as pd
import torch

from absnb import artifacts, data, profiles, runtime
from absnb.models import load
from absnb.models.abs import ABS, N_CLASSES, N_PIXELS, InferenceConfig, optimise_latents
from absnb.models.vae import DECODER, LATENT_DIM
from absnb.paths import ARTIFACTS_DIR


def batched_before(model: ABS, x: torch.Tensor) -> torch.Tensor:
    """l_y(x) as the batched path computed it before issue 11 (the benchmark's baseline)."""
    flat = model._prepare(x)
    cross = torch.einsum("csp,bp->csb", model.bank_x, flat)
    loss = (model.bank_x.pow(2).sum(-1, keepdim=True) - 2 * cross
            + 0.5 * model.bank_z.pow(2).sum(-1)[None, :, None])
    z0 = model.bank_z[loss.argmin(dim=1)]
    best, _ = optimise_latents(model.stacked, flat[None], z0, model.cfg.steps, model.cfg.lr,
                               model.cfg.radius)
    return -best.T / N_PIXELS


def decoder_flops() -> int:
    """Floating-point operations of one decode of one latent (multiply-adds x 2): every transposed
    conv costs input pixels x in-channels x out-channels x kernel area; its input gradient, the same."""
    flops, channels, size = 0, LATENT_DIM, 1
    for out_channels, kernel, stride in DECODER:
        flops += 2 * size * size * channels * out_channels * kernel * kernel
        channels, size = out_channels, (size - 1) * stride + kernel
    return flops


def search_flops(cfg: InferenceConfig) -> int:
    """Floating-point operations of the full inference of one image: the bank products (every class
    renders every bank latent), then per class steps + 1 decodes and `steps` input gradients."""
    bank = 2 * N_CLASSES * cfg.n_samples * N_PIXELS
    return bank + N_CLASSES * (2 * cfg.steps + 1) * decoder_flops()


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's rate of float32 matrix products at the current torch threads (GFLOP/s): the
    practical ceiling for the convolutions that dominate the search."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / time_call(lambda _: a @ b, a, repeats) / 1e9


def time_call(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeats: int) -> float:
    """Median wall seconds of fn(x) over `repeats` calls, after one warm-up call."""
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(model: ABS, x: torch.Tensor) -> dict[str, float | bool]:
    """Largest logit differences of today's and the earlier batched path from the reference loop."""
    with torch.no_grad():
        ref, before, now = model.elbo_loop(x), batched_before(model, x), model.elbo(x)
    win = ref.argmax(1, keepdim=True)
    return {"same predictions": bool((now.argmax(1) == ref.argmax(1)).all()
                                     and (before.argmax(1) == ref.argmax(1)).all()),
            "max |winning logit - loop|": (now.gather(1, win) - ref.gather(1, win)).abs().max().item(),
            "max |logit - loop|": (now - ref).abs().max().item(),
            "max |logit - before|": (now - before).abs().max().item()}


def run(model: ABS, images: torch.Tensor, batch_sizes: tuple[int, ...] = (1, 16, 100),
        repeats: int = 3) -> pd.DataFrame:
    """ms per image of the three paths, today's speed-ups, the arithmetic floor and the logit checks,
    per batch size."""
    floor = search_flops(model.cfg) / matmul_gflops() / 1e6  # ms per image at the matmul rate
    paths = {"loop": model.elbo_loop, "before": lambda x: batched_before(model, x), "now": model.elbo}
    rows = []
    for batch in batch_sizes:
        x = images[:batch]
        with torch.no_grad():
            ms = {name: time_call(fn, x, repeats) / batch * 1000 for name, fn in paths.items()}
        rows.append({"batch size": batch, "loop (ms/image)": round(ms["loop"], 1),
                     "batched before (ms/image)": round(ms["before"], 1),
                     "now (ms/image)": round(ms["now"], 1),
                     "speed-up vs before": round(ms["before"] / ms["now"], 2),
                     "speed-up vs loop": round(ms["loop"] / ms["now"], 2),
                     "floor (ms/image)": round(floor, 1),
                     "now vs floor": round(ms["now"] / floor, 2), **compare(model, x)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", help="whose trained ABS weights to use")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runtime.configure()
    prof = profiles.load(args.profile)
    model = load("abs", prof)
    images = data.load_split("test")[0][:100]
    table = run(model, images, repeats=args.repeats)
    hw = runtime.describe()
    print(f"ABS inference ({args.profile} weights, first test images), {model.cfg.n_samples} bank "
          f"latents, {model.cfg.steps} Adam steps, search chunk {ABS.CPU_CHUNK} on a CPU, "
          f"{hw['hardware']} ({hw['torch_threads']} threads), median of {args.repeats} runs; "
          f"{search_flops(model.cfg) / 1e9:.2f} GFLOP per image, floor at the matmul rate")
    print(table.to_string(index=False))
    artifacts.save_json({"profile": args.profile, "settings": model.cfg.__dict__, "hardware": hw,
                         "chunk": ABS.CPU_CHUNK, "results": table.to_dict("records")},
                        ARTIFACTS_DIR / "bench" / "abs_inference.json")


if __name__ == "__main__":
    main()
