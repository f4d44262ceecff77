"""Numpy forward passes over Keras-style layer weights (no TensorFlow needed).

A network is a list of layer specs (plain dicts, JSON-friendly) plus a dict of weight
arrays named ``"<layer name>/kernel"`` and ``"<layer name>/bias"``. The same specs build
the Keras model that trains (``genlib.vae``), so inference can run here in microseconds
and match Keras to float32 round-off.

Supported layer types (all channels-last; convolutions use Keras' "same" padding unless
a spec says ``"padding": "valid"``):

- ``{"type": "dense", "name", "units", "activation"}``
- ``{"type": "conv", "name", "filters", "kernel", "strides", "padding", "activation"}``
- ``{"type": "conv_transpose", "name", "filters", "kernel", "strides", "activation"}``
- ``{"type": "maxpool", "pool"}``: max over ``pool x pool`` tiles (Keras' MaxPooling2D)
- ``{"type": "dropout", "rate"}``: training only; the identity at inference
- ``{"type": "flatten"}`` and ``{"type": "reshape", "shape": [h, w, c]}``
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

__all__ = ["forward", "single_threaded", "dense", "conv2d", "pad2d", "im2col", "conv2d_transpose",
           "maxpool2d", "ACTIVATIONS", "sigmoid", "softplus", "LEAK", "build_keras", "keras_layers",
           "keras_weights", "set_keras_weights", "keras"]

LEAK = 0.2  # every LeakyReLU in GenLab (Keras' own default is 0.3)


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
            # A controller knows only the BLAS libraries loaded when it is made, and scipy
            # brings its own OpenBLAS (numpy has another): load scipy's first, or it is never
            # limited (a Cholesky in genlib.gaussian then ran threaded).
            try:
                import scipy.linalg.blas  # noqa: F401
            except ImportError:  # pragma: no cover
                pass
            from threadpoolctl import ThreadpoolController  # ships with scikit-learn

            _controller.append(ThreadpoolController())
        limit = _controller[0].limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or unable to see the BLAS: run as is
        yield
        return
    with limit:
        yield


def sigmoid(x):
    """Logistic function without overflow warnings for large |x|.

    ``exp(-|x|)`` never overflows; one division then serves both signs. Same values as the
    textbook two-branch form, ~4x faster than masking (a decoded 11 x 11 grid: 4 -> 1 ms).
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.divide(np.where(x >= 0, 1, e), e + 1, dtype=e.dtype)


def softplus(x):
    """log(1 + exp(x)), stable for large |x|."""
    return np.logaddexp(0, x).astype(np.asarray(x).dtype, copy=False)


ACTIVATIONS = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, dtype=x.dtype),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "leaky_relu": lambda x: np.where(x >= 0, x, np.float32(LEAK) * x),
}


