"""ABS input gradients by the envelope theorem: dl_y/dx = -2 (x - D_y(z*_y)) / 784 at the found latent.

The random VAEs here have their decoder weights scaled up so that decoded images vary with z by ~0.2
per pixel (like trained decoders): plain random decoders are almost constant in z, and every gradient
formula of the form -2 (x - D_y(z)) would then agree whatever z it used.
"""

from __future__ import annotations

import foolbox as fb
import pytest
import torch
import torch.nn.functional as F
from small_abs import random_vae

from absnb import data
from absnb.models.abs import ABS, InferenceConfig, best_bank_start, project_l2
from absnb.models.binarize import binarize
from absnb.models.envelope import envelope_check, envelope_summary
from absnb.models.vae import VAE

CFG = InferenceConfig(n_samples=300, n_candidates=333, steps=5, lr=0.05, radius=5.0, alpha=440.0)
GAMMA = torch.linspace(0.9, 1.1, 10)


@pytest.fixture(scope="module")
def vaes() -> list[VAE]:
    return [random_vae(100 + c, decoder_scale=6.0) for c in range(10)]


@pytest.fixture(scope="module")
def model(vaes) -> ABS:
    return ABS(vaes, CFG, gamma=GAMMA).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Two random images and two real MNIST test digits."""
    x, _ = data.load_split("test")
    noise = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return torch.cat([noise, x[:2]])


def _jacobian(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d out[:, c] / d x per class, shape (B, 10, 784) (images are independent)."""
    return torch.stack([torch.autograd.grad(out[:, c].sum(), x, retain_graph=True)[0].flatten(1)
                        for c in range(out.shape[1])], 1)


