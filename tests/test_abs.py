"""The ABS model: batched inference equals the per-class reference, and its building blocks are right."""

from __future__ import annotations

import copy

import pytest
import torch
from small_abs import random_vae
from torch import nn

from absnb import data, profiles
from absnb.models.abs import (
    ABS,
    InferenceConfig,
    StackedDecoder,
    bank_cost,
    best_bank_start,
    fit_gamma,
    latent_bank,
    optimise_latents,
    project_l2,
)
from absnb.models.binarize import binarize
from absnb.models.vae import LATENT_DIM, VAE

CFG = InferenceConfig(n_samples=300, n_candidates=333, steps=5, lr=0.05, radius=5.0, alpha=440.0)


@pytest.fixture(scope="module")
def vaes() -> list[VAE]:
    return [random_vae(100 + c) for c in range(10)]


@pytest.fixture(scope="module")
def model(vaes) -> ABS:
    return ABS(vaes, CFG)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Two random images and two real MNIST test digits."""
    x, _ = data.load_split("test")
    noise = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return torch.cat([noise, x[:2]])


@pytest.fixture(scope="module")
def elbo(model, images) -> torch.Tensor:
    return model.elbo(images)


# --- the batched search equals the reference loop -----------------------------------------------


def test_batched_elbo_equals_the_per_class_reference_loop(model, images, elbo):
    """The key property: grouped convs with folded BatchNorm give the same ELBOs as the ten decoders."""
    batched = elbo
    reference = model.elbo_loop(images)
    assert batched.shape == (len(images), 10)
    torch.testing.assert_close(batched, reference, rtol=0, atol=1e-5)
    assert (batched < 0).all()
    assert batched.std(1).min() > 1e-4  # the classes' decoders really differ


def test_stacked_decoder_equals_each_original_decoder(vaes):
    stacked = StackedDecoder([v.decoder for v in vaes])
    z = torch.randn(10, 6, LATENT_DIM, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        out = stacked(z)
        assert out.shape == (10, 6, 784)
        for c, vae in enumerate(vaes):
            torch.testing.assert_close(out[c], vae.decoder(z[c]), rtol=0, atol=1e-5)


def test_stacked_decoder_depends_on_batchnorm_statistics(vaes):
    """Sanity of the test above: with BatchNorm's stats reset, the decoders' outputs change."""
    plain = [copy.deepcopy(v.decoder) for v in vaes]
    for d in plain:
        for m in d.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
    z = torch.randn(10, 4, LATENT_DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        diff = (StackedDecoder(plain)(z) - StackedDecoder([v.decoder for v in vaes])(z)).abs().max()
    assert diff > 1e-2


def test_bank_images_are_the_decoded_bank_latents(model, vaes):
    assert model.bank_z.shape == (CFG.n_samples, LATENT_DIM)
    assert model.bank_x.shape == (10, CFG.n_samples, 784)
    with torch.no_grad():
        torch.testing.assert_close(model.bank_x[7], vaes[7].decoder(model.bank_z), rtol=0, atol=1e-5)


def test_elbo_equals_its_definition_at_the_optimum_of_a_brute_force_search(model, images, elbo):
    """l_y(x) is -min_z (||x - D_y(z)||^2 + ||z||^2 / 2) / 784: never above the best bank latent's value."""
    flat = images.reshape(len(images), 784)
    sq = (flat[:, None, None] - model.bank_x[None]).pow(2).sum(-1)  # (B, C, S)
    bank_best = -(sq + 0.5 * model.bank_z.pow(2).sum(-1)).min(-1).values / 784
    assert (elbo >= bank_best - 1e-6).all()  # the search starts at the best bank latent, keeps the best
    no_steps = ABS(list(model.vaes), InferenceConfig(n_samples=300, n_candidates=333, steps=0))
    torch.testing.assert_close(no_steps.elbo(images), bank_best, rtol=0, atol=1e-5)
    torch.testing.assert_close(model.bank_elbo(images), bank_best, rtol=0, atol=1e-5)


