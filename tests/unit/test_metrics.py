"""genlib.metrics: Frechet distance, coverage, class consistency, memorisation, bits/pixel."""

import numpy as np
import pytest
import scipy.linalg

from genlib import metrics


def _direct_frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(ca @ cb).real
    return ((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * covmean)


def test_frechet_matches_direct_scipy_computation():
    """frechet_distance equals |mu_a-mu_b|^2 + tr(Ca + Cb - 2 sqrtm(Ca Cb)) by scipy."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 12)) @ rng.normal(size=(12, 12))
    b = rng.normal(0.5, 1.0, size=(500, 12)) @ rng.normal(size=(12, 12))
    assert metrics.frechet_distance(a, b) == pytest.approx(_direct_frechet(a, b), rel=1e-6)


def test_frechet_is_zero_for_identical_features():
    """A feature set is at distance 0 from itself, even with a singular covariance."""
    rng = np.random.default_rng(1)
    a = np.c_[rng.normal(size=(300, 5)), np.zeros((300, 3))]
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_rejects_mismatched_feature_sizes():
    """Feature sets of different widths raise a clear ValueError."""
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.frechet_distance(np.ones((5, 3)), np.ones((5, 4)))


def test_frechet_real_vs_real_is_far_below_real_vs_class_means(mnist, judge):
    """In judge features, held-out digits are much closer to training digits than mean images."""
    real = judge.features(mnist.test.images)
    train = judge.features(mnist.train.images[::4])  # the split is sorted by class: stride
    means = np.stack([mnist.train.images[mnist.train.labels == k].mean(0) for k in range(10)])
    mean_feats = judge.features(np.repeat(means, 100, axis=0))
    assert metrics.frechet_distance(real, train) * 5 < metrics.frechet_distance(real, mean_feats)


def test_class_consistency_counts_matches():
    """Class consistency is the share of predicted labels equal to the intended ones."""
    assert metrics.class_consistency([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75


def test_class_consistency_rejects_mismatched_lengths():
    """Different numbers of predicted and intended labels raise a ValueError."""
    with pytest.raises(ValueError, match="3 predicted labels but 2"):
        metrics.class_consistency([1, 2, 3], [1, 2])


def test_real_held_out_digits_have_near_perfect_coverage(mnist, judge):
    """Judged labels of the balanced held-out split have entropy near ln 10 and no flags."""
    cov = metrics.coverage(judge.predict(mnist.test.images))
    assert cov.entropy > 0.99 * np.log(10)
    assert cov.missing == () and cov.dominant == () and not cov.collapsed
    assert cov.shares.sum() == pytest.approx(1.0)


def test_one_digit_generator_gets_low_entropy(mnist, judge):
    """A generator that only makes 3s has entropy near 0, nine missing digits, 3 dominant."""
    threes = mnist.train.images[mnist.train.labels == 3][:200]
    cov = metrics.coverage(judge.predict(threes))
    assert cov.entropy < 0.3
    assert cov.dominant == (3,)
    assert len(cov.missing) == 9 and cov.collapsed


def test_coverage_of_a_single_label_is_exactly_zero_entropy():
    """Entropy of one repeated label is 0 nats (not -0.0 or NaN)."""
    cov = metrics.coverage(np.full(50, 7))
    assert cov.entropy == 0.0 and str(cov.entropy) == "0.0"


def test_coverage_rejects_labels_outside_0_to_9():
    """Labels that are not digits raise a ValueError."""
    with pytest.raises(ValueError, match="integers 0-9"):
        metrics.coverage([1, 10])


def test_nearest_neighbours_match_brute_force():
    """Chunked float32 search finds the same neighbours and distances as float64 brute force."""
    rng = np.random.default_rng(2)
    q, p = rng.random((70, 784)), rng.random((300, 784))
    idx, dist = metrics.nearest_neighbours(q, p, chunk=16)
    d = np.sqrt(((q[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    np.testing.assert_array_equal(idx, d.argmin(1))
    np.testing.assert_allclose(dist, d.min(1), rtol=1e-6)


def test_verbatim_training_copies_score_memorisation_ratio_near_zero(mnist):
    """A 'model' that returns training images verbatim has ratio ~0 and finds their indices."""
    pick = np.random.default_rng(3).choice(len(mnist.train), 300, replace=False)
    mem = metrics.memorisation(mnist.train.images[pick], mnist.train.images, mnist.test.images)
    assert mem.ratio < 0.01
    assert np.all(mem.distance < 1e-6)
    np.testing.assert_array_equal(mnist.train.images[mem.index], mnist.train.images[pick])


def test_real_held_out_digits_score_memorisation_ratio_near_one(mnist):
    """Half of the held-out digits, measured against the other half, have a ratio near 1."""
    test = mnist.test.images
    mem = metrics.memorisation(test[0::2], mnist.train.images, test[1::2])
    assert 0.9 < mem.ratio < 1.1


def test_memorisation_rejects_nan_samples(mnist):
    """Samples containing NaN raise a clear ValueError instead of silently ranking."""
    bad = np.full((2, 28, 28), np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN"):
        metrics.memorisation(bad, mnist.train.images, mnist.test.images)


def test_bits_per_pixel_conversion_round_trips():
    """784 ln 2 nats is 1 bit per pixel, and the conversions invert each other."""
    assert metrics.nats_to_bits_per_pixel(784 * np.log(2)) == pytest.approx(1.0)
    x = np.array([-500.0, 0.0, 123.4])
    np.testing.assert_allclose(
        metrics.bits_per_pixel_to_nats(metrics.nats_to_bits_per_pixel(x)), x)


def _direct_density_coverage(real, fake, k):
    """Naeem et al.'s definitions, written out with scipy's distance matrix."""
    from scipy.spatial.distance import cdist

    rr = cdist(real, real)
    np.fill_diagonal(rr, np.inf)
    radii = np.sort(rr, axis=1)[:, k - 1]
    inside = cdist(fake, real) <= radii[None, :]
    return inside.sum() / (k * len(fake)), inside.any(axis=0).mean()


def _direct_recall(real, fake, k):
    """Kynkaanniemi et al.'s improved recall: real points inside some sample's k-NN ball."""
    from scipy.spatial.distance import cdist

    ff = cdist(fake, fake)
    np.fill_diagonal(ff, np.inf)
    radii = np.sort(ff, axis=1)[:, k - 1]
    return (cdist(real, fake) <= radii[None, :]).any(axis=1).mean()


def test_density_coverage_and_recall_match_their_definitions():
    """On random points, each figure equals the paper's formula computed with scipy."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(250, 16))
    d, c = metrics.density_coverage(real, fake, 5)
    d_ref, c_ref = _direct_density_coverage(real, fake, 5)
    assert d == pytest.approx(d_ref, rel=1e-12) and c == pytest.approx(c_ref, rel=1e-12)
    assert metrics.recall(real, fake, 5) == pytest.approx(_direct_recall(real, fake, 5))


def test_real_digits_score_like_real_digits_and_ten_means_cover_little(mnist, judge):
    """Fresh real digits: density ~1, coverage ~0.97 (1 - 2^-5), recall high; ten repeated
    mean images: coverage and recall low."""
    ref = judge.features(mnist.test.images[0::2])
    real = judge.features(mnist.test.images[1::2])
    means = np.stack([mnist.train.images[mnist.train.labels == k].mean(0) for k in range(10)])
    repeated = judge.features(np.repeat(means, 50, axis=0))
    d, c = metrics.density_coverage(ref, real)
    assert 0.8 < d < 1.25 and c > 0.9
    assert metrics.recall(ref, real) > 0.8
    assert metrics.density_coverage(ref, repeated)[1] < 0.3
    assert metrics.recall(ref, repeated) < 0.1


def test_coverage_falls_as_pixel_noise_grows(mnist, judge):
    """Real digits with more and more pixel noise cover fewer real digits: noise is never
    read as variety (0.98 clean, ~0.83 at sd 0.2, ~0.41 at sd 0.35 here)."""
    ref = judge.features(mnist.test.images[0::2])
    clean = mnist.test.images[1::2]
    rng = np.random.default_rng(0)
    covered = []
    for sd in (0.0, 0.2, 0.35):
        noisy = np.clip(clean + rng.normal(0, sd, clean.shape), 0, 1).astype(np.float32)
        covered.append(metrics.density_coverage(ref, judge.features(noisy))[1])
    assert covered[0] > 0.9 and covered[0] > covered[1] > covered[2]
