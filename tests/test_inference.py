"""The one batched forward pass gives what a single call gives, on the images' device, without gradients."""

from __future__ import annotations

import pytest
import torch

from absnb.inference import predict


def test_batches_give_the_single_call_result_in_order():
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 3)
    x = torch.randn(23, 6)
    out = predict(net, x, batch_size=5)
    torch.testing.assert_close(out, net(x), rtol=0, atol=1e-6)
    assert not out.requires_grad
    calls = []
    predict(lambda b: calls.append(len(b)) or b, x, batch_size=5)
    assert calls == [5, 5, 5, 5, 3]


def test_no_images_is_an_error_not_an_empty_guess():
    with pytest.raises(ValueError, match="no images"):
        predict(torch.nn.Identity(), torch.zeros(0, 4))