def test_search_in_chunks_equals_one_batched_search(model, images, monkeypatch):
    """Chunking the images (for the CPU cache) must not change any logit or latent."""
    whole_elbo, whole_z = model.search(images)
    monkeypatch.setattr(ABS, "CPU_CHUNK", 3)
    chunked_elbo, chunked_z = model.search(images)
    assert len(images) > 3
    torch.testing.assert_close(chunked_elbo, whole_elbo, rtol=0, atol=1e-6)
    torch.testing.assert_close(chunked_z, whole_z, rtol=0, atol=1e-5)


# --- building blocks --------------------------------------------------------------------------


def test_project_l2_scales_long_vectors_onto_the_sphere():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(50, LATENT_DIM, generator=gen) * 4
    out = project_l2(z, 5.0)
    norms = z.norm(dim=1)
    long = norms > 5
    assert long.any() and (~long).any()
    torch.testing.assert_close(out[long].norm(dim=1), torch.full((int(long.sum()),), 5.0))
    cos = torch.nn.functional.cosine_similarity(out[long], z[long], dim=1)
    torch.testing.assert_close(cos, torch.ones_like(cos))
    assert torch.equal(out[~long], z[~long])


def test_project_l2_scales_rather_than_clips_coordinates():
    e = torch.zeros(LATENT_DIM)
    e[0] = 10.0
    torch.testing.assert_close(project_l2(e, 5.0), torch.tensor([5.0] + [0.0] * 7))
    fours = torch.full((LATENT_DIM,), 4.0)  # norm 4 * sqrt(8) > 5
    out = project_l2(fours, 5.0)
    torch.testing.assert_close(out, torch.full((LATENT_DIM,), 5.0 / 8**0.5))
    inside = torch.tensor([3.0, 4.0] + [0.0] * 6)  # norm exactly 5
    assert torch.equal(project_l2(inside, 5.0), inside)


def test_project_l2_works_on_batched_latents_and_zero():
    z = torch.zeros(2, 3, LATENT_DIM)
    z[1, 2, 3] = 7.0
    out = project_l2(z, 5.0)
    assert out.shape == z.shape
    assert torch.isfinite(out).all()
    assert out[1, 2, 3] == pytest.approx(5.0) and out.abs().sum() == pytest.approx(5.0)


def test_latent_bank_keeps_the_smallest_norm_candidates_deterministically():
    cfg = InferenceConfig(n_samples=300, n_candidates=333, seed=7)
    bank = latent_bank(cfg)
    assert bank.shape == (300, LATENT_DIM)
    candidates = torch.randn(333, LATENT_DIM, generator=torch.Generator().manual_seed(7))
    norms = candidates.norm(dim=1)
    kept = set(map(tuple, bank.tolist()))
    assert kept <= set(map(tuple, candidates.tolist())) and len(kept) == 300
    dropped = [n for c, n in zip(candidates.tolist(), norms.tolist()) if tuple(c) not in kept]
    assert len(dropped) == 33
    assert bank.norm(dim=1).max() <= min(dropped)
    assert torch.equal(bank, latent_bank(cfg))
    assert not torch.equal(bank, latent_bank(InferenceConfig(n_samples=300, n_candidates=333, seed=8)))


def test_paper_bank_has_8000_latents_of_the_8888():
    bank = latent_bank(InferenceConfig())
    assert bank.shape == (8000, LATENT_DIM)
    assert bank.norm(dim=1).max() < 4.5  # chi(8) 90th percentile is ~3.8; the tail was dropped


def test_best_bank_start_minimises_error_plus_half_squared_norm():
    gen = torch.Generator().manual_seed(3)
    bank_z = torch.randn(40, LATENT_DIM, generator=gen) * 2
    bank_x = torch.rand(3, 40, 784, generator=gen)
    x = torch.rand(5, 784, generator=gen)
    chosen = best_bank_start(x, bank_x, bank_z, bank_cost(bank_x, bank_z))
    assert chosen.shape == (3, 5, LATENT_DIM)
    for c in range(3):
        for b in range(5):
            losses = [((x[b].double() - bank_x[c, s].double()).pow(2).sum()
                       + 0.5 * bank_z[s].double().pow(2).sum()).item() for s in range(40)]
            best = min(range(40), key=losses.__getitem__)
            assert torch.equal(chosen[c, b], bank_z[best]), (c, b)


