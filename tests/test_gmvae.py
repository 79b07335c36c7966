"""GMVAE ELBO terms (paper 000 §3.1) against hand computations on tiny tensors."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from osrkit.methods import crosr, gmvae


def _cb_log_density(x, lam):
    """Continuous Bernoulli: C(λ) λ^x (1−λ)^(1−x), C(λ) = 2 artanh(1−2λ)/(1−2λ)."""
    c = 2 * math.atanh(1 - 2 * lam) / (1 - 2 * lam)
    return math.log(c) + x * math.log(lam) + (1 - x) * math.log(1 - lam)


def _inputs(K=2):
    z = torch.tensor([[0.5, -1.0]])
    mu_z, logvar_z = torch.tensor([[0.4, -0.8]]), torch.tensor([[math.log(0.25), 0.0]])
    mu_w, logvar_w = torch.tensor([[1.0, -2.0]]), torch.tensor([[math.log(0.5), math.log(2.0)]])
    mu_prior = torch.tensor([[[0.0, -1.0], [3.0, 3.0]]])[:, :K]
    logvar_prior = torch.tensor([[[0.0, 0.0], [math.log(4.0), 0.0]]])[:, :K]
    x = torch.tensor([[0.3, 0.9]])
    lam = torch.tensor([[0.2, 0.5]])
    recon_logits = torch.log(lam / (1 - lam))
    return x, recon_logits, z, mu_z, logvar_z, mu_w, logvar_w, mu_prior, logvar_prior


def test_each_elbo_term_by_hand():
    args = _inputs()
    terms = gmvae.gmvae_terms(*args)
    # reconstruction: λ = 0.2 at x = 0.3, and λ = 0.5 (density 1·... C(0.5) = 2, λ^x(1−λ)^(1−x) = 0.5)
    assert terms.reconstruction.item() == pytest.approx(-(_cb_log_density(0.3, 0.2) + math.log(2 * 0.5)), rel=1e-5)
    # w-prior: ½ Σ (µ² + σ² − log σ² − 1)
    w_kl = 0.5 * ((1 + 0.5 - math.log(0.5) - 1) + (4 + 2 - math.log(2) - 1))
    assert terms.w_prior.item() == pytest.approx(w_kl, rel=1e-6)
    # subcluster posterior and latent covering from scipy densities
    z = np.array([0.5, -1.0])
    log_p = np.array([multivariate_normal([0, -1], np.diag([1, 1])).logpdf(z),
                      multivariate_normal([3, 3], np.diag([4, 1])).logpdf(z)])
    post = np.exp(log_p - log_p.max()) / np.exp(log_p - log_p.max()).sum()
    log_q = multivariate_normal([0.4, -0.8], np.diag([0.25, 1.0])).logpdf(z)
    assert terms.latent_covering.item() == pytest.approx(log_q - (post * log_p).sum(), rel=1e-5)
    assert terms.v_prior.item() == pytest.approx((post * np.log(post * 2)).sum(), rel=1e-4, abs=1e-7)
    assert terms.loss().item() == pytest.approx(terms.reconstruction.item() + terms.latent_covering.item()
                                                + terms.w_prior.item(), rel=1e-6)
    assert terms.loss(v_prior=True).item() == pytest.approx(terms.loss().item() + terms.v_prior.item(), rel=1e-6)


def test_subcluster_posterior_sums_to_one_and_is_one_hot_for_separated_subclusters():
    z = torch.tensor([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]])
    mu = torch.tensor([[0.0, 0.0], [10.0, 10.0]]).expand(3, 2, 2)
    post = gmvae.subcluster_posterior(z, mu, torch.zeros(3, 2, 2))
    assert torch.allclose(post.sum(1), torch.ones(3))
    assert post[0, 0] > 0.999 and post[1, 1] > 0.999
    assert torch.allclose(post[2], torch.tensor([0.5, 0.5]))   # equidistant: no preference


def test_one_subcluster_has_no_v_prior_and_covering_is_a_plain_log_ratio():
    terms = gmvae.gmvae_terms(*_inputs(K=1))
    z = np.array([0.5, -1.0])
    expected = (multivariate_normal([0.4, -0.8], np.diag([0.25, 1.0])).logpdf(z)
                - multivariate_normal([0, -1], np.eye(2)).logpdf(z))
    assert terms.v_prior.item() == pytest.approx(0.0, abs=1e-7)
    assert terms.latent_covering.item() == pytest.approx(expected, rel=1e-5)


def test_a_class_with_fewer_subclusters_masks_the_others():
    """K_c = 1 inside a K = 2 model: the posterior puts everything on subcluster 0, the
    covering equals the K = 1 value and the v-prior uses log K_c = 0."""
    x, logits, z, mu_z, lv_z, mu_w, lv_w, mu_p, lv_p = _inputs(K=2)
    masked = gmvae.gmvae_terms(x, logits, z, mu_z, lv_z, mu_w, lv_w, mu_p, lv_p, mask=torch.tensor([[True, False]]))
    single = gmvae.gmvae_terms(*_inputs(K=1))
    assert masked.latent_covering.item() == pytest.approx(single.latent_covering.item(), rel=1e-6)
    assert masked.v_prior.item() == pytest.approx(0.0, abs=1e-7)
    post = gmvae.subcluster_posterior(z, mu_p, lv_p, torch.tensor([[True, False]]))
    assert post.tolist() == [[1.0, 0.0]]


def test_dhrnet_loss_is_cross_entropy_plus_summed_squared_error():
    class Fixed(torch.nn.Module):
        def logits_and_reconstruction(self, x):
            return torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.full_like(x, 0.5)

    x = torch.tensor([[[[0.0, 1.0]]], [[[0.5, 0.5]]]])
    y = torch.tensor([0, 1])
    ce = (-math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(2)) / 2
    rec = (0.25 + 0.25 + 0.0 + 0.0) / 2          # per-image sums 0.5 and 0, averaged
    assert crosr.DHRNetLoss(rec_weight=3.0)(Fixed(), x, y).item() == pytest.approx(ce + 3 * rec, rel=1e-6)
    with pytest.raises(ValueError, match="rec_weight"):
        crosr.DHRNetLoss(rec_weight=-1)
