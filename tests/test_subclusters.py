"""Choosing K (paper 000 §4) on data whose number of subclusters we know."""
import numpy as np
import pytest
import torch

from osrkit.methods import gmvae
from osrkit.studies import subclusters


def _curve(offset):
    """Covering falling with reconstruction, shifted down by ``offset``; one point per epoch."""
    rec = np.linspace(10.0, 5.0, 8)
    return rec, 0.3 * rec - offset


def test_covering_drop_is_the_mean_gap_on_the_shared_range():
    rec_b = np.linspace(9.0, 4.0, 6)
    assert subclusters.covering_drop(*_curve(0.0), rec_b, 0.3 * rec_b - 0.86) == pytest.approx(0.86)
    with pytest.raises(ValueError, match="share no reconstruction range"):
        subclusters.covering_drop(*_curve(0.0), np.array([1.0, 2.0]), np.array([0.0, 0.0]))


@pytest.mark.parametrize("offsets, expected", [((0.0, 0.86, 1.08), 2),    # the paper's "even": 0.86 then 0.22
                                               ((0.0, 1.23, 1.14), 2),    # "odd": 1.23 then −0.09
                                               ((0.0, 0.05, 0.1), 1),     # a second subcluster buys nothing
                                               ((0.0, 0.5, 1.2), 3),      # the drops grow: still rising at K = 3
                                               ((0.0, 1.58, 2.82), 2)])   # 1.58 then 1.24: diminishing, if barely
def test_choose_subclusters_picks_k_where_the_drop_diminishes(offsets, expected):
    curves = {k + 1: _curve(o) for k, o in enumerate(offsets)}
    k, drops = subclusters.choose_subclusters(curves)
    assert k == expected
    if offsets == (0.0, 1.58, 2.82):                                     # a stricter elbow asks for more
        assert subclusters.choose_subclusters(curves, ratio=0.5)[0] == 3
    assert drops[(1, 2)] == pytest.approx(offsets[1] - offsets[0])
    with pytest.raises(ValueError, match="without gaps"):
        subclusters.choose_subclusters({1: curves[1], 3: curves[3]})


def test_subclusters_from_drops_applies_the_same_rule_to_given_drops():
    assert subclusters.subclusters_from_drops({(1, 2): 1.77, (2, 3): 0.73}) == 2
    assert subclusters.subclusters_from_drops({(1, 2): 0.05, (2, 3): 2.0}) == 1
    assert subclusters.subclusters_from_drops({(1, 2): 0.5, (2, 3): 0.7, (3, 4): 0.9}) == 4
    with pytest.raises(ValueError, match="without gaps"):
        subclusters.subclusters_from_drops({(2, 3): 1.0})


