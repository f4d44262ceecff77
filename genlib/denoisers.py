"""The networks of :mod:`genlib.diffusion` in numpy: ``net(x_t, t, classes) -> raw output``.

Every denoiser here takes a batch of states ``x_t``, times ``t`` in [0, 1] and classes (0-9, or
the null class 10 for the unconditional model) and returns what its checkpoint's ``target``
says (the velocity for every shipped preset). The samplers in :mod:`genlib.diffusion` never look
inside one. Keras builds the same layers to train them (:mod:`genlib.diffusion_train`), and the
weights map one to one, so numpy gives Keras' outputs to float32 round-off (tested).

numpy only: nothing here imports TensorFlow.
"""

from __future__ import annotations

import numpy as np

from genlib import nn

__all__ = ["N_CLASSES", "NULL_CLASS", "N_FREQUENCIES", "time_features", "architecture",
           "MLPDenoiser"]

N_CLASSES = 10
NULL_CLASS = 10  # "no class": what the network sees for the unconditional model
N_FREQUENCIES = 8  # time features: sin and cos of pi 2^k t, k < 8


def time_features(t) -> np.ndarray:
    """Sinusoidal features of t in [0, 1]: (n,) -> (n, 2 * N_FREQUENCIES) float32.

    ``sin(pi 2^k t)`` and ``cos(pi 2^k t)``: the slowest spans the whole path, the fastest
    changes over ~1/200 of it (the finest step grid). The training module computes the same
    in TensorFlow (tested equal).
    """
    t = np.asarray(t, np.float32).reshape(-1, 1)
    angles = t * np.float32(np.pi) * (2.0 ** np.arange(N_FREQUENCIES, dtype=np.float32))
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def _silu(x):
    return x * nn.sigmoid(x)


# ----------------------------------------------------------------------------- the MLP (latent)


def architecture(dim: int, hidden: int, layers: int) -> list[dict]:
    """Layer specs (:mod:`genlib.nn` style) of the MLP denoiser; input ``[x, time, class]``."""
    spec = [{"type": "dense", "name": f"hidden{i}", "units": hidden, "activation": "silu"}
            for i in range(layers)]
    return spec + [{"type": "dense", "name": "out", "units": dim, "activation": None}]


class MLPDenoiser:
    """``net(x_t, t, classes) -> raw output`` (what the checkpoint's ``target`` says).

    The input is ``[x_t (d), time_features(t) (16), one_hot(class, 11)]``: the one-hot row
    through the first layer is a learned class embedding, the null class 10 included.
    """

    def __init__(self, weights: dict, dim: int, hidden: int, layers: int):
        self.dim, self.spec = int(dim), architecture(dim, hidden, layers)
        self.weights = {}
        for layer in self.spec:
            for part in ("kernel", "bias"):
                key = f"{layer['name']}/{part}"
                if key not in weights:
                    raise ValueError(f"weights missing for {key}")
                w = np.asarray(weights[key], np.float32)
                if not np.all(np.isfinite(w)):
                    raise ValueError(f"weights {key} contain NaN or infinite values")
                self.weights[key] = w
        self.in_dim = self.dim + 2 * N_FREQUENCIES + N_CLASSES + 1
        first = self.weights[self.spec[0]["name"] + "/kernel"]
        if first.shape[0] != self.in_dim:
            raise ValueError(f"the first layer takes {first.shape[0]} inputs, not {self.in_dim}")

    @staticmethod
    def inputs(x, t, classes, dim: int) -> np.ndarray:
        """The network's input rows: (n, d + 16 + 11)."""
        x = np.asarray(x, np.float32).reshape(-1, dim)
        n = len(x)
        t = np.broadcast_to(np.asarray(t, np.float32), (n,))
        onehot = np.zeros((n, N_CLASSES + 1), np.float32)
        onehot[np.arange(n), np.broadcast_to(np.asarray(classes, np.int64), (n,))] = 1
        return np.concatenate([x, time_features(t), onehot], axis=1)

    def __call__(self, x, t, classes) -> np.ndarray:
        h = self.inputs(x, t, classes, self.dim)
        with nn.single_threaded(len(h) <= 512):
            for layer in self.spec:
                h = nn.dense(h, self.weights[layer["name"] + "/kernel"],
                             self.weights[layer["name"] + "/bias"])
                if layer["activation"] == "silu":
                    h = _silu(h)
        return h
