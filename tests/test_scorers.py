import math

import numpy as np
import pytest
import torch
from torch import nn

from osrkit import data, metrics, nets, scoring, train
from osrkit.methods import cool, crosr, dae, gmvae, softmax


class HandModel(nn.Module):
    """logits = x @ L; reconstruct(x) = recon(x): an autoencoder whose answers we know."""

    def __init__(self, recon, logits_matrix=None):
        super().__init__()
        self.L = nn.Parameter(torch.eye(2) if logits_matrix is None else logits_matrix)
        self.recon = recon

    def forward(self, x):
        return x.flatten(1) @ self.L

    def reconstruct(self, x):
        return self.recon(x)


def test_max_softmax_by_hand():
    model = HandModel(lambda x: x, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    sc = scoring.MaxSoftmaxScorer().fit(model)
    pred, nov = sc.score(np.array([[math.log(3.0), 0.0], [0.0, 5.0]], np.float32))
    # softmax([ln 3, 0]) = [0.75, 0.25]; softmax([0, 0]) = [0.5, 0.5]
    assert pred.tolist() == [0, 0]
    assert nov == pytest.approx([0.25, 0.5])
    assert sc.to_native(nov) == pytest.approx([0.75, 0.5])
    assert sc.predict(np.array([[math.log(3.0), 0.0], [0.0, 5.0]], np.float32), 0.3).tolist() == [0, -1]


def test_unfitted_scorer_says_what_to_do():
    sc = scoring.MaxSoftmaxScorer()
    assert sc.name == "MSP" and not sc.is_fitted
    with pytest.raises(scoring.NotFittedError, match=r"fit\(model, X, y\)"):
        sc.score(np.zeros((1, 2), np.float32))
    assert issubclass(scoring.NotFittedError, RuntimeError)
    assert sc.fit(HandModel(lambda x: x)) is sc and sc.is_fitted


def test_curvature_gate_is_eq_4():
    gamma = np.array([-1.0, 0.0, 0.2])
    assert dae.curvature_gate(gamma, beta=5.0) == pytest.approx([1.0, 1.0, math.exp(-1.0)])


def test_gamma_and_confidence_by_hand():
    """r(x) = x + 0.5 sin(x): ∂r_i/∂x_i = 1 + 0.5 cos(x_i), so γ = mean(0.5 cos x_i) and
    ‖r − x‖²/D = mean(0.25 sin² x_i)."""
    model = HandModel(lambda x: x + 0.5 * torch.sin(x))
    X = np.array([[0.0, 0.0], [0.0, math.pi], [math.pi, math.pi], [1.0, 2.0]], np.float32)
    sc = dae.DAEConfidenceScorer(alpha=4.0, beta=2.0).fit(model)
    parts = sc.components(X)
    gamma = 0.5 * np.cos(X.astype(np.float64)).mean(1)
    sq = (0.25 * np.sin(X.astype(np.float64)) ** 2).mean(1)
    assert parts.gamma == pytest.approx(gamma, abs=1e-6)
    assert parts.sq_error == pytest.approx(sq, abs=1e-6)
    expected = np.exp(-4.0 * sq) * np.where(gamma > 0, np.exp(-2.0 * gamma), 1.0)
    assert sc.confidence(parts) == pytest.approx(expected, abs=1e-6)
    # the origin is a fixed point (zero error) but a minimum of p (γ = 0.5): Γ cuts it to e^-1
    assert sc.confidence(parts)[0] == pytest.approx(math.exp(-1.0), abs=1e-6)
    pred, nov = sc.score(X)
    assert nov == pytest.approx(1 - expected, abs=1e-6)


def test_dae_components_do_not_depend_on_the_batching():
    """Batches are cut by input size (2-D points: thousands per batch); cutting the same
    inputs into batches of 3 gives the same components (the Jacobian here is exact)."""
    model = HandModel(lambda x: x + 0.5 * torch.sin(x))
    X = np.random.default_rng(1).normal(size=(10, 2)).astype(np.float32)
    whole = dae.DAEConfidenceScorer().fit(model).components(X)
    pieces = dae.DAEConfidenceScorer(batch_size=3).fit(model).components(X)
    for name in ("probs", "sq_error", "gamma"):
        assert getattr(pieces, name) == pytest.approx(getattr(whole, name), abs=1e-6)
    assert whole.gamma == pytest.approx(0.5 * np.cos(X.astype(np.float64)).mean(1), abs=1e-6)


def test_hutchinson_is_exact_for_diagonal_maps_and_close_for_dense_ones():
    x = torch.randn(4, 6)
    diag_map = lambda v: v * torch.arange(1.0, 7.0)
    est, _ = dae.jacobian_diagonal(diag_map, x, method="hutchinson", n_probes=3)
    assert torch.allclose(est, torch.arange(1.0, 7.0).expand(4, 6))

    torch.manual_seed(0)
    A = torch.randn(50, 50) * 0.1 + torch.eye(50)
    est, _ = dae.jacobian_diagonal(lambda v: v @ A.t(), torch.randn(2, 50), method="hutchinson", n_probes=400)
    exact, _ = dae.jacobian_diagonal(lambda v: v @ A.t(), torch.randn(2, 50), method="exact")
    assert torch.allclose(exact[0], torch.diagonal(A))
    # γ only needs the mean of the diagonal: the estimator gets it to within a few hundredths
    assert abs(est.mean(1) - torch.diagonal(A).mean()).max() < 0.03


def test_jacobian_diagonal_refuses_bad_method_and_shape():
    with pytest.raises(ValueError, match="method"):
        dae.jacobian_diagonal(lambda v: v, torch.zeros(1, 2), method="finite")
    with pytest.raises(ValueError, match="same size"):
        dae.jacobian_diagonal(lambda v: v[:, :1], torch.zeros(1, 2))


def test_dae_scorer_ranks_far_points_as_unknown():
    # r(x) = 0.5 x is the denoiser of a Gaussian at the origin: r(x) − x ∝ ∇ log p
    model = HandModel(lambda x: 0.5 * x)
    rng = np.random.default_rng(0)
    near = rng.normal(0, 0.2, (100, 2)).astype(np.float32)
    far = (rng.normal(0, 0.2, (100, 2)) + 3.0).astype(np.float32)
    sc = dae.DAEConfidenceScorer(alpha=10, beta=5).fit(model)
    assert metrics.auroc(sc.score(near)[1], sc.score(far)[1]) == 1.0


def test_dae_scorer_needs_an_autoencoder_and_valid_settings():
    with pytest.raises(TypeError, match="reconstruct"):
        dae.DAEConfidenceScorer().fit(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="jacobian"):
        dae.DAEConfidenceScorer(jacobian="numeric")
    with pytest.raises(ValueError, match="alpha"):
        dae.DAEConfidenceScorer(alpha=-1)


def test_images_use_the_estimator_and_scaled_probabilities_follow_eq_6():
    model = dae.DAEClassifier(16, 3, hidden=(8,))
    X = np.random.default_rng(0).random((5, 1, 4, 4)).astype(np.float32)
    sc = dae.DAEConfidenceScorer(jacobian="auto").fit(model)
    parts = sc.components(X)
    assert parts.probs.shape == (5, 3) and parts.gamma.shape == (5,)
    scaled = sc.scaled_probabilities(parts)
    assert scaled.sum(1) == pytest.approx(sc.confidence(parts), abs=1e-6)


def test_short_training_on_rings_makes_the_dae_beat_softmax():
    """The lesson-01 finding at a small budget: background points are rejected by the dAE
    confidence, not by the softmax."""
    ring = data.load_dataset("rings", n_per_class=500, seed=0)
    X_known, _ = data.sample_rings(200, seed=1)
    X_bg = data.sample_background(400, seed=2)
    train.seed_everything(0)  # initial weights, independent of the tests run before
    plain = nets.MLPClassifier(2, 3)
    train.fit(plain, softmax.cross_entropy_loss, ring.X, ring.y, steps=1000, progress=False)
    net = dae.DAEClassifier(2, 3)
    train.fit(net, dae.DenoisingClassifierLoss(0.2), ring.X, ring.y, steps=2000, progress=False)
    soft = scoring.MaxSoftmaxScorer().fit(plain)
    conf = dae.DAEConfidenceScorer(40, 5).fit(net)
    auroc_soft = metrics.auroc(soft.score(X_known)[1], soft.score(X_bg)[1])
    auroc_dae = metrics.auroc(conf.score(X_known)[1], conf.score(X_bg)[1])
    assert auroc_dae > 0.9 and auroc_dae > auroc_soft + 0.2


def test_cool_scorer_uses_the_product_of_units():
    model = cool.COOLClassifier(num_classes=2, omega=2)
    sc = cool.COOLScorer().fit(model)
    X = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = cool.cool_confidence(model(torch.tensor(X)), 2, 2).numpy()
    pred, nov = sc.score(X)
    assert pred.tolist() == expected.argmax(1).tolist()
    assert nov == pytest.approx(1 - expected.max(1), abs=1e-6)
    with pytest.raises(TypeError, match="COOL"):
        cool.COOLScorer().fit(nets.PaperCNN())


def test_scaled_output_thresholds_c_times_y():
    model = HandModel(lambda x: x + 0.5 * torch.sin(x), torch.tensor([[2.0, 0.0], [0.0, 0.0]]))
    X = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
    plain = dae.DAEConfidenceScorer(alpha=4.0, beta=2.0).fit(model)
    scaled = dae.DAEConfidenceScorer(alpha=4.0, beta=2.0, output="scaled").fit(model)
    parts = plain.components(X)
    c = plain.confidence(parts)
    assert scaled.score(X)[1] == pytest.approx(1 - c * parts.probs.max(1), abs=1e-9)
    assert plain.score(X)[1] == pytest.approx(1 - c, abs=1e-9)
    with pytest.raises(ValueError, match="output"):
        dae.DAEConfidenceScorer(output="logits")


def test_choose_alpha_keeps_validation_accuracy():
    # three correct validation samples with errors 0, 0.01, 0.1 and y = 1: accepting
    # all three at 90% needs exp(-α·0.1) >= 0.9, i.e. α <= 1.05
    parts = dae.DAEComponents(np.eye(3), np.array([0.0, 0.01, 0.1]), np.array([-1.0, -1.0, -1.0]))
    sc = dae.DAEConfidenceScorer(beta=0.0)
    grid = np.array([0.5, 1.0, 2.0, 10.0, 20.0])
    assert dae.choose_alpha(sc, parts, np.arange(3), threshold=0.9, keep=1.0, grid=grid) == 1.0
    # keeping 2/3 of them allows exp(-α·0.01) >= 0.9, i.e. α <= 10.5
    assert dae.choose_alpha(sc, parts, np.arange(3), threshold=0.9, keep=0.6, grid=grid) == 10.0


def test_choose_alpha_compares_with_the_unscaled_thresholded_accuracy():
    # the third sample is correct but its y = 0.8 is below 90% already: no α can help it, so it
    # must not hold α down; the second (error 0.01) allows α <= 10.5
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.8, 0.1, 0.1]])
    parts = dae.DAEComponents(probs, np.array([0.0, 0.01, 0.0]), np.full(3, -1.0))
    sc = dae.DAEConfidenceScorer(beta=0.0)
    grid = np.array([0.5, 1.0, 10.0, 20.0])
    assert dae.choose_alpha(sc, parts, np.array([0, 1, 0]), threshold=0.9, keep=1.0, grid=grid) == 10.0


