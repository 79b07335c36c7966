"""Paper 000's evaluation: τ from the validation F1 saturation, test F1 against Q."""
import numpy as np
import pytest
from torch import nn

from osrkit import data, metrics, scoring
from osrkit.studies import gmvae_protocol


class FlatEmbedding(nn.Module):
    """A model whose embedding is its input: the nearest-centroid rules work on the 2-D points."""

    def forward(self, x):
        return x.flatten(1)

    def embed(self, x):
        return x.flatten(1)


def blob_split(seed=0):
    """Five 2-D blobs on a circle; classes 0 and 1 known, 2–4 unknown."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(5), 300)
    angles = 2 * np.pi * y / 5
    X = (np.stack([np.cos(angles), np.sin(angles)], 1) * 6 + rng.normal(0, 0.6, (len(y), 2))).astype(np.float32)
    return data.open_set_split(X, y, [0, 1], val_fraction=0.5, test_fraction=0.3, seed=seed)


def test_evaluate_rule_picks_the_saturation_threshold_and_scores_every_q():
    split = blob_split()
    sc = scoring.NearestCentroidScorer("distance").fit(FlatEmbedding(), split.X_train, split.y_train)
    ev = gmvae_protocol.evaluate_rule("NC-D", sc, split)
    assert ev.unknown_order == (2, 3, 4) and len(ev.f1_by_q) == 4
    assert ev.threshold == pytest.approx(ev.picked_tau * ev.scale)
    assert ev.picked_tau == metrics.saturation_threshold(ev.val_tau, ev.val_f1)
    pred, nov = sc.score(split.X_test)
    decided = metrics.predict_with_rejection(pred, nov, ev.threshold)
    assert ev.f1_by_q[-1] == pytest.approx(metrics.macro_f1(split.y_test, decided, 2))
    assert np.array_equal(ev.decisions(), decided)
    # separated blobs: the picked τ rejects the far unknown blobs and keeps most knowns
    assert np.all(decided[split.y_test == -1] == -1) and np.mean(decided[split.y_test >= 0] >= 0) > 0.7
    assert ev.f1_by_q.min() > 0.8 and ev.mean_f1 == pytest.approx(ev.f1_by_q.mean())


def test_a_fixed_threshold_skips_validation_and_accepting_everything_hurts_with_q():
    split = blob_split(1)
    sc = scoring.NearestCentroidScorer("distance").fit(FlatEmbedding(), split.X_train, split.y_train)
    ev = gmvae_protocol.evaluate_rule("accept all", sc, split, threshold=1e9, unknown_order=(4, 3, 2))
    assert ev.val_tau is None and ev.unknown_order == (4, 3, 2)
    assert ev.f1_by_q[0] > 0.95 and np.all(np.diff(ev.f1_by_q) < 0)     # more unknowns, lower F1
    no_source = data.OpenSetSplit(*[getattr(split, f) for f in ("X_train", "y_train", "X_val", "y_val", "X_test",
                                                                "y_test", "known_classes", "unknown_classes")])
    with pytest.raises(ValueError, match="source_test"):
        gmvae_protocol.evaluate_rule("x", sc, no_source)
