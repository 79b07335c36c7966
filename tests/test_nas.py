"""NAS-OSR (paper 002): the search space (eq. 1–2), the path decoder, the VAE losses (eq.
3–4), the eq. 5 rule in log space, and a search that never sees an unknown class."""
import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.special import erf
from torch.distributions import Normal, kl_divergence

from osrkit import data
from osrkit.methods import nas
from osrkit.methods.nas import space, vae


def test_eq1_mixture_equals_the_chosen_operation_when_the_weights_are_one_hot():
    torch.manual_seed(0)
    mixed = nas.MixedOperation(4).eval()
    x = torch.randn(3, 4, 6, 6)
    for i in range(len(nas.OPERATIONS)):
        weights = torch.nn.functional.one_hot(torch.tensor(i), len(nas.OPERATIONS)).float()
        torch.testing.assert_close(mixed(x, weights), mixed.ops[i](x))
    # and a 50/50 mixture is the mean of the two operations
    half = torch.tensor([0.5, 0.5, 0.0])
    torch.testing.assert_close(mixed(x, half), 0.5 * (x + mixed.ops[1](x)))


def _greedy_path(p: np.ndarray) -> tuple[int, ...]:
    """Walk forward taking the more probable outgoing edge (ties: keep), as long as the
    lowest resolution can still be reached."""
    layers, resolutions, _ = p.shape
    s, path = 0, []
    for layer in range(layers):
        must_go_down = resolutions - 1 - s >= layers - layer
        keep = p[layer, s, 0] if not must_go_down else -1.0
        down = p[layer, s + 1, 1] if s + 1 < resolutions else -1.0
        s = s + 1 if down > keep else s
        path.append(s)
    return tuple(path)


def test_the_path_decoder_finds_the_best_path_where_greedy_does_not():
    # L = 3 layers, 2 resolutions; probabilities normalised over each node's incoming edges
    p = np.zeros((3, 2, 2))
    p[0, 0, 0] = p[0, 1, 1] = 1.0          # layer 1: (1,0) only by keep, (1,1) only by down
    p[1, 0, 0] = 1.0                        # (2,0) only by keep
    p[1, 1] = (0.1, 0.9)                    # (2,1): keep from (1,1) 0.1, down from (1,0) 0.9
    p[2, 1] = (0.55, 0.45)                  # (3,1): keep from (2,1) 0.55, down from (2,0) 0.45
    assert np.array_equal(p > 0, space.edge_mask(3, 2))
    paths = {(0, 0, 1): 1 * 1 * 0.45, (0, 1, 1): 1 * 0.9 * 0.55, (1, 1, 1): 1 * 0.1 * 0.55}
    assert nas.decode_path(p) == max(paths, key=paths.get) == (0, 1, 1)
    assert _greedy_path(p) == (0, 0, 1)     # greedy stays at resolution 0 and ends on a worse path (0.45 < 0.495)


def test_supernet_decodes_a_valid_architecture_and_the_chosen_net_matches_its_output_shape():
    torch.manual_seed(0)
    net = nas.SuperNet(1, 4, layers=3, resolutions=2, stem_downsamplings=1)
    x = torch.rand(2, 1, 28, 28)
    out = net(x)
    assert out.shape == (2, 8, 7, 7)
    with torch.no_grad():
        net.alpha.zero_()
        net.alpha[:, 2] = 5.0
    arch = net.decode()
    assert arch.operations == ("3×3 conv×2",) * 3 and arch.path[-1] == 1
    assert nas.ChosenNet(1, 4, arch, 1)(x).shape == out.shape
    assert {id(p) for p in net.arch_parameters()}.isdisjoint(id(p) for p in net.weight_parameters())


def test_architectures_are_checked_and_fixed_and_random_ones_are_valid():
    with pytest.raises(ValueError, match="keeps or halves"):
        nas.Architecture(("skip", "skip"), (0, 2))
    with pytest.raises(ValueError, match="unknown operations"):
        nas.Architecture(("pool",), (0,))
    assert nas.fixed_architecture(4, 2) == nas.Architecture(("3×3 conv",) * 4, (0, 0, 0, 1))
    arch = nas.random_architecture(6, 3, np.random.default_rng(0))
    assert arch.path[-1] == 2 and arch.layers == 6


def test_kl_terms_match_the_closed_form_of_torch_distributions():
    torch.manual_seed(0)
    mu, logvar, prior = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(prior, torch.ones(5, 3))).sum(1)
    torch.testing.assert_close(vae.gaussian_kl(mu, logvar, prior), expected)
    expected0 = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(5, 3), torch.ones(5, 3))).sum(1)
    torch.testing.assert_close(vae.gaussian_kl(mu, logvar), expected0)
    assert float(vae.gaussian_kl(torch.zeros(1, 4), torch.zeros(1, 4))) == 0.0


