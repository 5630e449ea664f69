"""The baseline models: architecture shapes, binarisation, nearest neighbour, and the PGD attack."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from absnb.models.binarize import binarize, binarize_ste
from absnb.models.cnn import CNN, SUBSTITUTE_CHANNELS
from absnb.models.madry import MadryNet, pgd_accuracy, pgd_linf
from absnb.models.nearest import NearestNeighbour
from absnb.models.vae import LATENT_DIM, VAE


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _spatial_sizes(seq: nn.Sequential, x: torch.Tensor, kind: type[nn.Module]) -> list[tuple]:
    """(channels, height, width) after each layer of type `kind` in `seq`, via forward hooks."""
    sizes: list[tuple] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
             for m in seq if isinstance(m, kind)]
    try:
        with torch.no_grad():
            seq(x)
    finally:
        for h in hooks:
            h.remove()
    return sizes


# --- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [CNN, lambda: CNN(binary=True), lambda: CNN(SUBSTITUTE_CHANNELS), MadryNet],
    ids=["cnn", "binary_cnn", "substitute", "madry"],
)
def test_classifier_outputs_b_by_10(make):
    net = make().eval()
    with torch.no_grad():
        assert net(_images(3)).shape == (3, 10)


def test_nearest_neighbour_outputs_b_by_10():
    train = _images(30, seed=1)
    nn_ = NearestNeighbour(train, torch.arange(30) % 10, chunk=7)
    assert nn_(_images(4)).shape == (4, 10)


@pytest.mark.parametrize(("channels", "name"), [((20, 70, 256, 10), "cnn"), (SUBSTITUTE_CHANNELS, "sub")])
def test_cnn_feature_maps_are_24_11_5_1(channels, name):
    net = CNN(channels).eval()
    sizes = _spatial_sizes(net.net, _images(2), nn.Conv2d)
    assert [s[1:] for s in sizes] == [(24, 24), (11, 11), (5, 5), (1, 1)]
    assert [s[0] for s in sizes] == list(channels)


def test_vae_encoder_is_24_11_5_1_with_8_means_and_8_logvars():
    vae = VAE().eval()
    sizes = _spatial_sizes(vae.encoder, _images(2), nn.Conv2d)
    assert [s[1:] for s in sizes] == [(24, 24), (11, 11), (5, 5), (1, 1)]
    assert sizes[-1][0] == 16 == 2 * LATENT_DIM
    mu, logvar = vae.encode(_images(2))
    assert mu.shape == logvar.shape == (2, LATENT_DIM)
    out = vae.encoder(_images(2)).flatten(1)
    torch.testing.assert_close(mu, out[:, :8])
    torch.testing.assert_close(logvar, out[:, 8:])


def test_vae_decoder_is_4_11_25_28_with_sigmoid_output():
    vae = VAE().eval()
    z = torch.randn(3, LATENT_DIM) * 3
    sizes = _spatial_sizes(vae.decoder.net, z.reshape(3, LATENT_DIM, 1, 1), nn.ConvTranspose2d)
    assert [s[1:] for s in sizes] == [(4, 4), (11, 11), (25, 25), (28, 28)]
    assert [s[0] for s in sizes] == [32, 16, 16, 1]
    with torch.no_grad():
        out = vae.decoder(z)
    assert out.shape == (3, 784)
    assert out.min() > 0 and out.max() < 1


def test_decoder_keeps_leading_dimensions():
    vae = VAE().eval()
    z = torch.randn(2, 3, LATENT_DIM)
    with torch.no_grad():
        out = vae.decoder(z)
        flat = vae.decoder(z.reshape(6, LATENT_DIM))
    assert out.shape == (2, 3, 784)
    torch.testing.assert_close(out.reshape(6, 784), flat)


def test_vae_forward_reconstructs_with_encoder_statistics():
    vae = VAE().eval()
    torch.manual_seed(0)
    recon, mu, logvar = vae(_images(2))
    assert recon.shape == (2, 784) and mu.shape == logvar.shape == (2, LATENT_DIM)


# --- binarisation -----------------------------------------------------------------------------


def test_binarize_threshold_is_strictly_above_half():
    x = torch.tensor([0.0, 0.2, 0.5, 0.5000001, 0.7, 1.0])
    assert binarize(x).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert binarize(x).dtype == x.dtype


def test_binarize_ste_forward_is_binarize_and_gradient_is_identity():
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    out = binarize_ste(x)
    torch.testing.assert_close(out, binarize(x.detach()), rtol=0, atol=0)
    w = torch.randn_like(x)
    (grad,) = torch.autograd.grad((out * w).sum(), x)
    torch.testing.assert_close(grad, w, rtol=0, atol=0)
    (ones,) = torch.autograd.grad(binarize_ste(x).sum(), x)
    assert torch.equal(ones, torch.ones_like(x))


def test_binary_cnn_has_a_nonzero_input_gradient_where_plain_binarize_has_none():
    torch.manual_seed(0)
    net = CNN(binary=True).eval()
    x = _images(2).requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[:, 3].sum(), x)
    assert grad.abs().sum() > 0
    x2 = x.detach().clone().requires_grad_(True)
    plain = net.net(binarize(x2)).flatten(1)[:, 3].sum()
    (plain_grad,) = torch.autograd.grad(plain, x2, allow_unused=True, materialize_grads=True)
    assert torch.equal(plain_grad, torch.zeros_like(x2))  # plain binarize cuts the graph


def test_binary_cnn_ignores_perturbations_that_do_not_cross_half():
    torch.manual_seed(0)
    net = CNN(binary=True).eval()
    x = _images(4)
    # Move each pixel towards 0.5 or away from it, never across (0.5 itself stays on the 0 side).
    target = torch.where(x > 0.5, torch.rand_like(x) * 0.499 + 0.501, torch.rand_like(x) * 0.5)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(target), rtol=0, atol=0)
        crossed = x.clone()
        crossed[:, 0, 14, 14] = torch.where(x[:, 0, 14, 14] > 0.5, 0.5, 0.51)
        assert (net(x) - net(crossed)).abs().amax(1).min() > 1e-6


def test_plain_cnn_does_see_small_perturbations():
    """Contrast with the binary CNN: the same sub-threshold change moves the ordinary CNN's logits."""
    torch.manual_seed(0)
    net = CNN().eval()
    x = _images(2)
    with torch.no_grad():
        assert (net(x) - net((x + 0.01).clamp(0, 1))).abs().max() > 1e-6