def test_best_bank_start_prefers_the_smaller_latent_when_images_tie():
    """The prior term matters: equal reconstructions, different norms -> the smaller norm wins."""
    bank_z = torch.tensor([[3.0] + [0.0] * 7, [1.0] + [0.0] * 7])
    bank_x = torch.full((1, 2, 784), 0.5)
    chosen = best_bank_start(torch.full((1, 784), 0.5), bank_x, bank_z, bank_cost(bank_x, bank_z))
    assert torch.equal(chosen[0, 0], bank_z[1])


def _linear_problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(784, LATENT_DIM, generator=gen) * 0.1
    bias = torch.rand(784, generator=gen)
    x = torch.rand(1, 4, 784, generator=gen)
    z0 = torch.randn(3, 4, LATENT_DIM, generator=gen)
    return (lambda z: z @ weight.T + bias), x, z0


def _loss(decode, x, z):
    return (x - decode(z)).pow(2).sum(-1) + 0.5 * z.pow(2).sum(-1)


def test_optimise_latents_with_no_steps_returns_the_starting_loss():
    decode, x, z0 = _linear_problem()
    out, _ = optimise_latents(decode, x, z0, steps=0, lr=0.05, radius=5.0)
    assert out.shape == (3, 4)
    torch.testing.assert_close(out, _loss(decode, x, z0))


def test_optimise_latents_reduces_the_loss_of_a_linear_decoder():
    decode, x, z0 = _linear_problem()
    start = _loss(decode, x, z0)
    out, _ = optimise_latents(decode, x, z0, steps=50, lr=0.05, radius=5.0)
    assert (out < start - 1e-3).all()


def test_optimise_latents_never_returns_more_than_the_start_even_when_adam_overshoots():
    """With a huge step size the iterates get worse, but the best visited loss is returned."""
    decode, x, _ = _linear_problem()
    z_opt = torch.linalg.lstsq(torch.cat([decode(torch.eye(LATENT_DIM)) - decode(torch.zeros(LATENT_DIM)),
                                          torch.eye(LATENT_DIM) * 0.5**0.5], 1).T,
                               torch.cat([x[0] - decode(torch.zeros(LATENT_DIM)),
                                          torch.zeros(4, LATENT_DIM)], 1).T).solution.T
    z0 = z_opt[None]  # start at the exact optimum (inside the radius)
    assert z_opt.norm(dim=1).max() < 5
    start = _loss(decode, x, z0)
    out, _ = optimise_latents(decode, x, z0, steps=10, lr=3.0, radius=5.0)
    torch.testing.assert_close(out, start, rtol=1e-5, atol=1e-4)
    assert (out <= start).all()


def test_optimise_latents_equals_torch_adam_with_projection():
    """Reference: torch.optim.Adam (default betas) on the summed loss, projecting after each step."""
    decode, x, z0 = _linear_problem(1)
    steps, lr, radius = 8, 0.3, 2.0
    z = project_l2(z0, radius).clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best = _loss(decode, x, z).detach()
    for _ in range(steps):
        opt.zero_grad()
        _loss(decode, x, z).sum().backward()
        opt.step()
        with torch.no_grad():
            z.copy_(project_l2(z, radius))
            best = torch.minimum(best, _loss(decode, x, z))
    out, _ = optimise_latents(decode, x, project_l2(z0, radius), steps, lr, radius)
    torch.testing.assert_close(out, best, rtol=1e-5, atol=1e-4)


def test_optimise_latents_respects_the_radius():
    """If the unconstrained optimum is far outside the ball, the loss stays at the constrained level."""
    weight = torch.eye(784)[:, :LATENT_DIM]
    x = torch.zeros(1, 1, 784)
    x[0, 0, :LATENT_DIM] = 100.0  # the optimum is z = 100 / 1.5 per coordinate, norm ~189
    z0 = torch.zeros(1, 1, LATENT_DIM)
    out, _ = optimise_latents(lambda z: z @ weight.T, x, z0, steps=50, lr=1.0, radius=5.0)
    # Best possible in the ball: z along the all-ones direction with norm 5.
    z_best = torch.full((LATENT_DIM,), 5.0 / 8**0.5)
    bound = (x[0, 0, :LATENT_DIM] - z_best).pow(2).sum() + 0.5 * 25.0
    assert out.item() >= bound.item() - 1e-2


