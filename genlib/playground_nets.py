"""The 2-D playground's neural models in numpy: their layer specs (shared with the Keras
trainers of :mod:`genlib.playground_train`), samplers built from a trainer's snapshot, and
what the page draws of them (GAN Lab's views, the flow's velocity field and particles).

The page never needs TensorFlow to look at a trained model: a snapshot carries the weights
as numpy arrays and everything here is :func:`genlib.nn.forward`.
"""

from __future__ import annotations

import numpy as np

from genlib import nn
from genlib.protocol import check_n_samples

__all__ = ["specs", "GANSampler", "VAESampler", "FlowSampler", "sampler", "LATENT", "HIDDEN"]

LATENT = 2  # the GAN's and the VAE's z: a grid of z can be drawn
HIDDEN = 128
FLOW_STEPS = 40  # Euler steps from noise (t = 0) to data (t = 1)


def _mlp(prefix: str, sizes: list[int], out: int, act: str = "relu") -> list[dict]:
    layers = [{"type": "dense", "units": u, "activation": act, "name": f"{prefix}{i}"}
              for i, u in enumerate(sizes)]
    return [*layers, {"type": "dense", "units": out, "activation": None,
                      "name": f"{prefix}{len(sizes)}"}]


def specs(family: str) -> dict:
    """{network name: (layer spec, input width)} of a family ("gan", "vae", "flow")."""
    h = [HIDDEN, HIDDEN]
    if family == "gan":
        return {"G": (_mlp("g", h, 2), LATENT), "D": (_mlp("d", h, 1, "leaky_relu"), 2)}
    if family == "vae":
        return {"E": (_mlp("e", h, 2 * LATENT), 2), "Dec": (_mlp("x", h, 2), LATENT)}
    if family == "flow":
        return {"V": (_mlp("v", [HIDDEN] * 3, 2), 3)}
    raise ValueError(f"unknown neural family {family!r}; choose from gan, vae, flow")


class _Sampler:
    """A trained network from a snapshot's weights (numpy only)."""

    family = ""

    def __init__(self, weights: dict, step: int = 0):
        self.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.step = int(step)
        self._specs = specs(self.family)

    def net(self, name: str, x) -> np.ndarray:
        return nn.forward(self._specs[name][0], self.weights, np.asarray(x, np.float32))


class GANSampler(_Sampler):
    """x = G(z), z ~ N(0, I_2). Views: D's score, G's image of a z grid, fakes' gradients."""

    family = "gan"

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((check_n_samples(n_samples), LATENT))
        return self.net("G", z).astype(np.float64)

    def score(self, xy) -> np.ndarray:
        """D's probability that each point is real, (m,)."""
        return nn.sigmoid(self.net("D", xy)[:, 0].astype(np.float64))

    def gradients(self, xy, eps: float = 1e-3) -> np.ndarray:
        """The direction G's loss pushes each fake: the gradient of D's logit at it, (m, 2)
        (central differences: two dimensions make them cheap and exact enough)."""
        xy = np.asarray(xy, np.float64)
        out = np.empty_like(xy)
        for i in range(2):
            step = np.zeros(2)
            step[i] = eps
            out[:, i] = (self.net("D", xy + step)[:, 0] - self.net("D", xy - step)[:, 0]) \
                / (2 * eps)
        return out

    def z_grid(self, lines: int = 11, points: int = 41, extent: float = 2.0) -> np.ndarray:
        """G's image of a grid of z: (2 * lines, points, 2) polylines (rows then columns)."""
        return _z_grid(lambda z: self.net("G", z), lines, points, extent)


class VAESampler(_Sampler):
    """x = decoder(z) + sigma * noise, z ~ N(0, I_2) (sigma: the learned output noise)."""

    family = "vae"

    @property
    def sigma(self) -> float:
        return float(np.exp(self.weights["log_sigma"].reshape(-1)[0]))

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        rng = np.random.default_rng(rng)
        n = check_n_samples(n_samples)
        z = rng.standard_normal((n, LATENT))
        return self.net("Dec", z).astype(np.float64) + self.sigma * rng.standard_normal((n, 2))

    def z_grid(self, lines: int = 11, points: int = 41, extent: float = 2.0) -> np.ndarray:
        """The decoder's image of a grid of z (its mean, without the output noise)."""
        return _z_grid(lambda z: self.net("Dec", z), lines, points, extent)


class FlowSampler(_Sampler):
    """Flow matching: dx/dt = v(x, t) carries N(0, I) at t = 0 to the data at t = 1."""

    family = "flow"

    def velocity(self, xy, t: float) -> np.ndarray:
        xy = np.asarray(xy, np.float32)
        return self.net("V", np.column_stack([xy, np.full(len(xy), t, np.float32)]))

    def paths(self, n_samples: int, rng=None, steps: int = FLOW_STEPS) -> np.ndarray:
        """Particles from noise to data: (steps + 1, n, 2), Euler steps."""
        rng = np.random.default_rng(rng)
        x = rng.standard_normal((check_n_samples(n_samples), 2)).astype(np.float32)
        out = [x]
        dt = 1.0 / steps
        for i in range(steps):
            x = x + dt * self.velocity(x, i * dt)
            out.append(x)
        return np.stack(out).astype(np.float64)

    def sample(self, n_samples: int, rng=None, steps: int = FLOW_STEPS) -> np.ndarray:
        return self.paths(n_samples, rng, steps)[-1]


def _z_grid(f, lines: int, points: int, extent: float) -> np.ndarray:
    ticks = np.linspace(-extent, extent, lines)
    along = np.linspace(-extent, extent, points)
    rows = np.stack([np.column_stack([along, np.full(points, v)]) for v in ticks])
    cols = np.stack([np.column_stack([np.full(points, v), along]) for v in ticks])
    z = np.concatenate([rows, cols]).reshape(-1, 2)
    return f(z).reshape(2 * lines, points, 2).astype(np.float64)


SAMPLERS = {"gan": GANSampler, "vae": VAESampler, "flow": FlowSampler}


def sampler(snapshot: dict):
    """The numpy sampler of a trainer's snapshot (``family``, ``weights``, ``step``)."""
    return SAMPLERS[snapshot["family"]](snapshot["weights"], snapshot.get("step", 0))