class FlatEmbedding(nn.Module):
    """A model whose embedding is its (flattened) input."""

    def forward(self, x):
        return x.flatten(1)

    def embed(self, x):
        return x.flatten(1)


def test_nc_u_equals_its_definition_on_hand_made_centroids():
    """Two points per subcluster: k-means puts each centroid at a pair's midpoint."""
    X = np.array([[0, 0.1], [0, -0.1], [4, 0.1], [4, -0.1],     # class 0: centroids (0,0), (4,0)
                  [0, 3.1], [0, 2.9]], dtype=np.float32)         # class 1: centroid (0,3)
    y = np.array([0, 0, 0, 0, 1, 1])
    ncu = scoring.NearestCentroidScorer("uncertainty", centroids_per_class=[2, 1]).fit_features(X, y)
    assert ncu.name == "NC-U" and ncu.is_fitted
    assert sorted(map(tuple, np.round(ncu.centroids, 6))) == [(0, 0), (0, 3), (4, 0)]
    x = np.array([[1.0, 0.0]])
    pred, u = ncu.score_features(x)
    # nearest (0,0) at 1; others: (4,0) at 3, (0,3) at √10
    assert pred[0] == 0 and u[0] == pytest.approx(1.0 / ((3.0 + math.sqrt(10.0)) / 2))
    ncd = scoring.NearestCentroidScorer("distance", centroids_per_class=[2, 1]).fit_features(X, y)
    assert ncd.name == "NC-D"
    assert ncd.score_features(np.array([[0.0, 2.0]]))[0][0] == 1 and ncd.score_features(x)[1][0] == pytest.approx(1.0)
    # the other rule on the same centroids: no second k-means, the first scorer unchanged
    twin = ncu.with_rule("distance", name="my NC-D")
    assert twin.name == "my NC-D" and twin.rule == "distance" and twin.centroids is ncu.centroids
    assert twin.score_features(x)[1][0] == pytest.approx(1.0)
    assert ncu.rule == "uncertainty" and ncu.score_features(x)[1][0] == pytest.approx(u[0])
    assert ncu.with_rule("distance").name == "NC-D" and twin.with_rule("uncertainty").name == "NC-U"
    with pytest.raises(ValueError, match="NC-D"):
        ncu.with_rule("cosine")