# --- the classifier ---------------------------------------------------------------------------


def test_forward_is_elbo_times_gamma(vaes, images, elbo):
    gamma = torch.linspace(0.9, 1.1, 10)
    model = ABS(vaes, CFG, gamma=gamma)
    assert torch.equal(model.gamma, gamma)
    torch.testing.assert_close(model(images), elbo * gamma, rtol=0, atol=0)


def test_probabilities_are_softmax_of_alpha_times_logits(model, images, elbo):
    p = model.probabilities(images)
    torch.testing.assert_close(p.sum(1), torch.ones(len(images)))
    torch.testing.assert_close(p, torch.softmax(440.0 * elbo, dim=1))
    assert torch.equal(p.argmax(1), elbo.argmax(1))


def test_binary_abs_binarises_its_input(vaes, model, images, elbo):
    binary = ABS(vaes, CFG, binary=True)
    on_binary = binary.elbo(images)
    torch.testing.assert_close(on_binary, model.elbo(binarize(images)), rtol=0, atol=0)
    assert not torch.allclose(on_binary, elbo)  # the gray-level input would give other ELBOs


# --- Binary ABS gamma fit ---------------------------------------------------------------------


def _toy_elbos(n_per_class: int = 30):
    """Class 0 samples score 5% too low on class 0 (class 1 wins); the rest are clearly right."""
    labels = torch.arange(10).repeat_interleave(n_per_class)
    elbos = torch.full((len(labels), 10), -0.20)
    elbos[torch.arange(len(labels)), labels] = -0.05
    zeros = labels == 0
    elbos[zeros, 0] = -0.105
    elbos[zeros, 1] = -0.100
    return elbos, labels


def _accuracy(elbos, labels, gamma):
    return ((elbos * gamma).argmax(1) == labels).float().mean().item()


def test_fit_gamma_fixes_a_class_whose_scores_are_too_low():
    elbos, labels = _toy_elbos()
    grid = torch.linspace(0.9, 1.1, 41)
    assert _accuracy(elbos, labels, torch.ones(10)) == pytest.approx(0.9)
    gamma = fit_gamma(elbos, labels, grid)
    assert _accuracy(elbos, labels, gamma) == 1.0  # class 0 now wins on its own samples
    assert gamma[0] <= 0.955  # only gamma_0 <= 0.952 (with gamma_1 = 1) fixes class 0
    assert all(any(abs(g - v) < 1e-6 for v in grid.tolist()) for g in gamma.tolist())


def test_fit_gamma_ties_go_to_the_value_closest_to_one_on_a_coarse_grid():
    elbos, labels = _toy_elbos()
    grid = torch.tensor([0.5, 0.8, 0.9, 1.0, 1.5])
    gamma = fit_gamma(elbos, labels, grid)
    assert gamma[0] == pytest.approx(0.9)  # 0.5, 0.8 and 0.9 all fix class 0; 0.9 is closest to 1
    torch.testing.assert_close(gamma[1:], torch.ones(9))


def test_fit_gamma_keeps_ones_for_separable_logits_on_a_coarse_grid():
    elbos, labels = _toy_elbos()
    elbos[labels == 0, 0] = -0.05
    gamma = fit_gamma(elbos, labels, torch.tensor([0.8, 0.9, 1.0, 1.1, 1.2]))
    assert torch.equal(gamma, torch.ones(10))


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_fit_gamma_keeps_ones_for_separable_logits_on_the_profiles_grids(profile):
    b = profiles.load(profile).binary_abs
    grid = torch.linspace(b.gamma_min, b.gamma_max, b.gamma_steps)
    elbos, labels = _toy_elbos()
    elbos[labels == 0, 0] = -0.05
    gamma = fit_gamma(elbos, labels, grid)
    torch.testing.assert_close(gamma, torch.ones(10))


def test_optimise_latents_returns_the_latent_of_the_best_loss():
    """The latent returned with the best loss reproduces that loss (Latent Descent decodes it)."""
    decode, x, z0 = _linear_problem()
    best, best_z = optimise_latents(decode, x, z0, steps=10, lr=0.3, radius=5.0)
    torch.testing.assert_close(_loss(decode, x, best_z), best)
