import math

import pytest
import torch
import torch.nn.functional as F

from osrkit import nets, train
from osrkit.methods import crosr, dae, gmvae


def test_tied_decoder_shares_the_encoder_weights():
    torch.manual_seed(0)
    tied = dae.DAEClassifier(2, 3, hidden=(5, 4), tied=True)
    plain = nets.MLPClassifier(2, 3, hidden=(5, 4))
    n_params = lambda m: sum(p.numel() for p in m.parameters())
    # the symmetric dAE adds only the decoder biases (2 + 5) to the plain classifier
    assert n_params(tied) == n_params(plain) + 2 + 5
    x = torch.randn(6, 2)
    before = tied.reconstruct(x)
    with torch.no_grad():
        tied.encoder[0].weight.mul_(2.0)
    assert not torch.allclose(before, tied.reconstruct(x))


def test_tied_reconstruction_by_hand():
    model = dae.DAEClassifier(2, 2, hidden=(3,), tied=True)
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    with torch.no_grad():
        model.encoder[0].weight.copy_(W)
        model.encoder[0].bias.zero_()
        model.decoder_bias[0].copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([[2.0, 1.0]])
    h = F.relu(x @ W.t())                      # [2, 1, 1]
    assert torch.allclose(model.reconstruct(x), h @ W + torch.tensor([0.5, 0.0]))  # [3.5, 0]


def test_untied_decoder_has_its_own_weights():
    model = dae.DAEClassifier(4, 2, hidden=(3,), tied=False)
    assert model.decoder[0].weight.shape == (4, 3)
    assert model.reconstruct(torch.randn(5, 4)).shape == (5, 4)


def test_reconstruction_keeps_the_image_shape():
    model = dae.DAEClassifier(16, 2, hidden=(8,))
    x = torch.rand(3, 1, 4, 4)
    assert model.reconstruct(x).shape == x.shape and model(x).shape == (3, 2)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        nets.MLPClassifier(2, 2, activation="swish")


def test_denoising_loss_by_hand_without_noise():
    model = dae.DAEClassifier(2, 2, hidden=(3,))
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    expected = F.cross_entropy(model(x), y) + 0.5 * (model.reconstruct(x) - x).pow(2).mean()
    got = dae.DenoisingClassifierLoss(noise_std=0.0, rec_weight=0.5)(model, x, y)
    assert torch.allclose(got, expected)
    with pytest.raises(ValueError):
        dae.DenoisingClassifierLoss(noise_std=-1)


def test_gmvae_conditions_the_prior_on_the_class_and_trains():
    torch.manual_seed(0)
    model = gmvae.SupervisedGMVAE(2, subclusters=3, in_dim=16, hidden=(32, 16), z_dim=2, w_dim=3)
    w = torch.randn(4, 3)
    mu_a, _ = model.prior_params(w, torch.tensor([0, 0, 1, 1]))
    mu_b, _ = model.prior_params(w, torch.tensor([0, 1, 1, 0]))
    assert mu_a.shape == (4, 3, 2) and torch.allclose(mu_a[[0, 2]], mu_b[[0, 2]])
    assert not torch.allclose(mu_a[1], mu_b[1])          # same w, other class: other subclusters
    # two classes of 16-pixel "images": low and high intensities
    y = torch.arange(2).repeat_interleave(64)
    X = (0.2 + 0.6 * y[:, None] + 0.05 * torch.randn(128, 16)).clamp(0.01, 0.99)
    before = gmvae.GMVAELoss()(model, X, y).item()
    hist = train.fit(model, gmvae.GMVAELoss(), X, y, steps=300, batch_size=32, lr=3e-3, progress=False)
    after = gmvae.GMVAELoss()(model, X, y).item()
    assert math.isfinite(after) and after < before - 1.0 and len(hist.step_losses) == 300
    emb = model.embed(X).detach()
    # the latent means of the two classes separate
    assert (emb[y == 0].mean(0) - emb[y == 1].mean(0)).norm() > emb.std(0).mean()


def test_gmvae_with_one_k_per_class_masks_the_missing_subclusters():
    torch.manual_seed(0)
    model = gmvae.SupervisedGMVAE(2, subclusters=(1, 3), in_dim=16, hidden=(32, 16), z_dim=2)
    assert model.subclusters == (1, 3) and model.max_subclusters == 3
    assert model.subcluster_mask.tolist() == [[True, False, False], [True, True, True]]
    X, y = torch.rand(6, 16), torch.tensor([0, 0, 0, 1, 1, 1])
    assert model.subcluster_of(X, y)[:3].tolist() == [0, 0, 0]      # class 0 has one subcluster
    assert math.isfinite(model.terms(X, y).loss(v_prior=True).item())
    with pytest.raises(ValueError, match="one K_c"):
        gmvae.SupervisedGMVAE(2, subclusters=(1, 2, 3))


def test_dhrnet_gives_logits_latent_and_a_reconstruction_of_the_image():
    torch.manual_seed(0)
    model = crosr.DHRNet(3, top_latent=4)
    x = torch.rand(5, 1, 28, 28)
    y, z = model.latent(x)
    assert y.shape == (5, 3) and z.shape == (5, 49 + 49 + 4)
    assert torch.allclose(model(x), y) and torch.allclose(model.embed(x), torch.cat([y, z], 1))
    rec = model.reconstruct(x)
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 1
    # the reconstruction path really depends on each lateral code
    zs = model._forward_all(x)[1]
    base = model.decode(zs)
    for i in range(3):
        changed = list(zs)
        changed[i] = changed[i] + 1.0
        assert not torch.allclose(model.decode(changed), base)
    with pytest.raises(ValueError, match="divisible by 4"):
        crosr.DHRNet(2, image_size=30)