def _closed_form(model: ABS, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """-2 gamma_y (x - D_y(z)) / 784, shape (B, 10, 784), for latents (10, B, 8)."""
    return -2 * model.gamma[:, None] * (x.reshape(len(x), 784)[:, None] - model.reconstruct(latents)) / 784


def test_the_decoders_depend_on_the_latent(model):
    """Sanity of the fixture: otherwise the tests below could not tell one latent from another."""
    assert model.bank_x.std(1).mean() > 0.1


def test_forward_values_do_not_change_with_requires_grad(model, images):
    with torch.no_grad():
        plain, elbo, p = model(images), model.elbo(images), model.probabilities(images)
    x = images.clone().requires_grad_(True)
    before = model.queries
    logits = model(x)
    assert model.queries - before == len(x)  # still one search per image
    assert logits.requires_grad
    assert torch.equal(logits, plain)
    assert torch.equal(plain, elbo * model.gamma)
    assert torch.equal(model.probabilities(x), p)
    with torch.no_grad():
        assert not model(x).requires_grad


def test_gradient_is_the_closed_form_at_the_searched_latent(model, images):
    x = images.clone().requires_grad_(True)
    grad = _jacobian(model(x), x)
    _, z_star = model.search(images)
    torch.testing.assert_close(grad, _closed_form(model, images, z_star), rtol=1e-6, atol=1e-9)
    z0 = best_bank_start(images.reshape(len(images), 784), model.bank_x, model.bank_z, model.bank_cost)
    assert not torch.allclose(grad, _closed_form(model, images, z0), rtol=1e-2, atol=0)


def test_finite_differences_of_the_full_inference_agree_with_the_envelope(model, images):
    """5 Adam steps: the latent moves little with x, so the agreement is close (measured: median relative
    error 0.05, correlation 0.999); a wrong sign or a missing factor 2 fails every bound."""
    table = envelope_check(model, images, directions=4)
    assert len(table) == 4 * 10 * 4
    assert list(table.columns) == ["image", "class", "direction", "fd_slope", "envelope_slope"]
    s = envelope_summary(table)
    assert s["median relative error"] < 0.1
    assert s["correlation"] > 0.99 and s["rank correlation"] > 0.98
    assert 0.95 < s["median ratio"] < 1.05


def test_finite_differences_agree_tightly_once_the_search_converges(vaes, images):
    """The envelope gradient is exact at the optimum: with a converged search (100 steps of 0.02) the
    median relative error drops (measured 0.007), while the same formula at the bank start misses by
    ~30%. Rows where the search has not converged (a tenth or so) do not agree: medians only."""
    cfg = InferenceConfig(n_samples=300, n_candidates=333, steps=100, lr=0.02)
    model = ABS(vaes, cfg)
    table = envelope_check(model, images, directions=2)
    s = envelope_summary(table)
    assert s["median relative error"] < 0.03
    assert 0.98 < s["median ratio"] < 1.02
    assert s["rank correlation"] > 0.85
    flat = images.reshape(len(images), 784)
    z0 = best_bank_start(flat, model.bank_x, model.bank_z, model.bank_cost)
    v = torch.randn(len(images), 2, 784, generator=torch.Generator().manual_seed(0))
    v = v / v.norm(dim=2, keepdim=True)  # the directions envelope_check drew (same seed, same order)
    at_start = torch.einsum("ncp,ndp->ndc", _closed_form(model, images, z0), v).flatten().double().numpy()
    fd = table["fd_slope"]
    assert ((fd - at_start).abs() / fd.abs()).median() > 0.15


def _unrolled_elbo(model: ABS, x: torch.Tensor) -> torch.Tensor:
    """`ABS.elbo` with the graph kept through the Adam steps and projections (the bank start is an
    argmin, piecewise constant in x)."""
    cfg, beta1, beta2, eps = model.cfg, 0.9, 0.999, 1e-8
    flat = x.reshape(len(x), 784)
    z = best_bank_start(flat.detach(), model.bank_x, model.bank_z, model.bank_cost).requires_grad_(True)
    m, v, best = torch.zeros_like(z), torch.zeros_like(z), None
    for t in range(cfg.steps + 1):
        loss = (flat[None] - model.stacked(z)).pow(2).sum(-1) + 0.5 * z.pow(2).sum(-1)
        best = loss if best is None else torch.where(loss.detach() < best.detach(), loss, best)
        if t == cfg.steps:
            break
        (grad,) = torch.autograd.grad(loss.sum(), z, create_graph=True)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad.pow(2)
        step = cfg.lr * (m / (1 - beta1 ** (t + 1))) / ((v / (1 - beta2 ** (t + 1))).sqrt() + eps)
        z = project_l2(z - step, cfg.radius)
    return -best.T / 784


def test_autograd_through_the_unrolled_search_agrees_with_the_envelope(model, images):
    """Measured with 5 steps: cosine min 0.985 (median 0.998); of the class contrasts g_y - mean_c g_c,
    which are what a cross-entropy attack follows, min 0.977 (median 0.995)."""
    x = images.clone().requires_grad_(True)
    unrolled = _unrolled_elbo(model, x)
    with torch.no_grad():
        torch.testing.assert_close(unrolled, model.elbo(images), rtol=0, atol=1e-6)
    g_unrolled = _jacobian(unrolled, x)
    g_env = _jacobian(model.elbo(x), x)
    cos = F.cosine_similarity(g_unrolled, g_env, dim=-1)
    contrast = F.cosine_similarity(g_unrolled - g_unrolled.mean(1, keepdim=True),
                                   g_env - g_env.mean(1, keepdim=True), dim=-1)
    assert cos.min() > 0.95 and cos.median() > 0.99
    assert contrast.min() > 0.93 and contrast.median() > 0.98
    ratio = g_unrolled.norm(dim=-1) / g_env.norm(dim=-1)
    assert 0.95 < ratio.median() < 1.05


def test_binary_abs_passes_the_gradient_straight_through_the_binarisation(vaes, images):
    binary = ABS(vaes, CFG, binary=True, gamma=GAMMA)
    with torch.no_grad():
        plain = binary(images)
    x = images.clone().requires_grad_(True)
    logits = binary(x)
    assert torch.equal(logits, plain)
    torch.testing.assert_close(binary.elbo(images), ABS(vaes, CFG).elbo(binarize(images)), rtol=0, atol=0)
    grad = _jacobian(logits, x)
    assert (grad.abs().sum(-1) > 0).all()
    _, z_star = binary.search(images)
    torch.testing.assert_close(grad, _closed_form(binary, binarize(images), z_star), rtol=1e-6, atol=1e-9)
    assert not torch.allclose(grad, _closed_form(binary, images, z_star), rtol=1e-2, atol=0)
    with pytest.raises(ValueError):
        envelope_check(binary, images)


def test_a_foolbox_gradient_attack_now_runs_on_abs(model, images, monkeypatch):
    labels = model(images).argmax(1)
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    _, adv, _ = fb.attacks.L2FastGradientAttack()(fmodel, images, labels, epsilons=1.0)
    moved = (adv - images).flatten(1).norm(dim=1)
    assert (moved > 0.5).all() and (moved < 1.0 + 1e-4).all()
    with torch.no_grad():
        loss = F.cross_entropy(model(images), labels, reduction="none")
        loss_adv = F.cross_entropy(model(adv), labels, reduction="none")
    assert (loss_adv > loss).all()
    # Without the envelope term (as before) there is no gradient and the attack cannot run.
    monkeypatch.setattr(model, "_envelope", lambda x, z: torch.zeros(len(x), 10))
    with pytest.raises(RuntimeError):
        fb.attacks.L2FastGradientAttack()(fmodel, images, labels, epsilons=1.0)
