"""Class-conditional Gaussians: genlib's fit and sampling beside the tutorials' way, in one run.

The tutorials' way: ``np.cov`` per class (float64) to fit, and one
``scipy.stats.multivariate_normal.rvs`` call per sample (it factorises the covariance
every call). genlib: per class, a float32 ``A @ A.T`` (BLAS syrk) of the pixels that vary in
that class only and one Cholesky factor of that block at fit (classes side by side, one per
core), then ``mu + z @ L.T`` on those pixels and ``sqrt(reg)`` noise on the others.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.common import apptest_rerun_time, fresh_process_time, median_time

PAGE = "pages/2_Class_Conditional_Sampling.py"


def tutorial_fit(X: np.ndarray, y: np.ndarray, reg: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The tutorials' fit: a float64 mean and np.cov (plus the ridge) for each class."""
    out = []
    for k in np.unique(y):
        Xk = X[y == k]
        out.append((Xk.mean(0), np.cov(Xk, rowvar=False) + reg * np.eye(X.shape[1])))
    return out


def synthetic_mnist(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Digit-like data of MNIST's size: sample digits, shifted and noised, clipped to [0, 1]."""
    import genlib

    base = genlib.load_mnist("sample").train
    idx = rng.integers(0, len(base), n)
    X = base.flat()[idx] + rng.normal(0, 0.05, (n, 784)).astype(np.float32)
    X[:, base.flat().max(0) == 0] = 0.0  # keep the always-black border black, as in MNIST
    return np.clip(X, 0, 1, out=X), base.labels[idx]


def rows():
    from scipy.stats import multivariate_normal

    import genlib
    from genlib.gaussian import ClassConditionalGaussian

    yield {"benchmark": "machine load average (1 min) at start: compare ratios",
           "value": os.getloadavg()[0], "unit": "", "target": f"({os.cpu_count()} cores)"}
    yield {"benchmark": "import genlib.gaussian (fresh process)",
           "value": fresh_process_time("import genlib.gaussian"), "unit": "s", "target": "< 0.5 s"}

    rng = np.random.default_rng(0)
    try:
        full = genlib.load_mnist("keras")
        X60, y60, what = full.train.flat(), full.train.labels, "MNIST"
    except ValueError:
        X60, y60 = synthetic_mnist(60_000, rng)
        what = "synthetic"
    sample = genlib.load_mnist("sample").train
    reg = 1e-3
    for name, X, y, target in [(f"60,000 x 784 {what}", X60, y60, "< 0.5 s"),
                               ("4,000 x 784 sample", sample.flat(), sample.labels, "< 0.05 s")]:
        big = len(X) > 10_000
        ours = median_time(lambda X=X, y=y: ClassConditionalGaussian("full", reg).fit(X, y),
                           repeat=3 if big else 7)
        X64 = X.astype(np.float64)
        theirs = median_time(lambda X64=X64, y=y: tutorial_fit(X64, y, reg), repeat=3,
                             warmup=0 if big else 1)
        yield {"benchmark": f"fit 10 full covariances, {name}: genlib", "value": ours,
               "unit": "s", "target": target}
        yield {"benchmark": f"fit 10 full covariances, {name}: np.cov per class",
               "value": theirs, "unit": "s", "target": f"(genlib {theirs / ours:.1f}x faster)"}

    model = ClassConditionalGaussian("full", reg).fit(sample.images, sample.labels)
    gen = np.random.default_rng(1)
    ours = median_time(lambda: model.sample_given_y(3, 100, gen), repeat=21)
    yield {"benchmark": "100 samples of one class after fit: genlib", "value": ours * 1e3,
           "unit": "ms", "target": "< 3 ms"}
    mu, C = model.means_[3].ravel().astype(np.float64), model.covariance_matrix(3)
    per_draw = median_time(lambda: multivariate_normal.rvs(mu, C, random_state=gen), repeat=3,
                           warmup=0)
    yield {"benchmark": "1 sample, scipy multivariate_normal.rvs (tutorials' way)",
           "value": per_draw * 1e3, "unit": "ms",
           "target": f"(100 samples: {100 * per_draw:.1f} s, {100 * per_draw / ours:,.0f}x)"}

    X = genlib.load_mnist("sample").test.images
    t0 = time.perf_counter()
    model.score_samples(X)
    yield {"benchmark": f"score_samples of {len(X):,} test digits (float64 Cholesky)",
           "value": time.perf_counter() - t0, "unit": "s", "target": ""}

    # Full-covariance mixtures as the page fits them (300 digits per class): genlib's EM on the
    # active pixels in float32, beside scikit-learn's GaussianMixture (what it used before).
    from sklearn.mixture import GaussianMixture

    from genlib.gaussian import ClassConditionalMixture, cap_per_class

    keep = cap_per_class(sample.labels, 300)
    Xc, yc = sample.images[keep], sample.labels[keep]
    for m in (2, 3, 4):
        ours = median_time(lambda m=m: ClassConditionalMixture(m, "full", reg).fit(Xc, yc),
                           repeat=3, warmup=0)
        yield {"benchmark": f"fit {m}-component full mixtures, 10 classes: genlib",
               "value": ours, "unit": "s", "target": "<= 3 s"}
        if m == 3:
            X64 = Xc.reshape(len(Xc), -1).astype(np.float64)
            def sklearn_fit(X64=X64):
                for k in range(10):
                    GaussianMixture(3, covariance_type="full", reg_covar=reg,
                                    random_state=0).fit(X64[yc == k])

            theirs = median_time(sklearn_fit, repeat=1, warmup=0)
            yield {"benchmark": "fit 3-component full mixtures: sklearn GaussianMixture",
                   "value": theirs, "unit": "s",
                   "target": f"(genlib {theirs / ours:.1f}x faster)"}

    def resample(at, i):
        at.button(key="cc_resample").click()

    yield {"benchmark": "page re-render after Resample (AppTest server time)",
           "value": apptest_rerun_time(PAGE, resample) * 1e3, "unit": "ms",
           "target": "< 150 ms"}
