"""The stacked (grouped) VAEs must be exactly the ten VAEs they hold: same outputs, same gradients."""

from __future__ import annotations

import torch
from small_abs import random_vae

from absnb.models.stacked_vae import StackedVAE, from_vaes, split_state, stack_states, to_vaes
from absnb.models.vae import VAE, vae_loss


def _vaes() -> list[VAE]:
    return [random_vae(seed).train() for seed in range(10)]


def test_stacked_forward_equals_each_vae_on_its_own_channel_in_training_mode():
    vaes = _vaes()
    stacked = from_vaes(vaes).train()
    x = torch.rand(6, 10, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    recon, mu, logvar = stacked(x)
    torch.manual_seed(1)
    noise = torch.randn(6, 10, 8)
    for g, vae in enumerate(vaes):
        m, lv = vae.encode(x[:, g:g + 1])  # training-mode BatchNorm: statistics of this class's batch
        torch.testing.assert_close(mu[:, g], m, rtol=0, atol=1e-5)
        torch.testing.assert_close(logvar[:, g], lv, rtol=0, atol=1e-5)
        torch.testing.assert_close(recon[:, g], vae.decoder(m + noise[:, g] * (0.5 * lv).exp()),
                                   rtol=0, atol=1e-5)


def test_stacked_loss_gives_every_vae_the_gradient_of_its_own_loss():
    vaes = _vaes()
    stacked = from_vaes(vaes).train()
    x = torch.rand(5, 10, 28, 28, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    loss, _ = vae_loss(x, *stacked(x), kl_weight=4.0)
    loss.backward()
    torch.manual_seed(3)
    noise = torch.randn(5, 10, 8)
    g = 7
    mu, lv = vaes[g].encode(x[:, g:g + 1])
    own, _ = vae_loss(x[:, g], vaes[g].decoder(mu + noise[:, g] * (0.5 * lv).exp()), mu, lv, 4.0)
    own.backward()
    first = stacked.encoder[0].weight.grad.chunk(10)[g]
    torch.testing.assert_close(first, vaes[g].encoder[0].weight.grad, rtol=1e-3, atol=1e-5)
    last = stacked.decoder["net"][-1].weight.grad.chunk(10)[g]
    torch.testing.assert_close(last, vaes[g].decoder.net[-1].weight.grad, rtol=1e-3, atol=1e-5)


def test_states_round_trip_and_keep_batchnorm_statistics():
    vaes = [random_vae(seed) for seed in range(10)]
    back = to_vaes(from_vaes(vaes))
    for a, b in zip(vaes, back):
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), key
    state = stack_states([v.state_dict() for v in vaes])
    assert state["encoder.1.running_var"].shape == (32 * 10,)
    assert torch.equal(split_state(state, 10)[4]["encoder.1.running_var"],
                       vaes[4].state_dict()["encoder.1.running_var"])


def test_a_tanh_posterior_mean_squashes_the_linear_one_and_decodes_from_it():
    stacked = from_vaes(_vaes()).train()
    squashed = StackedVAE(posterior_mean="tanh").train()
    squashed.load_state_dict(stacked.state_dict())
    x = torch.rand(6, 10, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    _, mu, logvar = stacked(x)
    torch.manual_seed(1)
    recon, mu_t, logvar_t = squashed(x)
    torch.testing.assert_close(mu_t, torch.tanh(mu), rtol=0, atol=1e-6)
    torch.testing.assert_close(logvar_t, logvar, rtol=0, atol=1e-6)
    assert mu.abs().max() > 1 > mu_t.abs().max()  # the random encoders reach beyond the cube
    torch.manual_seed(1)
    noise = torch.randn(6, 10, 8)
    z = mu_t + noise * (0.5 * logvar).exp()
    direct = torch.sigmoid(squashed.decoder["net"](z.reshape(6, 80, 1, 1))).reshape(6, 10, 784)
    torch.testing.assert_close(recon, direct, rtol=0, atol=1e-6)
