"""The inference benchmark compares paths that must agree: if they do not, the speed-up is void."""

from __future__ import annotations

import torch
from small_abs import contrast_abs
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from absnb import bench


def test_the_earlier_batched_path_and_today_agree_with_the_reference_loop():
    model = contrast_abs(binary=False)
    x = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(bench.batched_before(model, x), model.elbo(x), rtol=0, atol=1e-6)
    table = bench.run(model, x, batch_sizes=(1, 20), repeats=1)
    assert table["same predictions"].all()
    assert (table["max |logit - loop|"] < 1e-5).all()
    assert (table["now (ms/image)"] > 0).all()


class _Flops(TorchDispatchMode):
    """Sums torch's own FLOP formulas (torch.utils.flop_counter) over every op that runs; unlike
    FlopCounterMode it tracks no modules, so it works under the search's autograd.grad."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **(kwargs or {}), out_val=out)
        return out


def test_the_arithmetic_floor_counts_what_torch_counts():
    """The floor's FLOP count of one inference equals torch's own count of the search it describes,
    so the 'now vs floor' ratio of `make bench` measures efficiency, not a miscount."""
    model = contrast_abs(binary=False)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with _Flops() as counter, torch.no_grad():
        model.elbo(x)
    assert counter.total == 3 * bench.search_flops(model.cfg)
    assert bench.decoder_flops() == 2_286_592  # 2 x (4,096 + 204,800 + 774,400 + 160,000) multiply-adds
    assert bench.matmul_gflops(size=256, repeats=1) > 0