def test_nearest_centroid_scorers_rank_far_points_as_unknown():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], 50)
    centers = np.array([[0, 0], [5, 0], [0, 5]], dtype=float)
    X = centers[y] + rng.normal(0, 0.4, (150, 2))
    far = rng.normal(0, 0.4, (50, 2)) + [20, 20]
    between = rng.normal(0, 0.4, (50, 2)) + [2.5, 2.5]          # the open space between the classes
    for rule in ("distance", "uncertainty"):
        sc = scoring.NearestCentroidScorer(rule).fit_features(X, y)
        pred, known_nov = sc.score_features(X)
        assert np.mean(pred == y) > 0.98
        assert metrics.auroc(known_nov, sc.score_features(far)[1]) > 0.99
    # U sees the open space between centroids that d alone under-weights (paper 000, Alg. 2)
    ncu = scoring.NearestCentroidScorer("uncertainty").fit_features(X, y)
    assert metrics.auroc(ncu.score_features(X)[1], ncu.score_features(between)[1]) > 0.99
    # fitted on a model, the rule embeds the inputs itself (here the embedding is the input)
    on_model = scoring.NearestCentroidScorer("uncertainty").fit(FlatEmbedding(), X.astype(np.float32), y)
    np.testing.assert_allclose(on_model.centroids, ncu.centroids, atol=1e-5)
    pred_m, nov_m = on_model.score(between.astype(np.float32))
    assert pred_m.tolist() == ncu.score_features(between)[0].tolist()
    np.testing.assert_allclose(nov_m, ncu.score_features(between)[1], rtol=1e-4)
    with pytest.raises(TypeError, match="embed"):
        scoring.NearestCentroidScorer().fit(nn.Linear(2, 2), X.astype(np.float32), y)
    with pytest.raises(ValueError, match="NC-D"):
        scoring.NearestCentroidScorer("cosine")
    with pytest.raises(scoring.NotFittedError, match="not fitted"):
        scoring.NearestCentroidScorer().score(X)
    with pytest.raises(scoring.NotFittedError, match="not fitted"):
        scoring.NearestCentroidScorer().score_features(X)
    with pytest.raises(scoring.NotFittedError, match="score_features"):
        ncu.score(X)                                   # fitted on features: it has no model to embed with


