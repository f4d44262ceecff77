"""Every family at its best: how the best classical preset was chosen, and the shipped table.

The best classical preset (a mixture of probabilistic PCA per class, sampled without its pixel
noise) has two knobs, components and rank. They are chosen here by the Frechet distance of
its samples to a validation split of the training digits (fit on 80%, judged against the
other 20%), never the held-out digits the scoreboard uses. The scoreboard figures come from
the table that ``python -m genlib.scoreboard`` shipped (the Compare page's).
"""

from __future__ import annotations

import numpy as np

from genlib import load_mnist, metrics, scoreboard
from genlib.classifier import load_classifier
from genlib.data import stratified_split
from genlib.gaussian import ClassConditionalMixture

GRID = [(k, r) for k in (3, 5, 10, 15) for r in (5, 10, 20)]


def rows():
    mnist = load_mnist("sample")
    judge = load_classifier()
    X, y = mnist.train.images, mnist.train.labels
    fit_idx, val_idx = stratified_split(y, 0.2, seed=1)
    val_feats = judge.features(X[val_idx])
    scores = {}
    for k, r in GRID:
        model = ClassConditionalMixture(k, "pca", rank=r, sample_noise=False).fit(
            X[fit_idx], y[fit_idx])
        fds = [metrics.frechet_distance(
            judge.features(model.sample(len(val_idx), rng=seed, prior="uniform").images),
            val_feats) for seed in (0, 1)]
        scores[k, r] = float(np.mean(fds))
        yield {"benchmark": f"validation Frechet: {k} components x rank {r}",
               "value": scores[k, r], "unit": "", "target": ""}
    k, r = min(scores, key=scores.get)
    yield {"benchmark": "chosen: components x rank (the registry's best classical row)",
           "value": k * 100 + r, "unit": "kkrr", "target": "(15 x 20 on 2026-12-03)"}

    table = scoreboard.load_table(mnist, 1000, 0, True)
    targets = {"Best classical": "<= 15", "GAN, MLP": "<= 15", "GAN, DCGAN": "<= 8",
               "VAE, convolutional": "<= 15"}
    for name, row in table.items():
        target = next((t for p, t in targets.items() if name.startswith(p)), "")
        yield {"benchmark": f"scoreboard Frechet: {name}", "value": row["frechet"],
               "unit": "", "target": target}
    for name, row in table.items():
        yield {"benchmark": f"scoreboard coverage / density: {name}",
               "value": row["coverage"], "unit": f"/ {row['density']:.2f}", "target": ""}