# --- nearest neighbour ------------------------------------------------------------------------


def test_nearest_neighbour_logits_equal_brute_force_with_chunking():
    gen = torch.Generator().manual_seed(0)
    train_x = torch.rand(53, 1, 28, 28, generator=gen)
    train_y = torch.randint(0, 10, (53,), generator=gen)
    train_y[:10] = torch.arange(10)  # every class present
    query = torch.rand(7, 1, 28, 28, generator=gen)
    model = NearestNeighbour(train_x, train_y, chunk=8)  # 7 chunks, the last partial
    logits = model(query)
    expected = torch.empty(7, 10, dtype=torch.float64)
    for i in range(7):
        for c in range(10):
            members = train_x[train_y == c].double().flatten(1)
            expected[i, c] = -(members - query[i].double().flatten()).norm(dim=1).min()
    torch.testing.assert_close(logits.double(), expected, rtol=0, atol=1e-4)
    torch.testing.assert_close(model(query), NearestNeighbour(train_x, train_y, chunk=1000)(query))


def test_nearest_neighbour_predicts_the_label_of_the_nearest_training_point():
    gen = torch.Generator().manual_seed(1)
    train_x = torch.rand(40, 784, generator=gen)
    train_y = torch.randint(0, 10, (40,), generator=gen)
    query = torch.rand(25, 784, generator=gen)
    pred = NearestNeighbour(train_x, train_y, chunk=6)(query).argmax(1)
    nearest = torch.cdist(query.double(), train_x.double()).argmin(1)
    assert torch.equal(pred, train_y[nearest])


