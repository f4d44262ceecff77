"""Keras twins of the networks in :mod:`genlib.denoisers` (training only: imports Keras).

Same layers, same names (``"<layer>/kernel"``, ``"<layer>/gamma"``...), so the weights a trainer
saves are what the numpy denoisers read (tested to 1e-5).
"""

from __future__ import annotations

import numpy as np

from genlib import nn
from genlib.denoisers import N_CLASSES, N_FREQUENCIES, unet_blocks

__all__ = ["build_unet", "named_weights", "set_named_weights"]


def build_unet(channels, emb: int, groups: int, patch: int = 1, seed: int | None = None,
               name: str = "unet"):
    """A functional Keras model ``[x (n, 28, 28, 1), cond (n, 27)] -> (n, 28, 28, 1)``.

    With ``seed``, every kernel starts from its own seeded Glorot-uniform draw (a seeded run
    starts from the same weights); the last convolution starts at zero, so the untrained
    network predicts a velocity of zero everywhere.
    """
    k = nn.keras()
    L = k.layers
    c = [int(v) for v in channels]
    counter = iter(range(10_000))

    def init():
        return ({"kernel_initializer": k.initializers.GlorotUniform(seed=seed * 101 +
                                                                   next(counter))}
                if seed is not None else {})

    def conv(name, filters, size=3, strides=1, **kw):
        return L.Conv2D(filters, size, strides=strides, padding="same", name=name,
                        **{**init(), **kw})

    def norm_silu(name, x):
        return L.Activation("silu")(L.GroupNormalization(groups, epsilon=1e-3, name=name)(x))

    x_in = k.Input((28, 28, 1), name="x")
    cond = k.Input((2 * N_FREQUENCIES + N_CLASSES + 1,), name="cond")
    e = L.Dense(emb, activation="silu", name="emb0", **init())(cond)
    e = L.Dense(emb, activation="silu", name="emb1", **init())(e)

    def block(name, x, co):
        h = conv(f"{name}_conv1", co)(norm_silu(f"{name}_norm1", x))
        h = h + L.Reshape((1, 1, co))(L.Dense(co, name=f"{name}_emb", **init())(e))
        return x + conv(f"{name}_conv2", co)(norm_silu(f"{name}_norm2", h))

    blocks = {name: co for name, _, co in unet_blocks(c)}
    h = x_in
    if patch > 1:  # space to depth, as denoisers.space_to_depth
        s = 28 // patch
        h = L.Reshape((s, patch, s, patch, 1))(h)
        h = L.Permute((1, 3, 2, 4, 5))(h)
        h = L.Reshape((s, s, patch * patch))(h)
    h = conv("stem", c[0])(h)
    skips = []
    for i in range(len(c)):
        h = block(f"down{i}", h, blocks[f"down{i}"])
        if i < len(c) - 1:
            skips.append(h)
            h = conv(f"downsample{i}", c[i + 1], strides=2)(h)
    h = block("mid", h, blocks["mid"])
    for i in reversed(range(len(c) - 1)):
        h = conv(f"project{i}", c[i], size=1)(h)
        h = L.UpSampling2D(2, interpolation="nearest")(h) + skips[i]
        h = block(f"up{i}", h, blocks[f"up{i}"])
    out = L.Conv2D(patch * patch, 3, padding="same", name="out", kernel_initializer="zeros")(
        norm_silu("out_norm", h))
    if patch > 1:  # depth to space
        s = 28 // patch
        out = L.Reshape((s, s, patch, patch, 1))(out)
        out = L.Permute((1, 3, 2, 4, 5))(out)
        out = L.Reshape((28, 28, 1))(out)
    return k.Model([x_in, cond], out, name=name)


def named_weights(model, variables=None) -> dict:
    """``{"<layer>/<weight>": array}`` of a model's trainable weights (or of ``variables``,
    a list parallel to ``model.trainable_variables``, e.g. their EMA or Adam moments)."""
    names = variable_names(model)
    values = variables if variables is not None else model.trainable_variables
    return {n: np.asarray(v.numpy(), np.float32) for n, v in zip(names, values)}


def variable_names(model) -> list[str]:
    """Names of ``model.trainable_variables``, in order: ``"<layer>/<weight>"``."""
    by_id = {}
    for layer in model.layers:
        for v in layer.trainable_weights:
            by_id.setdefault(id(v), f"{layer.name}/{v.name}")
    return [by_id[id(v)] for v in model.trainable_variables]


def set_named_weights(variables, names: list[str], arrays: dict, prefix: str = "") -> None:
    """Assign ``arrays[prefix + name]`` to each variable (parallel lists); KeyError if missing."""
    for v, n in zip(variables, names):
        v.assign(arrays[prefix + n])
