"""Numpy forward passes over Keras-style layer weights (no TensorFlow needed).

A network is a list of layer specs (plain dicts, JSON-friendly) plus a dict of weight
arrays named ``"<layer name>/kernel"`` and ``"<layer name>/bias"``. The same specs build
the Keras model that trains (``genlib.vae``), so inference can run here in microseconds
and match Keras to float32 round-off.

Supported layer types (all channels-last, Keras' "same" padding):

- ``{"type": "dense", "name", "units", "activation"}``
- ``{"type": "conv", "name", "filters", "kernel", "strides", "activation"}``
- ``{"type": "conv_transpose", "name", "filters", "kernel", "strides", "activation"}``
- ``{"type": "flatten"}`` and ``{"type": "reshape", "shape": [h, w, c]}``
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["forward", "single_threaded", "dense", "conv2d", "conv2d_transpose", "ACTIVATIONS",
           "sigmoid", "softplus"]


_controller = []


@contextmanager
def single_threaded(active: bool = True):
    """Run BLAS on one thread inside the block (when ``active``).

    The matrices of one slider move are small: OpenBLAS' worker threads cost more than
    they save, and on a busy machine waking them makes a 0.5 ms decode take 20-30 ms.
    """
    if not active:
        yield
        return
    try:
        if not _controller:
            from threadpoolctl import ThreadpoolController  # ships with scikit-learn

            _controller.append(ThreadpoolController())
        limit = _controller[0].limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or unable to see the BLAS: run as is
        yield
        return
    with limit:
        yield


def sigmoid(x):
    """Logistic function without overflow warnings for large |x|."""
    x = np.asarray(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softplus(x):
    """log(1 + exp(x)), stable for large |x|."""
    return np.logaddexp(0, x).astype(np.asarray(x).dtype, copy=False)


ACTIVATIONS = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, dtype=x.dtype),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    # the GAN's LeakyReLU slope (genlib.gan.LEAK); Keras' own default is 0.3
    "leaky_relu": lambda x: np.where(x >= 0, x, np.float32(0.2) * x),
}


def dense(x, kernel, bias):
    """x (n, d_in) @ kernel (d_in, d_out) + bias."""
    return x @ kernel + bias


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "same" padding: (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def conv2d(x, kernel, bias, strides: int = 1):
    """2-D convolution, "same" padding, as Keras' Conv2D.

    x : (n, h, w, c_in); kernel : (k, k, c_in, c_out) -> (n, ceil(h/s), ceil(w/s), c_out)
    """
    n, h, w, c = x.shape
    k = kernel.shape[0]
    oh, ph0, ph1 = _same_pad(h, k, strides)
    ow, pw0, pw1 = _same_pad(w, k, strides)
    xp = np.pad(x, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)))
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::strides, ::strides][:, :oh, :ow]
    # win: (n, oh, ow, c, k, k) -> im2col rows (n*oh*ow, k*k*c) in the kernel's (k, k, c) order
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, k * k * c)
    out = cols @ kernel.reshape(k * k * c, -1) + bias
    return out.reshape(n, oh, ow, -1)


def conv2d_transpose(x, kernel, bias, strides: int = 1):
    """Transposed convolution, "same" padding, as Keras' Conv2DTranspose.

    x : (n, h, w, c_in); kernel : (k, k, c_out, c_in) -> (n, h*s, w*s, c_out).
    Each input pixel scatters ``kernel @ x`` into a k x k patch of the output, patches
    ``s`` apart: one matrix product, then k*k strided adds (no Python loop over pixels).
    """
    n, h, w, c = x.shape
    k, _, f, _ = kernel.shape
    s = strides
    # the forward conv this transposes maps (h*s) -> h with "same" padding
    _, pad_before, _ = _same_pad(h * s, k, s)
    t = (x.reshape(-1, c) @ kernel.reshape(k * k * f, c).T).reshape(n, h, w, k, k, f)
    full = np.zeros((n, (h - 1) * s + k, (w - 1) * s + k, f), dtype=t.dtype)
    for i in range(k):
        for j in range(k):
            full[:, i:i + (h - 1) * s + 1:s, j:j + (w - 1) * s + 1:s] += t[:, :, :, i, j]
    out = full[:, pad_before:pad_before + h * s, pad_before:pad_before + w * s]
    return out + bias


def forward(spec: list[dict], weights: dict, x) -> np.ndarray:
    """Run ``x`` through the layers described by ``spec`` with ``weights`` (float32)."""
    x = np.asarray(x, dtype=np.float32)
    for layer in spec:
        kind = layer["type"]
        if kind == "flatten":
            x = x.reshape(len(x), -1)
            continue
        if kind == "reshape":
            x = x.reshape(len(x), *layer["shape"])
            continue
        kernel = weights[layer["name"] + "/kernel"]
        bias = weights[layer["name"] + "/bias"]
        if kind == "dense":
            x = dense(x, kernel, bias)
        elif kind == "conv":
            x = conv2d(x, kernel, bias, layer.get("strides", 1))
        elif kind == "conv_transpose":
            x = conv2d_transpose(x, kernel, bias, layer.get("strides", 1))
        else:
            raise ValueError(f"unknown layer type {kind!r}")
        x = ACTIVATIONS[layer.get("activation")](x)
    return x