def test_crosr_evt_rejects_far_points_at_the_paper_threshold():
    """CROSR+EVT on a fixed 'DHRNet' whose [y, z] is the input itself: Weibull tails on
    distances to the class means; inclusion probability 1 − CDF, threshold 0.5."""

    class Identity(nn.Module):
        num_classes = 2

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def embed(self, x):
            return x

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    X = np.zeros((200, 3), np.float32)
    X[:, 0], X[:, 1] = 5.0 * (y == 0), 5.0 * (y == 1)      # y-part: the logits
    X[:, :2] += rng.normal(0, 0.5, (200, 2))
    X[:, 2] = rng.normal(0, 0.5, 200)                       # z-part
    sc = crosr.CROSREVTScorer(tail_size=20).fit(Identity(), X, y)
    np.testing.assert_allclose(sc.evt.means, [X[y == 0].mean(0), X[y == 1].mean(0)], rtol=1e-5)
    pred, nov = sc.score(X)
    # the Weibull fits the 20 largest of 100 distances: about half of those lie past CDF 0.5
    assert np.mean(pred == y) > 0.99 and np.mean(nov > 0.5) < 0.15
    far = X[:20] + np.array([0, 0, 8.0], np.float32)
    assert np.all(sc.predict(far, 0.5) == -1)
    assert np.allclose(sc.to_native(nov), 1 - nov)
    with pytest.raises(TypeError, match="embed"):
        scoring.embedder(nn.Linear(2, 2))


def test_embedding_batches_the_model_embed_without_gradients():
    model = gmvae.SupervisedGMVAE(2, 2, in_dim=4, hidden=(8,), z_dim=3)
    X = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    out = scoring.embedder(model, batch_size=3)(X)
    assert isinstance(out, np.ndarray) and out.shape == (10, 3)
    np.testing.assert_allclose(out, model.embed(torch.as_tensor(X)).detach().numpy(), rtol=1e-5, atol=1e-6)
