"""The inference benchmark compares paths that must agree: if they do not, the speed-up is void."""

from __future__ import annotations

import torch
from small_abs import contrast_abs

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