def test_nearest_neighbour_gives_logit_zero_to_a_training_points_own_class():
    """||x||^2 + ||t||^2 - 2 x.t in float32 leaves ~1e-4 in d^2 at d = 0, so ~1e-2 in the logit."""
    gen = torch.Generator().manual_seed(2)
    train_x = torch.rand(30, 1, 28, 28, generator=gen)
    train_y = torch.arange(30) % 10
    logits = NearestNeighbour(train_x, train_y, chunk=4)(train_x[:12])
    own = logits[torch.arange(12), train_y[:12]]
    torch.testing.assert_close(own, torch.zeros(12), rtol=0, atol=3e-2)
    assert torch.equal(logits.argmax(1), train_y[:12])
    assert (logits.max(1).values - logits.topk(2, 1).values[:, 1]).min() > 5  # other classes far


def test_nearest_neighbour_class_without_training_points_gets_minus_infinity():
    train_x = torch.rand(6, 784, generator=torch.Generator().manual_seed(3))
    train_y = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = NearestNeighbour(train_x, train_y)(train_x[:2])
    assert torch.isinf(logits[:, 3:]).all() and (logits[:, 3:] < 0).all()


# --- PGD --------------------------------------------------------------------------------------


def _linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()


@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_stays_in_the_eps_ball_and_the_image_range(random_start):
    model = _linear_model()
    x = _images(8)
    x[:, :, :4] = 0.0
    x[:, :, -4:] = 1.0  # pixels at the range boundaries, where clipping matters
    y = torch.arange(8)
    adv = pgd_linf(model, x, y, eps=0.3, steps=10, step_size=0.1, random_start=random_start,
                   generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= 0.3 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert not adv.requires_grad


def test_pgd_increases_the_loss_of_a_linear_model():
    model = _linear_model()
    x = _images(16)
    with torch.no_grad():
        y = model(x).argmax(1)  # labels the model gets right
        clean = F.cross_entropy(model(x), y, reduction="none")
    adv = pgd_linf(model, x, y, eps=0.1, steps=10, step_size=0.025,
                   generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        attacked = F.cross_entropy(model(adv), y, reduction="none")
    assert (attacked > clean).all()
    assert attacked.mean() > clean.mean() + 0.1


def test_pgd_without_steps_and_random_start_returns_the_input():
    model = _linear_model()
    x = _images(3)
    adv = pgd_linf(model, x, torch.zeros(3, dtype=torch.long), eps=0.3, steps=0, step_size=0.1,
                   random_start=False)
    assert torch.equal(adv, x)


def test_pgd_accuracy_counts_an_image_only_if_clean_and_every_restart_fail_to_break_it():
    model = _linear_model()
    x = _images(64)
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = pred.clone()
    y[:8] = (pred[:8] + 1) % 10  # wrong when clean: never robust, even at eps = 0
    assert pgd_accuracy(model, x, y, eps=0.0, steps=5, step_size=0.01) == 56 / 64
    # per image, the robust set under more restarts is a subset: the accuracy never rises
    accs = [pgd_accuracy(model, x, y, 0.05, 5, 0.01, restarts=r, batch_size=10,
                         generator=torch.Generator().manual_seed(1)) for r in (1, 4)]
    assert accs[1] <= accs[0] < 56 / 64  # PGD breaks some of a plain linear model's images
    assert pgd_accuracy(model, x, y, 0.3, 20, 0.05) <= 0.05  # a large ball breaks nearly all


def test_pgd_accuracy_equals_an_explicit_count_of_rechecked_adversarials():
    model = _linear_model()
    x, y = _images(20), torch.arange(20) % 10
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    adv = pgd_linf(model, x[ok], y[ok], 0.05, 5, 0.01, generator=gen)
    with torch.no_grad():
        expected = (model(adv).argmax(1) == y[ok]).sum().item() / 20
    got = pgd_accuracy(model, x, y, 0.05, 5, 0.01, generator=torch.Generator().manual_seed(3))
    assert got == expected