def test_contrastive_loss_against_a_hand_computation():
    x = torch.zeros(1, 1, 2, 2)
    images = torch.stack([torch.full((1, 2, 2), v) for v in (0.5, 1.0, 1.5)])[None]   # (1, 3, 1, 2, 2)
    d = vae.image_distances(x, images)
    torch.testing.assert_close(d, torch.tensor([[1.0, 2.0, 3.0]]))                     # ‖x − x̂‖₂ = 2v
    by_hand = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-2) + math.exp(-3)))
    assert float(vae.contrastive_loss(d, torch.tensor([0]))) == pytest.approx(by_hand)
    by_hand_t = -math.log(math.exp(-4) / (math.exp(-2) + math.exp(-4) + math.exp(-6)))
    assert float(vae.contrastive_loss(d, torch.tensor([1]), temperature=2.0)) == pytest.approx(by_hand_t)


def test_eq5_in_log_space_equals_the_direct_product_where_that_does_not_underflow():
    rng = np.random.default_rng(0)
    U, means, stds = rng.normal(size=(20, 5)), rng.normal(size=(3, 5)), rng.uniform(0.5, 2, size=(3, 5))
    v = (U[:, None, :] - means[None]) / stds[None]
    direct = 1.0 - np.prod(erf(np.abs(v) / np.sqrt(2.0)), axis=-1)
    np.testing.assert_allclose(nas.class_probabilities(U, means, stds), direct, rtol=1e-10, atol=1e-12)
    # 1000 dimensions near the mean: the direct product is 0.0 for all, the log-space sums still rank them
    near = rng.uniform(0.01, 0.5, size=(1, 1000)) * np.array([[1.0], [1.1], [1.2], [1.3]])
    assert (np.prod(erf(near / np.sqrt(2.0)), axis=-1) == 0.0).all()
    logs = nas.log_box_mass(near)
    assert np.isfinite(logs).all() and np.all(np.diff(logs) > 0)
    # far from the mean: log erf(10/√2) ≈ −2Φ(−10) = −1.5e−23, which 1 − erf rounds to 0
    assert nas.log_box_mass(np.array([10.0])) == pytest.approx(-1.523970604832e-23, rel=1e-6)


@pytest.fixture(scope="module")
def small_task():
    task = data.load_task("mnist5k", [0, 1, 2, 3], seed=0)
    keep = np.concatenate([np.flatnonzero(task.y_train == c)[:30] for c in range(4)])
    test_keep = np.sort(np.concatenate([np.flatnonzero(task.y_test == c)[:10] for c in (0, 1)] +
                                       [np.flatnonzero(task.source_test == u)[:3] for u in task.unknown_classes]))
    X_test = task.X_test[test_keep].copy()
    X_test[task.y_test[test_keep] < 0] = np.nan          # an unknown sample reaching the search would be NaN
    return dataclasses.replace(task, X_train=task.X_train[keep], y_train=task.y_train[keep],
                               X_val=task.X_val[:40], y_val=task.y_val[:40], X_test=X_test,
                               y_test=task.y_test[test_keep], source_test=task.source_test[test_keep])


TINY = nas.NASConfig().updated(layers=2, channels=4, u_dim=4, z_dim=2, warmup_epochs=1, search_epochs=2, epochs=1,
                               pseudo_unknowns=1, batch_size=32)


def test_the_search_never_receives_an_unknown_class_sample(small_task, monkeypatch):
    seen = []
    encode = vae.OpenSetVAE.encode

    def recording(self, x):
        seen.append(x.detach().cpu().numpy())
        return encode(self, x)

    monkeypatch.setattr(vae.OpenSetVAE, "encode", recording)
    result = nas.search_for_task(small_task, TINY, seed=0, device="cpu", progress=False)
    inputs = np.concatenate(seen)
    assert np.isfinite(inputs).all()                      # no NaN image (= no unknown test sample) went in
    known = np.concatenate([small_task.X_train, small_task.X_val]).reshape(len(small_task.y_train) +
                                                                             len(small_task.y_val), -1)
    rows = {r.tobytes() for r in known.astype(np.float32)}
    assert all(r.tobytes() in rows for r in inputs.reshape(len(inputs), -1))   # every input is a known sample
    assert set(result.pseudo_unknown_classes) <= set(range(small_task.num_known))
    assert len(result.logs) == TINY.warmup_epochs + TINY.search_epochs
    assert result.best_epoch > TINY.warmup_epochs        # kept from a scored (search) epoch
    assert result.alpha_history.shape == (3, 2, 3)


def test_no_pseudo_unknowns_means_selection_by_closed_set_accuracy(small_task):
    result = nas.search_for_task(small_task, TINY.updated(pseudo_unknowns=0, search_epochs=1), device="cpu",
                                 progress=False)
    assert result.pseudo_unknown_classes == () and result.selection == "closed-set validation accuracy"
    assert 0.0 <= result.logs[-1]["score"] <= 1.0


