"""The networks of :mod:`genlib.diffusion` in numpy: ``net(x_t, t, classes) -> raw output``.

Every denoiser here takes a batch of states ``x_t``, times ``t`` in [0, 1] and classes (0-9, or
the null class 10 for the unconditional model) and returns what its checkpoint's ``target``
says (the velocity for every shipped preset). The samplers in :mod:`genlib.diffusion` never look
inside one. Keras builds the same layers to train them (:mod:`genlib.diffusion_train`), and the
weights map one to one, so numpy gives Keras' outputs to float32 round-off (tested).

numpy only: nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from genlib import nn

__all__ = ["N_CLASSES", "NULL_CLASS", "N_FREQUENCIES", "time_features", "architecture",
           "MLPDenoiser", "group_norm", "unet_blocks", "unet_weight_shapes", "UNetDenoiser",
           "PixelSpace", "build"]

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
    """x * sigmoid(x) = x / (1 + exp(-x)): exp overflows to inf for x < -88, and x / inf = -0
    is the right limit."""
    with np.errstate(over="ignore"):
        e = np.exp(-x)
    e += 1
    return np.divide(x, e, out=e)


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


# ----------------------------------------------------------------------------- the U-Net (pixels)


def group_norm(x, gamma, beta, groups: int, epsilon: float = 1e-3):
    """Keras' GroupNormalization (channels last): (n, h, w, c) normalised per sample and group.

    Sums over the pixels are matrix products (a row of ones): ~10x faster than ``mean`` over
    a reshaped (n, h*w, groups, c/groups) view. Two passes (mean, then centred squares), as
    Keras' moments.
    """
    n, h, w, c = x.shape
    per = c // groups
    flat = x.reshape(n, h * w, c)
    ones = np.full((1, h * w), 1.0 / (h * w * per), np.float32)
    mean = np.repeat((ones @ flat).reshape(n, groups, per).sum(-1), per, axis=1)
    d = flat - mean[:, None, :]
    var = (ones @ (d * d)).reshape(n, groups, per).sum(-1)
    scale = np.repeat(1 / np.sqrt(var + np.float32(epsilon)), per, axis=1)[:, None, :] * gamma
    d *= scale
    d += beta
    return d.reshape(n, h, w, c)


def unet_blocks(channels) -> list[tuple[str, int, int]]:
    """The residual blocks of the U-Net: (name, input channels, output channels).

    Down: a block at each resolution (28, 14, 7 for three channel counts), a stride-2
    convolution between them; up: the coarser result projected (1 x 1) to the finer
    channels, upsampled (nearest), added to the skip and refined by a block.
    """
    c = [int(v) for v in channels]
    down = [(f"down{i}", ci, ci) for i, ci in enumerate(c)]
    up = [(f"up{i}", c[i], c[i]) for i in reversed(range(len(c) - 1))]
    return down + [("mid", c[-1], c[-1])] + up


def unet_weight_shapes(channels, emb: int, patch: int = 1) -> dict[str, tuple]:
    """Every weight the U-Net needs, by name, with its shape (Keras' layouts)."""
    c = [int(v) for v in channels]
    cond = 2 * N_FREQUENCIES + N_CLASSES + 1
    p2 = patch * patch
    shapes = {"emb0/kernel": (cond, emb), "emb0/bias": (emb,),
              "emb1/kernel": (emb, emb), "emb1/bias": (emb,),
              "stem/kernel": (3, 3, p2, c[0]), "stem/bias": (c[0],),
              "out_norm/gamma": (c[0],), "out_norm/beta": (c[0],),
              "out/kernel": (3, 3, c[0], p2), "out/bias": (p2,)}
    for name, ci, co in unet_blocks(c):
        shapes.update({f"{name}_norm1/gamma": (ci,), f"{name}_norm1/beta": (ci,),
                       f"{name}_conv1/kernel": (3, 3, ci, co), f"{name}_conv1/bias": (co,),
                       f"{name}_emb/kernel": (emb, co), f"{name}_emb/bias": (co,),
                       f"{name}_norm2/gamma": (co,), f"{name}_norm2/beta": (co,),
                       f"{name}_conv2/kernel": (3, 3, co, co), f"{name}_conv2/bias": (co,)})
    for i in range(len(c) - 1):
        shapes.update({f"downsample{i}/kernel": (3, 3, c[i], c[i + 1]),
                       f"downsample{i}/bias": (c[i + 1],),
                       f"project{i}/kernel": (1, 1, c[i + 1], c[i]),
                       f"project{i}/bias": (c[i],)})
    return shapes


def space_to_depth(x, p: int):
    """(n, h, w, c) -> (n, h/p, w/p, p*p*c): each p x p patch becomes one pixel's channels,
    in (row, column, channel) order."""
    if p == 1:
        return x
    n, h, w, c = x.shape
    return x.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(
        n, h // p, w // p, p * p * c)


def depth_to_space(x, p: int):
    """The inverse of :func:`space_to_depth`."""
    if p == 1:
        return x
    n, h, w, c = x.shape
    return x.reshape(n, h, w, p, p, c // (p * p)).transpose(0, 1, 3, 2, 4, 5).reshape(
        n, h * p, w * p, c // (p * p))


class UNetDenoiser:
    """A small class-conditional U-Net over 28 x 28 images: ``net(x_t, t, classes) -> output``.

    The condition ``[time_features(t) (16), one_hot(class, 11)]`` goes through two dense
    layers (``emb0``, ``emb1``) to an embedding that every residual block adds, projected to
    its channels, after its first convolution. A block is ``x + conv(silu(norm(conv(silu(
    norm(x))) + emb)))`` with GroupNorm; see :func:`unet_blocks` for the layout. The shipped
    preset (2 x 2 patches, 14 x 14 x 32 then 7 x 7 x 64) costs ~16 M multiply-adds per image;
    every 3 x 3 convolution is one im2col product, and ~half the time goes to the products.
    16 digits at 20 guided steps take ~0.25-0.3 s in numpy on two free cores, ~0.41 s on one;
    Keras' ``predict_on_batch`` loop took ~0.3 s in the same runs (``benchmarks/
    bench_diffusion.py``; when the second core is busy, numpy can be the slower).
    :mod:`genlib.denoisers_keras` builds the same network in Keras with the same names.
    """

    def __init__(self, weights: dict, channels, emb: int, groups: int, patch: int = 1):
        self.channels, self.emb, self.groups = [int(c) for c in channels], int(emb), int(groups)
        self.patch = int(patch)
        if self.patch not in (1, 2) or 28 // self.patch % 2 ** (len(self.channels) - 1):
            raise ValueError(f"patch {patch} with {len(self.channels)} levels does not divide "
                             "28 x 28 images evenly")
        if any(c % self.groups for c in self.channels):
            raise ValueError(f"channels {self.channels} must be multiples of groups "
                             f"{self.groups}")
        self.weights = {}
        for key, shape in unet_weight_shapes(self.channels, self.emb, self.patch).items():
            if key not in weights:
                raise ValueError(f"weights missing for {key}")
            w = np.asarray(weights[key], np.float32)
            if w.shape != shape:
                raise ValueError(f"weights {key} have shape {w.shape}, not {shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"weights {key} contain NaN or infinite values")
            self.weights[key] = w
        self.dim = 28 * 28
        self._prepare()

    @staticmethod
    def condition(t, classes, n: int) -> np.ndarray:
        """The condition rows ``[time_features(t), one_hot(class, 11)]``: (n, 27)."""
        t = np.broadcast_to(np.asarray(t, np.float32), (n,))
        onehot = np.zeros((n, N_CLASSES + 1), np.float32)
        onehot[np.arange(n), np.broadcast_to(np.asarray(classes, np.int64), (n,))] = 1
        return np.concatenate([time_features(t), onehot], axis=1)

    def _prepare(self):
        """What every call reuses: kernels as im2col matrices, the per-pixel-count averaging
        rows of GroupNorm, and every block's embedding projection in one matrix (with its
        first convolution's bias folded in: both are added to the same pixels)."""
        w = self.weights
        self._mats = {key[:-len("/kernel")]: np.ascontiguousarray(v.reshape(-1, v.shape[-1]))
                      for key, v in w.items() if key.endswith("/kernel") and v.ndim == 4}
        names = [name for name, _, _ in unet_blocks(self.channels)]
        self._shift_kernel = np.concatenate([w[f"{b}_emb/kernel"] for b in names], axis=1)
        self._shift_bias = np.concatenate([w[f"{b}_emb/bias"] + w[f"{b}_conv1/bias"]
                                           for b in names])
        ends = np.cumsum([w[f"{b}_conv1/bias"].size for b in names])
        self._shift_slices = {b: slice(e - w[f"{b}_conv1/bias"].size, e)
                              for b, e in zip(names, ends)}
        self._ones = {}
        for level, c in enumerate(self.channels):
            side = 28 // self.patch // 2 ** level
            per = c // self.groups
            self._ones[side * side, per] = np.full((1, side * side), 1 / (side * side * per),
                                                   np.float32)

    def _conv(self, name, xp, strides: int = 1) -> np.ndarray:
        """A 3 x 3 convolution of an already padded input, without its bias: (n, oh, ow, co).
        The caller adds the bias in a pass it makes anyway (the embedding, the residual)."""
        n, hp, wp, _ = xp.shape
        oh, ow = (hp - 3) // strides + 1, (wp - 3) // strides + 1
        out = nn.im2col(xp, 3, strides, oh, ow) @ self._mats[name]
        return out.reshape(n, oh, ow, -1)

    def _norm_silu_padded(self, name, x) -> np.ndarray:
        """``silu(group_norm(x))`` inside a zero border one pixel wide: the padded input of
        the 3 x 3 convolution that follows (written there directly, no extra copy).

        silu(y) = (y/2) (1 + tanh(y/2)): numpy's tanh is ~30% faster than exp here, and
        halving the normalisation's scale and shift gives y/2 in the same pass.
        """
        n, h, w, c = x.shape
        per = c // self.groups
        flat = x.reshape(n, h * w, c)
        ones = self._ones.get((h * w, per))
        if ones is None:
            ones = np.full((1, h * w), 1 / (h * w * per), np.float32)
        mean = np.repeat((ones @ flat).reshape(n, self.groups, per).sum(-1), per, axis=1)
        d = flat - mean[:, None, :]
        var = (ones @ (d * d)).reshape(n, self.groups, per).sum(-1)
        half = np.repeat(np.float32(0.5) / np.sqrt(var + np.float32(1e-3)), per, axis=1)
        d *= (half * self.weights[f"{name}/gamma"])[:, None, :]
        d += np.float32(0.5) * self.weights[f"{name}/beta"]
        t = np.tanh(d)
        t += 1
        xp = np.zeros((n, h + 2, w + 2, c), np.float32)
        np.multiply(t.reshape(n, h, w, c), d.reshape(n, h, w, c), out=xp[:, 1:-1, 1:-1])
        return xp

    def _block(self, name, x, shifts):
        h = self._conv(f"{name}_conv1", self._norm_silu_padded(f"{name}_norm1", x))
        h += shifts[:, None, None, self._shift_slices[name]]
        out = self._conv(f"{name}_conv2", self._norm_silu_padded(f"{name}_norm2", h))
        out += x
        out += self.weights[f"{name}_conv2/bias"]
        return out

    def __call__(self, x, t, classes) -> np.ndarray:
        """x : (n, 28, 28) or (n, 784) -> the same shape.

        BLAS runs on one thread, and the rows in parts of at most :attr:`CHUNK` digits
        (bounded memory for a scoreboard's 2,000-row guided batches), the parts side by side
        on one Python thread per core (numpy releases the GIL in its products and loops, so
        the normalisations and copies use both cores too, not only the products). A batch
        under :attr:`MIN_SPLIT` rows runs whole: a part's fixed cost would outweigh it.
        """
        shape = np.shape(x)
        x = np.asarray(x, np.float32).reshape(-1, 28, 28, 1)
        n = len(x)
        cond = self.condition(t, classes, n)
        workers = (self.WORKERS or _workers()) if n >= self.MIN_SPLIT else 1
        size = min(self.CHUNK, -(-n // workers)) if n else 1
        parts = [slice(i, i + size) for i in range(0, n, size)]
        with nn.single_threaded():
            if len(parts) > 1 and workers > 1:
                out = list(_pool(workers).map(lambda s: self._forward(x[s], cond[s]), parts))
            else:
                out = [self._forward(x[s], cond[s]) for s in parts]
        return (np.concatenate(out) if out else np.zeros_like(x)).reshape(shape)

    CHUNK = 128
    MIN_SPLIT = 8
    WORKERS = None  # threads for the parts; None: one per core this process may use

    def _forward(self, x, cond) -> np.ndarray:
        w, p = self.weights, self.patch
        x = space_to_depth(x, p)
        e = _silu(cond @ w["emb0/kernel"] + w["emb0/bias"])
        e = _silu(e @ w["emb1/kernel"] + w["emb1/bias"])
        shifts = e @ self._shift_kernel + self._shift_bias
        levels = len(self.channels)
        h = self._conv("stem", nn.pad2d(x, (1, 1), (1, 1)))
        h += w["stem/bias"]
        skips = []
        for i in range(levels):
            h = self._block(f"down{i}", h, shifts)
            if i < levels - 1:
                skips.append(h)
                # TensorFlow's "same" at stride 2 on an even size pads one pixel after only
                h = self._conv(f"downsample{i}", nn.pad2d(h, (0, 1), (0, 1)), strides=2)
                h += w[f"downsample{i}/bias"]
        h = self._block("mid", h, shifts)
        for i in reversed(range(levels - 1)):
            n, side, _, c = h.shape
            up = (h.reshape(-1, c) @ self._mats[f"project{i}"] + w[f"project{i}/bias"])
            # nearest upsampling and the skip in one pass: each coarse pixel meets its 2 x 2
            skip = skips[i]
            h = (skip.reshape(n, side, 2, side, 2, -1)
                 + up.reshape(n, side, 1, side, 1, -1)).reshape(skip.shape)
            h = self._block(f"up{i}", h, shifts)
        h = self._conv("out", self._norm_silu_padded("out_norm", h))
        h += w["out/bias"]
        return depth_to_space(h, p)


def _workers() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived pool per size, shared by every caller (a new pool per call would start
    threads 20 times for one 20-step sample)."""
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="genlab-unet")
        return _pools[workers]


class PixelSpace:
    """Where the pixel preset's flow runs: images scaled to [-1, 1] (``2 x - 1``)."""

    shape = (28, 28)

    def encode(self, images) -> np.ndarray:
        """Images (n, 28, 28) in [0, 1] -> (n, 28, 28) in [-1, 1]."""
        return (2 * np.asarray(images, np.float32).reshape(-1, 28, 28) - 1).astype(np.float32)

    def decode(self, x) -> np.ndarray:
        """States (n, 28, 28) or (n, 784) -> images (n, 28, 28) float32, clipped to [0, 1]."""
        x = np.asarray(x, np.float32).reshape(-1, 28, 28)
        return np.clip((x + 1) / 2, 0, 1).astype(np.float32)


def build(config: dict, weights: dict, dim: int):
    """The denoiser a checkpoint's ``config`` describes, over its ``net/``-stripped weights."""
    if config.get("kind") == "pixel":
        return UNetDenoiser(weights, config["channels"], config["emb"], config["groups"],
                            config.get("patch", 1))
    return MLPDenoiser(weights, dim, int(config["hidden"]), int(config["layers"]))