def _two_blobs(n=128, seed=0):
    """One class of 16-pixel 'images' made of two well-separated kinds (like 0s and 2s)."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n)
    base = np.where(kind[:, None] == 0, np.r_[np.full(8, 0.9), np.full(8, 0.1)], np.r_[np.full(8, 0.1), np.full(8, 0.9)])
    return np.clip(base + rng.normal(0, 0.05, (n, 16)), 0.01, 0.99).astype(np.float32), kind


def test_mean_terms_is_repeatable_and_leaves_the_global_rng_alone():
    model = gmvae.SupervisedGMVAE(1, 2, in_dim=16, hidden=(16,), z_dim=2)
    X = torch.as_tensor(_two_blobs()[0])
    y = torch.zeros(len(X), dtype=torch.long)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = subclusters.mean_terms(model, X, y, samples=4, seed=7)
    assert torch.rand(1) == expected_next
    b = subclusters.mean_terms(model, X, y, samples=4, seed=7)
    assert a == b and set(a) == {"reconstruction", "latent_covering", "w_prior"}
    # averaging over more samples: the same quantity, estimated with less noise
    many = subclusters.mean_terms(model, X, y, samples=64, seed=1)["latent_covering"]
    assert abs(a["latent_covering"] - many) < 0.5 * abs(many) + 0.5


def test_two_true_subclusters_cover_better_with_k_2_and_the_curves_have_one_point_per_epoch():
    X, kind = _two_blobs(256)
    curves, trained = subclusters.subcluster_curves(X, ks=(1, 2), epochs=30, batch_size=32, lr=3e-3, z_dim=2,
                                                    hidden=(32,), samples=4, progress=False)
    assert set(curves) == {1, 2} and all(len(c.reconstruction) == 30 == len(c.latent_covering) for c in curves.values())
    late = {k: np.mean(c.latent_covering[-5:]) for k, c in curves.items()}
    assert late[2] < late[1] - 0.3
    # K = 2's subclusters are the two kinds of image (eq. 1 posterior), up to their order
    sub = trained[2].subcluster_of(torch.as_tensor(X), torch.zeros(len(X), dtype=torch.long)).numpy()
    agreement = max(np.mean(sub == kind), np.mean(sub != kind))
    assert agreement > 0.9
    rec, cov = curves[2].after(10)
    assert len(rec) == 20 and np.array_equal(cov, curves[2].latent_covering[10:])


def test_choose_per_class_averages_paired_runs_and_refuses_a_skip_that_leaves_no_curve():
    X0, _ = _two_blobs(128, seed=1)
    X1 = np.clip(0.5 + np.random.default_rng(2).normal(0, 0.05, (128, 16)), 0.01, 0.99).astype(np.float32)
    X, y = np.concatenate([X0, X1]), np.repeat([0, 1], 128)
    choices = subclusters.choose_per_class(X, y, ["two kinds", "one kind"], ks=(1, 2), epochs=20, batch_size=32,
                                           lr=3e-3, z_dim=2, hidden=(32,), samples=2, restarts=2, progress=False)
    assert [c.name for c in choices] == ["two kinds", "one kind"] and all(c.skip == 10 for c in choices)
    assert all(len(c.runs) == 2 and c.curves is c.runs[0] for c in choices)
    assert set(choices[0].drops) == {(1, 2)} == set(choices[0].drops_covering_only)
    # the drop is the mean of the two runs' own drops (K = 1 and K = 2 of one run share a seed)
    per_run = [d[(1, 2)] for d in choices[0].run_drops()]
    assert per_run[0] == pytest.approx(subclusters.mean_drops(choices[0].runs[:1], skip=10)[(1, 2)])
    assert choices[0].drops[(1, 2)] == pytest.approx(np.mean(per_run))
    assert choices[0].chosen == 2 and choices[0].drops[(1, 2)] > 0.1
    assert choices[0].drops[(1, 2)] > choices[1].drops[(1, 2)]      # one blob: a second subcluster buys less
    with pytest.raises(ValueError, match="skip"):
        subclusters.choose_per_class(X, y, epochs=4, skip=3, progress=False)
    with pytest.raises(ValueError, match="at least 3 epochs .*, got 2"):     # a short full-mode budget
        subclusters.choose_per_class(X, y, epochs=2, progress=False)
    with pytest.raises(ValueError, match="names"):
        subclusters.choose_per_class(X, y, ["only one"], epochs=4, progress=False)
    with pytest.raises(ValueError, match="restarts"):
        subclusters.choose_per_class(X, y, epochs=4, restarts=0, progress=False)


def test_one_run_starts_every_k_from_the_same_seed_and_log_from_skips_early_epochs():
    X, _ = _two_blobs(96, seed=4)
    curves, trained = subclusters.subcluster_curves(X, ks=(1, 2), epochs=8, batch_size=32, lr=3e-3, z_dim=2,
                                                    hidden=(16,), samples=2, log_from=5, seed=3, progress=False)
    # same encoders and decoder at the start: the trained encoders differ, their initial ones did not
    torch.manual_seed(3)
    fresh = gmvae.SupervisedGMVAE(1, 1, in_dim=16, hidden=(16,), z_dim=2)
    torch.manual_seed(3)
    fresh2 = gmvae.SupervisedGMVAE(1, 2, in_dim=16, hidden=(16,), z_dim=2)
    assert torch.equal(fresh.enc_z[0].weight, fresh2.enc_z[0].weight)
    curve = curves[2]
    assert curve.first_epoch == 6 and len(curve.reconstruction) == 3
    rec, _ = curve.after(5)
    assert len(rec) == 3 and len(curve.after(6)[0]) == 2          # epochs are counted from the first
    # the last point is the trained model's terms, with the run's Monte-Carlo seed
    assert subclusters.mean_terms(trained[2], torch.as_tensor(X), torch.zeros(96, dtype=torch.long), samples=2,
                                  seed=3)["reconstruction"] == pytest.approx(curve.reconstruction[-1], rel=1e-6)
    with pytest.raises(ValueError, match="log_from"):
        subclusters.subcluster_curves(X, ks=(1,), epochs=4, log_from=3, progress=False)


def test_final_loss_is_the_last_epochs_modified_elbo():
    curve = subclusters.TermCurve(2, reconstruction=[1.0, 0.5], latent_covering=[2.0, 0.3], w_prior=[0.1, 0.2])
    assert curve.final_loss == pytest.approx(0.5 + 0.3 + 0.2)