def test_the_search_refuses_unknown_labels(small_task):
    with pytest.raises(ValueError, match="known classes only"):
        nas.search_architecture(small_task.X_test, small_task.y_test, small_task.X_val, small_task.y_val, TINY,
                                device="cpu", progress=False)


def test_pseudo_unknowns_are_known_classes_and_leave_two_known():
    assert nas.choose_pseudo_unknowns(6, 2, seed=0) == nas.choose_pseudo_unknowns(6, 2, seed=0)
    assert set(nas.choose_pseudo_unknowns(6, 2, seed=3)) <= set(range(6))
    with pytest.raises(ValueError, match="two known classes must stay"):
        nas.choose_pseudo_unknowns(3, 2, seed=0)


def test_the_counterfactual_rule_scores_an_image_that_no_class_mean_rebuilds_as_novel():
    torch.manual_seed(0)
    arch = nas.fixed_architecture(2, 2)
    model = nas.build_network(arch, (1, 8, 8), 2, TINY.updated(layers=2)).eval()
    with torch.no_grad():                                 # a decoder that outputs an all-black image
        model.decoder.up[-2].bias.fill_(-50.0)
    black, white = np.zeros((1, 1, 8, 8), np.float32), np.ones((1, 1, 8, 8), np.float32)
    scorer = nas.CounterfactualScorer().fit(model)
    assert scorer.score(black)[1][0] == pytest.approx(0.0, abs=1e-6)
    assert scorer.score(white)[1][0] == pytest.approx(8.0, abs=1e-4)     # ‖1 − 0‖₂ over 64 pixels


def test_ablation_names_are_checked(small_task):
    with pytest.raises(ValueError, match="unknown ablation"):
        nas.run_ablation("bigger", small_task, TINY)


def test_lesson_figures_and_widget_callbacks_draw_from_a_trained_network(small_task):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = nas.train_architecture(small_task, nas.fixed_architecture(2, 2), TINY, device="cpu", progress=False)
    view = nas.counterfactual_view(model, small_task.X_train[0])
    assert view.decodes.shape == (small_task.num_known, 1, 28, 28) and view.distances.shape == (small_task.num_known,)
    # the distances are those of the NAS-OSR rule, whose novelty is their minimum
    rule = nas.CounterfactualScorer().fit(model)
    assert rule.score(small_task.X_train[:1])[1][0] == pytest.approx(view.distances.min(), rel=1e-5)
    digits = [str(d) for d in small_task.known_classes]
    known = int(np.flatnonzero(small_task.y_test >= 0)[0])
    fig = nas.plot_counterfactuals({nas.image_label(small_task, known): nas.counterfactual_view(
        model, small_task.X_test[known])}, digits)
    assert len(fig.axes) == 1 + small_task.num_known
    assert nas.image_label(small_task, known).startswith("known")
    search_fig = nas.plot_search_space(4, 2, nas.fixed_architecture(4, 2))
    alpha_fig = nas.plot_alpha_history(np.full((3, 4, 3), 1 / 3), warmup_epochs=1, best_epoch=3)
    assert len(alpha_fig.axes) == 4 and search_fig.axes
    plt.close("all")


def test_paper_f1_uses_the_threshold_that_keeps_95_percent_of_training_samples(small_task):
    model = nas.train_architecture(small_task, nas.fixed_architecture(2, 2), TINY, device="cpu", progress=False)
    task = dataclasses.replace(small_task, X_test=np.nan_to_num(small_task.X_test, nan=0.5))
    rule = nas.CounterfactualScorer().fit(model)
    f1, threshold = nas.paper_f1(rule, task)
    train_novelty = rule.score(task.X_train)[1]
    assert np.mean(train_novelty <= threshold) >= 0.95 > np.mean(train_novelty < threshold)
    curve = nas.openness_f1(rule, task)
    assert len(curve) == 1 + len(task.unknown_classes) and curve[-1] == pytest.approx(f1)
    assert set(nas.summarize(model, task)) == {"auroc", "f1", "accuracy", "parameters"}


def test_eq5_rule_of_a_classifier_that_gets_a_class_wrong_uses_all_its_samples():
    """A one-epoch full-mode run classified no training sample of a class correctly: the
    eq. 5 rule then fits that class's Gaussian on all its samples and warns, instead of failing."""
    from osrkit import evt
    from osrkit.methods.nas.rules import ClassAttributeScorer

    U = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 5.0], [0.0, 7.0]])
    y = np.array([0, 0, 1, 1])
    rule = ClassAttributeScorer()
    rule.classifier = (np.array([[0.0, 0.0], [0.0, 1.0]]), np.zeros(2))    # says class 1 for every u
    with pytest.warns(evt.OpenSetWarning, match="class 0 has 0 of 2;"):
        rule.fit_features(U, y)
    np.testing.assert_allclose(rule.means, [[1.0, 2.0], [0.0, 6.0]])
    np.testing.assert_allclose(rule.stds, [[1.0 + 1e-6, 1.0 + 1e-6], [1e-6, 1.0 + 1e-6]])