def dense(x, kernel, bias):
    """x (n, d_in) @ kernel (d_in, d_out) + bias."""
    return x @ kernel + bias


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "same" padding: (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _valid_size(size: int, kernel: int, stride: int) -> int:
    """Output size of a "valid" (unpadded) window: every window lies inside the input."""
    return (size - kernel) // stride + 1


def conv2d(x, kernel, bias, strides: int = 1, padding: str = "same"):
    """2-D convolution (Keras' cross-correlation), as Keras' Conv2D.

    x : (n, h, w, c_in); kernel : (k, k, c_in, c_out) -> (n, oh, ow, c_out), where
    ``oh = ceil(h / s)`` for ``padding="same"`` and ``(h - k) // s + 1`` for ``"valid"``.
    ``bias=None`` adds nothing (a caller that pools first adds it to 4x fewer values).
    """
    n, h, w, c = x.shape
    k = kernel.shape[0]
    if padding == "same":
        oh, ph0, ph1 = _same_pad(h, k, strides)
        ow, pw0, pw1 = _same_pad(w, k, strides)
        xp = pad2d(x, (ph0, ph1), (pw0, pw1))
    elif padding == "valid":
        oh, ow = _valid_size(h, k, strides), _valid_size(w, k, strides)
        if oh < 1 or ow < 1:
            raise ValueError(f"a {k} x {k} 'valid' convolution needs inputs of at least "
                             f"{k} x {k}, got {h} x {w}")
        xp = x
    else:
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    out = im2col(xp, k, strides, oh, ow) @ kernel.reshape(k * k * c, -1)
    if bias is not None:
        if np.result_type(out, bias) == out.dtype:
            out += bias  # in place: one pass less over the largest array
        else:
            out = out + bias
    return out.reshape(n, oh, ow, -1)


def pad2d(x, rows: tuple[int, int], cols: tuple[int, int]):
    """Zero padding of (n, h, w, c) along h and w: ``np.pad`` without its Python overhead
    (~2x faster on the U-Net's 32 x 14 x 14 x 32 activations)."""
    n, h, w, c = x.shape
    xp = np.zeros((n, h + rows[0] + rows[1], w + cols[0] + cols[1], c), x.dtype)
    xp[:, rows[0]:rows[0] + h, cols[0]:cols[0] + w] = x
    return xp


def im2col(xp, k: int, strides: int, oh: int, ow: int):
    """The rows of a convolution's matrix product: (n, H, W, c) -> (n*oh*ow, k*k*c), each
    row one output pixel's k x k window in the kernel's (row, column, channel) order.

    ``xp`` is the already padded input. Channels last, the k columns x c channels of one
    window row are contiguous in ``xp``, so a strided view of (n, oh, ow, k, k*c) and one
    copy give the rows (~10% faster than a transposed ``sliding_window_view`` copying runs
    of c values).
    """
    n, hp, wp, c = xp.shape
    if (oh - 1) * strides + k > hp or (ow - 1) * strides + k > wp:
        raise ValueError(f"{oh} x {ow} windows of {k} x {k} at stride {strides} do not fit "
                         f"a {hp} x {wp} input")
    xp = np.ascontiguousarray(xp)
    # strides from the shape: numpy may give a length-1 axis any stride (x[..., None]: 0)
    s3 = xp.itemsize
    s2, s1 = c * s3, wp * c * s3
    win = as_strided(xp, (n, oh, ow, k, k * c), (hp * s1, s1 * strides, s2 * strides, s1, s3),
                     writeable=False)
    return win.reshape(n * oh * ow, k * k * c)


def maxpool2d(x, pool: int = 2):
    """Max over non-overlapping ``pool x pool`` tiles, as Keras' MaxPooling2D(pool) with its
    defaults (strides = pool, "valid" padding: a last partial row or column is dropped).

    x : (n, h, w, c) -> (n, h // pool, w // pool, c)
    """
    n, h, w, c = x.shape
    oh, ow = h // pool, w // pool
    if oh < 1 or ow < 1:
        raise ValueError(f"a {pool} x {pool} max pool needs inputs of at least {pool} x {pool}, "
                         f"got {h} x {w}")
    return x[:, :oh * pool, :ow * pool].reshape(n, oh, pool, ow, pool, c).max(axis=(2, 4))


def conv2d_transpose(x, kernel, bias, strides: int = 1):
    """Transposed convolution, "same" padding, as Keras' Conv2DTranspose.

    x : (n, h, w, c_in); kernel : (k, k, c_out, c_in) -> (n, h*s, w*s, c_out).
    Picks the cheaper of two exact methods by the size of their intermediate array:
    :func:`_conv_t_phases` when the layer has many output channels, :func:`_conv_t_scatter`
    when it has few (e.g. a decoder's last layer with one channel).
    """
    k, f, c, s = kernel.shape[0], kernel.shape[2], x.shape[3], strides
    taps = -(-k // s)
    if taps * taps * c < k * k * f:
        return _conv_t_phases(x, kernel, bias, s)
    return _conv_t_scatter(x, kernel, bias, s)


def _conv_t_scatter(x, kernel, bias, s: int):
    """Each input pixel scatters ``kernel @ x`` into a k x k patch of the output, patches
    ``s`` apart: one matrix product, then k*k strided adds (no Python loop over pixels).
    Its intermediate array has n*h*w*k*k*c_out values."""
    n, h, w, c = x.shape
    k, _, f, _ = kernel.shape
    # the forward conv this transposes maps (h*s) -> h with "same" padding
    _, pad_before, _ = _same_pad(h * s, k, s)
    t = (x.reshape(-1, c) @ kernel.reshape(k * k * f, c).T).reshape(n, h, w, k, k, f)
    # (at least h*s: with a kernel smaller than the stride, some outputs only get the bias)
    full = np.zeros((n, max((h - 1) * s + k, h * s), max((w - 1) * s + k, w * s), f), t.dtype)
    for i in range(k):
        for j in range(k):
            full[:, i:i + (h - 1) * s + 1:s, j:j + (w - 1) * s + 1:s] += t[:, :, :, i, j]
    out = full[:, pad_before:pad_before + h * s, pad_before:pad_before + w * s]
    return out + bias


def _conv_t_phases(x, kernel, bias, s: int):
    """The same result as an ordinary convolution per output phase (sub-pixel form).

    Output pixel ``q = s*b + r`` only receives kernel taps ``r, r + s, ...`` from inputs
    ``b, b - 1, ...``: every phase (r_y, r_x) sees the same T x T window of the input
    (T = ceil(k / s)) with its own slice of the kernel. So one im2col of T x T windows and
    one matrix product give all s*s phases, which interleave into the output. Its
    intermediate array has n*h*w*T*T*c_in values, and there are no strided adds: on the
    VAE decoder's 32 -> 32 channel layer this is ~3x faster than scattering.
    """
    n, h, w, c = x.shape
    k, _, f, _ = kernel.shape
    taps = -(-k // s)
    _, pad_before, _ = _same_pad(h * s, k, s)
    kp = np.zeros((taps * s, taps * s, f, c), kernel.dtype)
    kp[:k, :k] = kernel  # taps past k are zero
    # tap r + m*s meets the input at window position taps-1-m (the window ends at b)
    kk = kp.reshape(taps, s, taps, s, f, c)[::-1, :, ::-1]  # (wy, ry, wx, rx, f, c)
    wmat = kk.transpose(0, 2, 5, 1, 3, 4).reshape(taps * taps * c, s * s * f)
    p = taps - 1
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
    bh, bw = h + p, w + p  # window positions = output pixels / s, rounded up
    win = sliding_window_view(xp, (taps, taps), axis=(1, 2))  # (n, bh, bw, c, T, T)
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * bh * bw, taps * taps * c)
    phases = (cols @ wmat).reshape(n, bh, bw, s, s, f)
    phases += bias
    # interleave the phases straight into the cropped output: one pass over the result
    out = np.empty((n, h * s, w * s, f), phases.dtype)
    for ry in range(s):
        y0 = (ry - pad_before) % s  # the first output row in phase ry (full row y0 + pad) ...
        by = (y0 + pad_before) // s  # ... comes from window row by
        ny = len(range(y0, h * s, s))
        for rx in range(s):
            x0 = (rx - pad_before) % s
            bx = (x0 + pad_before) // s
            nx = len(range(x0, w * s, s))
            out[:, y0::s, x0::s] = phases[:, by:by + ny, bx:bx + nx, ry, rx]
    return out


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
        if kind == "maxpool":
            x = maxpool2d(x, layer.get("pool", 2))
            continue
        if kind == "dropout":  # only active while training
            continue
        kernel = weights[layer["name"] + "/kernel"]
        bias = weights[layer["name"] + "/bias"]
        if kind == "dense":
            x = dense(x, kernel, bias)
        elif kind == "conv":
            x = conv2d(x, kernel, bias, layer.get("strides", 1), layer.get("padding", "same"))
        elif kind == "conv_transpose":
            x = conv2d_transpose(x, kernel, bias, layer.get("strides", 1))
        else:
            raise ValueError(f"unknown layer type {kind!r}")
        x = ACTIVATIONS[layer.get("activation")](x)
    return x


# ------------------------------------------------------------------------ Keras (training only)


# TensorFlow 2.21 prints these through absl before its logging is set up, whatever
# TF_CPP_MIN_LOG_LEVEL says. oneDNN itself stays on: it trains the DCGAN twice as fast here.
_IMPORT_CHATTER = (b"WARNING: All log messages before absl::InitializeLog() is called",
                   b"oneDNN custom operations are on.")


@contextmanager
def _without_import_chatter():
    """Drop TensorFlow's start-up lines from the process's stderr while the block runs.

    File descriptor 2 goes through a pipe; a thread passes every other line on unchanged
    (a real error printed meanwhile, by any thread, still reaches the terminal).
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. embedded): nothing to filter
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pass_on():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not any(chatter in line for chatter in _IMPORT_CHATTER):
                    os.write(saved, line)

    thread = threading.Thread(target=pass_on, name="genlab-tf-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to the end
        thread.join(timeout=5)
        os.close(saved)


_keras_lock = threading.Lock()
_keras_done: list = []  # Keras once an import of it has finished


def keras():
    """Import Keras on the TensorFlow backend, quietly (only training code calls this).

    Thread-safe: a call while another thread imports waits for that import to finish.
    (Returning ``sys.modules["keras"]`` as soon as it was there handed out a half-imported
    module: ``partially initialized module 'keras' has no attribute 'Sequential'``, and a
    GAN Play during ui.warmup's import trained on numpy for good.)
    """
    if _keras_done:
        return _keras_done[0]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _keras_lock:
        if not _keras_done:
            with _without_import_chatter():
                import keras as _keras  # waits if another thread is importing it otherwise

            _keras_done.append(_keras)
    return _keras_done[0]


def keras_layers(spec: list[dict], seed: int | None = None) -> list:
    """Keras layers for ``spec``: the same names, so their weights map onto :func:`forward`'s.

    With ``seed``, layer ``i``'s kernel starts from ``GlorotUniform(seed * 101 + i)``:
    a seeded training run starts from the same weights every time.
    """
    k = keras()
    L = k.layers
    out = []
    for i, layer in enumerate(spec):
        kind, name = layer["type"], layer.get("name")
        init = ({"kernel_initializer": k.initializers.GlorotUniform(seed=seed * 101 + i)}
                if seed is not None else {})
        if kind == "flatten":
            out.append(L.Flatten())
            continue
        if kind == "reshape":
            out.append(L.Reshape(tuple(layer["shape"])))
            continue
        if kind == "maxpool":
            out.append(L.MaxPooling2D(layer.get("pool", 2)))
            continue
        if kind == "dropout":
            out.append(L.Dropout(layer["rate"]))
            continue
        if kind == "dense":
            out.append(L.Dense(layer["units"], name=name, **init))
        elif kind == "conv":
            out.append(L.Conv2D(layer["filters"], layer["kernel"], strides=layer.get("strides", 1),
                                padding=layer.get("padding", "same"), name=name, **init))
        elif kind == "conv_transpose":
            out.append(L.Conv2DTranspose(layer["filters"], layer["kernel"],
                                         strides=layer.get("strides", 1), padding="same",
                                         name=name, **init))
        else:
            raise ValueError(f"unknown layer type {kind!r}")
        act = layer.get("activation")
        if act == "leaky_relu":
            out.append(L.LeakyReLU(negative_slope=LEAK))
        elif act not in (None, "linear"):
            out.append(L.Activation(act))
    return out


def build_keras(spec: list[dict], input_shape: tuple, name: str, seed: int | None = None):
    """A ``keras.Sequential`` for ``spec`` taking inputs of ``input_shape`` (batch excluded)."""
    k = keras()
    return k.Sequential([k.Input(tuple(input_shape)), *keras_layers(spec, seed)], name=name)


_NO_WEIGHTS = ("flatten", "reshape", "maxpool", "dropout")


def keras_weights(model, spec: list[dict]) -> dict:
    """A Keras model's weights as the ``"<layer>/kernel"``, ``"<layer>/bias"`` dict of forward."""
    out = {}
    for layer in spec:
        if layer["type"] in _NO_WEIGHTS:
            continue
        kernel, bias = model.get_layer(layer["name"]).get_weights()
        out[layer["name"] + "/kernel"] = np.asarray(kernel, np.float32)
        out[layer["name"] + "/bias"] = np.asarray(bias, np.float32)
    return out


def set_keras_weights(model, spec: list[dict], weights: dict) -> None:
    """Load a ``"<layer>/kernel"``, ``"<layer>/bias"`` dict into a model built from ``spec``."""
    for layer in spec:
        if layer["type"] in _NO_WEIGHTS:
            continue
        name = layer["name"]
        model.get_layer(name).set_weights([weights[name + "/kernel"], weights[name + "/bias"]])
